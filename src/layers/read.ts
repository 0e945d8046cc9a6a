import { createHash } from 'node:crypto';
import { Readable, type Duplex } from 'node:stream';
import { createGunzip } from './gzip.js';
import { OcibuildError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { applyPax, BLOCK, decodeRawHeader, entryTypeOf, isZeroBlock, parsePax, TypeFlag, type RawHeader, type TarHeader } from './tar-format.js';
import { decodeFsName } from '../fs-names.js';
import { validateLayerEntry } from './names.js';
import type { LayerEntry } from './types.js';
import { createZstdDecompress, isZstd } from './zstd.js';

/** Largest pax or GNU long-name record we accept (as Go's archive/tar). */
const MAX_SPECIAL = 1024 * 1024;

/**
 * The bytes of one entry, iterable once. Unread bytes are skipped when the
 * next entry is asked for; `resume()` says so explicitly (a no-op kept for
 * callers used to Readable bodies).
 */
export interface EntryBody extends AsyncIterable<Buffer> {
  resume(): void;
}

/** One entry of a tar stream. Consume `body` (or not) before asking for the next entry. */
export interface TarEntry {
  header: TarHeader;
  /** The entry's bytes (empty for everything but files). */
  body: EntryBody;
}

/** Options of {@link readLayer}. */
export interface ReadLayerOptions {
  /** Called once at the end with the SHA-256 and length of the uncompressed tar. */
  onEnd?: (info: { diffId: Digest; size: number }) => void;
  signal?: AbortSignal;
}

type Source = Readable | AsyncIterable<Uint8Array | string>;

/** Pulls exact byte counts out of an async chunk source, hashing everything it pulls. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  private done = false;
  private readonly hash = createHash('sha256');
  size = 0;

  constructor(private readonly it: AsyncIterator<Uint8Array | string>) {}

  private async pull(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.off < this.buf.length) this.buf = Buffer.concat([this.buf.subarray(this.off), chunk]);
    else this.buf = chunk;
    this.off = 0;
    return true;
  }

  get available(): number {
    return this.buf.length - this.off;
  }

  /** Exactly `n` bytes, or null at a clean end of stream; throws on a short read. */
  async exact(n: number, what: string): Promise<Buffer | null> {
    while (this.available < n) {
      if (!(await this.pull())) {
        if (this.available === 0) return null;
        throw new OcibuildError('LAYER_INVALID', `unexpected end of tar stream in ${what}`);
      }
    }
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }

  /** Up to `max` (> 0) bytes as they are available; throws at end of stream. */
  async some(max: number, what: string): Promise<Buffer> {
    if (this.available === 0 && !(await this.pull())) throw new OcibuildError('LAYER_INVALID', `unexpected end of tar stream in ${what}`);
    const n = Math.min(max, this.available);
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }

  async skip(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.some(left, what)).length;
  }

  /** Read to the end of the source (trailing padding counts in the diffId). */
  async drain(): Promise<void> {
    this.off = this.buf.length;
    while (await this.pull()) this.off = this.buf.length;
  }

  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}` as Digest;
  }
}

async function* prepend(first: Buffer, it: AsyncIterator<Uint8Array | string>): AsyncGenerator<Uint8Array | string> {
  let finished = false;
  try {
    yield first;
    for (;;) {
      const r = await it.next();
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // Stopped early (error or caller gave up): release the source (a Readable is destroyed).
    if (!finished) await it.return?.();
  }
}

/** Runs the prepended source through a decompressing stream; its failures become LAYER_INVALID (ours pass as they are). */
function through(rest: AsyncGenerator<Uint8Array | string>, decompress: Duplex, name: string): AsyncIterator<Uint8Array | string> {
  const input = Readable.from(rest);
  input.on('error', (e) => decompress.destroy(e));
  input.pipe(decompress);
  const out = decompress[Symbol.asyncIterator]();
  return {
    next: async () => {
      try {
        return await out.next();
      } catch (e) {
        if (e instanceof OcibuildError) throw e;
        throw new OcibuildError('LAYER_INVALID', `layer is not valid ${name}: ${(e as Error).message}`, { cause: e });
      }
    },
    return: async () => {
      input.destroy();
      decompress.destroy();
      return { done: true, value: undefined };
    },
  };
}

/** Detects gzip and zstd (and refuses other compressions) from the first bytes; returns the tar byte source. */
async function decompressed(source: Source): Promise<AsyncIterator<Uint8Array | string>> {
  const it = (source as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < 6) {
    const r = await it.next();
    if (r.done) break;
    head = Buffer.concat([head, typeof r.value === 'string' ? Buffer.from(r.value) : r.value]);
  }
  const rest = prepend(head, it);
  if (head[0] === 0x1f && head[1] === 0x8b) return through(rest, createGunzip(), 'gzip');
  if (isZstd(head)) return through(rest, createZstdDecompress(), 'zstd');
  const magic: [string, number[]][] = [
    ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
    ['bzip2', [0x42, 0x5a, 0x68]],
  ];
  for (const [name, bytes] of magic) {
    if (bytes.every((b, i) => head[i] === b)) throw new OcibuildError('UNSUPPORTED', `${name}-compressed layers are not supported (gzip, zstd or plain tar only)`);
  }
  return rest[Symbol.asyncIterator]();
}

function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return decodeFsName(b.subarray(0, z < 0 ? b.length : z));
}

/**
 * Read a layer (plain tar, gzip or zstd, detected from the first bytes) entry by
 * entry. pax (local and global), GNU long names/links and base-256 numbers
 * are understood; names are given as stored, minus a trailing '/'. Each
 * entry's body must be consumed, or is skipped, before the next one comes.
 * The stream is read to its end so that `onEnd` reports the diffId of all of it.
 * Every entry is validated before it is given (see `validateLayerEntry`): an
 * absolute name, a '..' component, a hardlink out of the tree or a whiteout of
 * `.`, `..` or an empty name ends the read with LAYER_ESCAPE.
 *
 * @throws OcibuildError LAYER_INVALID for corrupt or truncated input, LAYER_ESCAPE for names leaving the tree, UNSUPPORTED for xz/bzip2
 *   and sparse files (and for zstd when the `zstd` program is missing).
 */
export async function* readLayer(source: Source, options: ReadLayerOptions = {}): AsyncGenerator<TarEntry> {
  const src = await decompressed(source);
  const r = new ByteReader(src);
  let global = new Map<string, Buffer>();
  let local: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const block = await r.exact(BLOCK, 'a header');
      if (!block) break; // EOF without end-of-archive blocks: accepted, as GNU tar and Go do
      if (isZeroBlock(block, 0)) {
        const second = await r.exact(BLOCK, 'the end-of-archive marker');
        if (second && !isZeroBlock(second, 0)) throw new OcibuildError('LAYER_INVALID', 'tar stream has a lone zero block followed by data');
        break;
      }
      const raw: RawHeader = decodeRawHeader(block, 0);
      const padded = Math.ceil(raw.size / BLOCK) * BLOCK;
      const special = raw.typeflag === TypeFlag.paxLocal || raw.typeflag === TypeFlag.paxGlobal || raw.typeflag === TypeFlag.gnuLongName || raw.typeflag === TypeFlag.gnuLongLink;
      if (special) {
        if (raw.size > MAX_SPECIAL) throw new OcibuildError('LAYER_INVALID', `tar extended header of ${raw.size} bytes is too large`);
        const body = await r.exact(padded, 'an extended header');
        if (body === null) throw new OcibuildError('LAYER_INVALID', 'unexpected end of tar stream in an extended header');
        const data = Buffer.from(body.subarray(0, raw.size));
        if (raw.typeflag === TypeFlag.paxLocal) local = new Map([...(local ?? []), ...parsePax(data)]);
        else if (raw.typeflag === TypeFlag.paxGlobal) global = new Map([...global, ...parsePax(data)]);
        else if (raw.typeflag === TypeFlag.gnuLongName) longName = cString(data);
        else longLink = cString(data);
        continue;
      }
      if (raw.typeflag === 0x53 /* 'S' GNU sparse */) throw new OcibuildError('UNSUPPORTED', `tar entry ${JSON.stringify(raw.name)}: sparse files are not supported`);
      if (longName !== undefined) raw.name = longName;
      if (longLink !== undefined) raw.linkname = longLink;
      const xattrs: Record<string, Buffer> = {};
      applyPax(raw, global, xattrs);
      if (local) applyPax(raw, local, xattrs);
      local = undefined;
      longName = undefined;
      longLink = undefined;
      const type = entryTypeOf(raw.typeflag, raw.name);
      const size = raw.size; // links and directories normally have none; any body is skipped
      const fullPadded = Math.ceil(size / BLOCK) * BLOCK;
      if (type === null) {
        // Unknown entry kinds (GNU volume labels, Solaris ACLs, ...): skip with their body.
        await r.skip(fullPadded, `entry ${JSON.stringify(raw.name)}`);
        continue;
      }
      let name = raw.name;
      while (name.length > 1 && name.endsWith('/')) name = name.slice(0, -1);
      const header: TarHeader = {
        path: name,
        type,
        mode: raw.mode & 0o7777,
        uid: raw.uid,
        gid: raw.gid,
        size: type === 'file' ? size : 0,
        mtime: raw.mtime,
        linkname: raw.linkname,
        uname: raw.uname,
        gname: raw.gname,
        devmajor: raw.devmajor,
        devminor: raw.devminor,
        xattrs,
      };
      validateLayerEntry(header);
      const bodyLen = type === 'file' ? size : 0;
      let left = bodyLen;
      const what = `entry ${JSON.stringify(name)}`;
      const body: EntryBody = {
        resume: () => undefined,
        [Symbol.asyncIterator]: async function* () {
          while (left > 0) {
            const chunk = await r.some(left, what);
            left -= chunk.length;
            yield chunk;
          }
        },
      };
      yield { header, body };
      await r.skip(left + (fullPadded - bodyLen), what);
    }
    await r.drain();
    options.onEnd?.({ diffId: r.digest(), size: r.size });
  } finally {
    await src.return?.();
  }
}

/** A listed layer entry: the writer's entry shape plus the names stored in the tar. */
export interface ListedEntry extends Omit<LayerEntry, 'source'> {
  uname: string;
  gname: string;
}

/** Turn a tar name into a layer path: no leading './' or '/', no trailing '/'. The root is '.'. */
export function normalizeTarName(name: string): string {
  let p = name;
  while (p.startsWith('./')) p = p.slice(2);
  while (p.startsWith('/')) p = p.slice(1);
  while (p.endsWith('/')) p = p.slice(0, -1);
  return p === '' ? '.' : p;
}

/**
 * List a layer's entries (gzip, zstd or plain). Whiteouts come back as the writer
 * takes them: `a/.wh.b` as `{ path: 'a/b', type: 'whiteout' }` and
 * `a/.wh..wh..opq` as `{ path: 'a', type: 'opaque' }`. Bodies are skipped,
 * so memory stays flat whatever the layer size.
 */
export async function listLayer(source: Source, options: ReadLayerOptions = {}): Promise<ListedEntry[]> {
  const out: ListedEntry[] = [];
  for await (const { header: h } of readLayer(source, options)) {
    let path = normalizeTarName(h.path);
    let type: LayerEntry['type'] = h.type;
    const slash = path.lastIndexOf('/');
    const base = path.slice(slash + 1);
    const dir = slash >= 0 ? path.slice(0, slash) : '';
    if (h.type === 'file' && base === '.wh..wh..opq') {
      type = 'opaque';
      path = dir === '' ? '.' : dir;
    } else if (h.type === 'file' && base.startsWith('.wh.') && !base.startsWith('.wh..wh.')) {
      type = 'whiteout';
      path = dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`;
    }
    const e: ListedEntry = { path, type, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime, uname: h.uname, gname: h.gname };
    if (type === 'file') e.size = h.size;
    if (h.type === 'symlink' || h.type === 'hardlink') e.linkname = h.type === 'hardlink' ? normalizeTarName(h.linkname) : h.linkname;
    if (h.type === 'char' || h.type === 'block') {
      e.devmajor = h.devmajor;
      e.devminor = h.devminor;
    }
    if (Object.keys(h.xattrs).length > 0) e.xattrs = h.xattrs;
    out.push(e);
  }
  return out;
}
