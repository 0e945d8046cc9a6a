import { createHash, type Hash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { OcibuildError } from '../errors.js';
import { Sha256Slots, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { GZIP_DEFAULT_LEVEL } from '../oci/compression.js';
import { BLOCK, encodeHeader, TypeFlag } from './tar-format.js';
import { defaultGzipInFlight, GZIP_BLOCK_SIZE, ParallelGzip } from './gzip.js';
import { FileReads, ReadAhead, readSyncChecked, type ReadResult } from './read-ahead.js';
import type { FileDigests, LayerEntry, LayerEntryList, LayerEntrySource, LayerResult, WriteLayerOptions } from './types.js';
import { compareFsNames } from '../fs-names.js';

/** Block size of the plain-tar output. */
const CHUNK = 1024 * 1024;
const ZEROS = Buffer.alloc(2 * BLOCK);

/** An entry after validation, whiteout naming, mtime clamping and hardlink election. */
interface Prepared {
  /** Path as given. */
  path: string;
  /** Name written to the tar (the sort key is its bytes, see compareFsNames). */
  name: string;
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs?: Record<string, Uint8Array>;
  source?: LayerEntrySource;
  /** Original entry type (for messages and hardlink election). */
  type: LayerEntry['type'];
}

function invalid(path: string, why: string): OcibuildError {
  return new OcibuildError('LAYER_INVALID', `layer entry ${JSON.stringify(path)}: ${why}`, { details: { path } });
}

/** Checks a layer path: relative, '/'-separated, no empty, '.' or '..' components, no NUL. */
function checkPath(path: unknown, what: string, owner: string): string {
  if (typeof path !== 'string' || path.length === 0) throw invalid(String(owner), `${what} must be a non-empty string`);
  if (path.startsWith('/')) throw invalid(owner, `${what} must be relative (no leading '/')`);
  if (path.includes('\0')) throw invalid(owner, `${what} contains a NUL byte`);
  for (const part of path.split('/')) {
    if (part === '' || part === '.' || part === '..') {
      throw invalid(owner, `${what} must not contain empty, '.' or '..' components (and no trailing '/')`);
    }
  }
  return path;
}

function checkUint(value: unknown, what: string, owner: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw invalid(owner, `${what} must be an integer from 0 to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * An entry's header fields, checked (`check`) or, for an entry checked before, made again
 * without the checks (the writer keeps no prepared form of a plain file, see {@link Collected}).
 */
function prepare(e: LayerEntry, sourceDateEpoch: number | undefined, check = true): Prepared {
  const path = check ? checkPath(e.path, 'path', String(e.path)) : e.path;
  const mode = check ? checkUint(e.mode, 'mode', path, 0o7777) : e.mode;
  const uid = check ? checkUint(e.uid, 'uid', path) : e.uid;
  const gid = check ? checkUint(e.gid, 'gid', path) : e.gid;
  let mtime = 0;
  if (e.mtime !== undefined) {
    if (check && (typeof e.mtime !== 'number' || !Number.isFinite(e.mtime))) throw invalid(path, `mtime must be a finite number, got ${String(e.mtime)}`);
    mtime = Math.floor(e.mtime);
  } else if (sourceDateEpoch !== undefined) {
    mtime = sourceDateEpoch;
  }
  if (sourceDateEpoch !== undefined && mtime > sourceDateEpoch) mtime = sourceDateEpoch;
  const p: Prepared = {
    path,
    name: path,
    typeflag: TypeFlag.file,
    mode,
    uid,
    gid,
    mtime,
    size: 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    type: e.type,
  };
  if (e.xattrs !== undefined) {
    if (check) {
      for (const [k, v] of Object.entries(e.xattrs)) {
        if (k === '' || k.includes('\0') || k.includes('=')) throw invalid(path, `invalid xattr name ${JSON.stringify(k)}`);
        if (!(v instanceof Uint8Array)) throw invalid(path, `xattr ${k} must be a Uint8Array`);
      }
    }
    if (Object.keys(e.xattrs).length > 0) p.xattrs = e.xattrs;
  }
  const slash = path.lastIndexOf('/');
  const dir = slash >= 0 ? path.slice(0, slash + 1) : '';
  const base = path.slice(slash + 1);
  switch (e.type) {
    case 'file': {
      if (check && base.startsWith('.wh.')) throw invalid(path, "names starting with '.wh.' are reserved for whiteouts");
      const src = e.source;
      if (src?.kind === 'buffer') {
        if (check && !(src.data instanceof Uint8Array)) throw invalid(path, 'buffer source must hold a Uint8Array');
        p.size = e.size === undefined ? src.data.length : check ? checkUint(e.size, 'size', path) : e.size;
        if (p.size !== src.data.length) throw invalid(path, `size ${p.size} does not match the buffer's ${src.data.length} bytes`);
      } else {
        p.size = check ? checkUint(e.size, 'size', path) : e.size!;
        if (src === undefined && p.size !== 0) throw invalid(path, 'a non-empty file needs a source');
        if (src !== undefined && src.kind !== 'path' && src.kind !== 'stream') throw invalid(path, 'unknown source kind');
      }
      p.source = src;
      break;
    }
    case 'directory':
      p.typeflag = TypeFlag.directory;
      p.name = `${path}/`;
      break;
    case 'symlink':
      if (typeof e.linkname !== 'string' || e.linkname === '' || e.linkname.includes('\0')) throw invalid(path, 'a symlink needs a non-empty linkname');
      p.typeflag = TypeFlag.symlink;
      p.linkname = e.linkname;
      break;
    case 'hardlink':
      p.typeflag = TypeFlag.hardlink;
      p.linkname = checkPath(e.linkname, 'hardlink target', path);
      break;
    case 'fifo':
      p.typeflag = TypeFlag.fifo;
      break;
    case 'char':
    case 'block':
      p.typeflag = e.type === 'char' ? TypeFlag.char : TypeFlag.block;
      p.devmajor = checkUint(e.devmajor ?? 0, 'devmajor', path);
      p.devminor = checkUint(e.devminor ?? 0, 'devminor', path);
      break;
    case 'whiteout':
      if (base.startsWith('.wh.')) throw invalid(path, "cannot white out a name starting with '.wh.'");
      p.name = `${dir}.wh.${base}`;
      p.xattrs = undefined;
      break;
    case 'opaque':
      p.name = `${path}/.wh..wh..opq`;
      p.xattrs = undefined;
      break;
    default:
      throw invalid(path, `unknown entry type ${JSON.stringify((e as { type: unknown }).type)}`);
  }
  return p;
}

/**
 * Hardlinks must follow their target in a tar stream. After sorting, the
 * first path of each link group carries the data and the others link to it.
 */
/** What a hardlink may point at: anything but a directory (and whiteouts, which are not files). */
const LINKABLE = new Set<LayerEntry['type']>(['file', 'symlink', 'fifo', 'char', 'block']);

function electHardlinks(sorted: Prepared[]): void {
  if (!sorted.some((p) => p.type === 'hardlink')) return;
  const byPath = new Map<string, Prepared>();
  for (const p of sorted) byPath.set(p.path, p);
  const groups = new Map<Prepared, Prepared[]>();
  for (const p of sorted) {
    if (p.type !== 'hardlink') continue;
    let target = byPath.get(p.linkname);
    const seen = new Set<Prepared>([p]);
    while (target && target.type === 'hardlink' && !seen.has(target)) {
      seen.add(target);
      target = byPath.get(target.linkname);
    }
    if (!target || !LINKABLE.has(target.type)) {
      throw invalid(p.path, `hardlink target ${JSON.stringify(p.linkname)} is not a regular file, symlink or special file in this layer`);
    }
    let g = groups.get(target);
    if (!g) groups.set(target, (g = [target]));
    g.push(p);
  }
  for (const [file, members] of groups) {
    // `sorted` order is byte order; members were pushed in that order except the file itself.
    members.sort((a, b) => compareFsNames(a.name, b.name));
    const primary = members[0]!;
    // The first path carries the target's kind (a file's data, a symlink's target, a device's numbers).
    const data = { size: file.size, source: file.source, mode: file.mode, uid: file.uid, gid: file.gid, mtime: file.mtime, xattrs: file.xattrs };
    const kind = { typeflag: file.typeflag, linkname: file.linkname, type: file.type, devmajor: file.devmajor, devminor: file.devminor };
    for (const m of members) {
      if (m === primary) {
        Object.assign(m, data, kind);
      } else {
        Object.assign(m, { typeflag: TypeFlag.hardlink, linkname: primary.path, size: 0, source: undefined, type: 'hardlink', mode: file.mode, uid: file.uid, gid: file.gid, mtime: file.mtime, xattrs: file.xattrs });
      }
    }
  }
}

/**
 * The entries in write order, checked. A plain file's prepared form is not kept for the whole
 * layer: it is made again (without the checks) when the file is written, ~180 bytes less per file
 * while a layer of 100,000 files is written (issue 8: memory). Other entries (directories, links,
 * whiteouts: their names or headers are not the entry's own) are kept prepared, and so is every
 * entry of a layer with hardlinks (their election changes the files they link to).
 */
class Collected {
  constructor(
    private readonly entries: LayerEntryList,
    private readonly kept: readonly (Prepared | undefined)[],
    /** Write order: indices into `entries`. */
    private readonly order: Uint32Array,
    /** Each entry's content size, and whether its bytes are read from a file on disk (by index into `entries`). */
    private readonly sizes: Float64Array,
    private readonly fromDisk: Uint8Array,
    private readonly sde: number | undefined,
  ) {}

  get length(): number {
    return this.order.length;
  }

  /** The prepared entry at write position `i`. */
  at(i: number): Prepared {
    const k = this.order[i]!;
    return this.kept[k] ?? prepare(this.entries.at(k)!, this.sde, false);
  }

  /** Index into the entries given of the entry at write position `i`. */
  index(i: number): number {
    return this.order[i]!;
  }

  /** The content size of the entry at write position `i`. */
  size(i: number): number {
    return this.sizes[this.order[i]!]!;
  }

  /** True when the entry at write position `i` has bytes to read from a file on disk. */
  readsFile(i: number): boolean {
    const k = this.order[i]!;
    return this.fromDisk[k] === 1 && this.sizes[k]! > 0;
  }

  /** The file the entry at write position `i` is read from (see {@link readsFile}). */
  file(i: number): string {
    const k = this.order[i]!;
    const kept = this.kept[k];
    if (!kept && this.entries.sourcePath) return this.entries.sourcePath(k)!;
    const src = (kept ?? this.entries.at(k)!).source;
    return (src as Extract<LayerEntrySource, { kind: 'path' }>).path;
  }
}

/** `entries` is a list (an array, or one that makes each entry when asked for). */
function isList(entries: unknown): entries is LayerEntryList {
  return typeof (entries as LayerEntryList).at === 'function' && typeof (entries as LayerEntryList).length === 'number';
}

async function collect(entries: LayerEntryList | Iterable<LayerEntry> | AsyncIterable<LayerEntry>, sde: number | undefined, signal?: AbortSignal): Promise<Collected> {
  let list: LayerEntryList;
  if (isList(entries)) list = entries;
  else {
    const all: LayerEntry[] = [];
    for await (const e of entries as AsyncIterable<LayerEntry>) all.push(e);
    list = all;
  }
  const n = list.length;
  const kept: (Prepared | undefined)[] = new Array(n);
  /** Sort names by entry (a file's is its path: the same string). */
  const names: string[] = new Array(n);
  const sizes = new Float64Array(n);
  const fromDisk = new Uint8Array(n);
  let hardlinks = false;
  for (let k = 0; k < n; k++) {
    signal?.throwIfAborted();
    const e = list.at(k);
    if (e === null || typeof e !== 'object') throw new OcibuildError('LAYER_INVALID', 'layer entry must be an object');
    const p = prepare(e, sde);
    if (p.type !== 'file') kept[k] = p;
    if (p.type === 'hardlink') hardlinks = true;
    names[k] = p.name;
    sizes[k] = p.size;
    if (p.source?.kind === 'path') fromDisk[k] = 1;
  }
  if (hardlinks) for (let k = 0; k < n; k++) kept[k] ??= prepare(list.at(k)!, sde, false);
  const sorted = Array.from({ length: n }, (_, k) => k).sort((a, b) => compareFsNames(names[a]!, names[b]!));
  const order = Uint32Array.from(sorted);
  for (let i = 1; i < order.length; i++) {
    if (compareFsNames(names[order[i]!]!, names[order[i - 1]!]!) === 0) throw invalid(names[order[i]!]!, 'appears twice in the layer');
  }
  // A whiteout excludes any other entry at its path; an opaque marker goes with a directory only.
  // Two entries at one path have different names only when one is a directory, a whiteout or an
  // opaque marker (equal names were refused above), so only those are indexed (a few, not every file).
  const special = new Map<string, Prepared>();
  for (const k of order) {
    const p = kept[k];
    if (!p || (p.type !== 'directory' && p.type !== 'whiteout' && p.type !== 'opaque')) continue;
    const prev = special.get(p.path);
    if (prev) {
      const ok = (prev.type === 'directory' && p.type === 'opaque') || (prev.type === 'opaque' && p.type === 'directory');
      if (!ok) throw invalid(p.path, `is both a ${prev.type} and a ${p.type} entry`);
    }
    special.set(p.path, p);
  }
  if (special.size > 0) {
    for (const k of order) {
      const p = kept[k];
      if (p && (p.type === 'directory' || p.type === 'whiteout' || p.type === 'opaque')) continue;
      const path = p?.path ?? list.at(k)!.path;
      const prev = special.get(path);
      if (prev) {
        const q = p ?? prepare(list.at(k)!, sde, false);
        // Named in sort order, as a single pass would meet them.
        const [x, y] = compareFsNames(prev.name, q.name) < 0 ? [prev, q] : [q, prev];
        throw invalid(q.path, `is both a ${x.type} and a ${y.type} entry`);
      }
    }
  }
  if (hardlinks) {
    electHardlinks(Array.from(order, (k) => kept[k]!));
    // The election moves data between entries: their sizes and sources are the prepared ones'.
    for (let k = 0; k < n; k++) {
      sizes[k] = kept[k]!.size;
      fromDisk[k] = kept[k]!.source?.kind === 'path' ? 1 : 0;
    }
  }
  return new Collected(list, kept, order, sizes, fromDisk, sde);
}

// ------------------------------------------------------------------ reading

function readError(p: Prepared, src: string, e: unknown): OcibuildError {
  if (e instanceof OcibuildError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  return new OcibuildError('LAYER_INVALID', `layer entry ${JSON.stringify(p.path)}: cannot read ${src}: ${code ?? (e as Error).message}`, { cause: e, details: { path: p.path, source: src } });
}

function changed(p: Prepared, src: string, got: string): OcibuildError {
  return new OcibuildError('LAYER_INVALID', `layer entry ${JSON.stringify(p.path)}: ${src} changed while the layer was written (expected ${p.size} bytes, ${got})`, {
    details: { path: p.path, source: src },
  });
}

function readFailure(p: Prepared, path: string, r: Exclude<ReadResult, { ok: true }>): OcibuildError {
  if (r.kind === 'size') return changed(p, path, r.got);
  return new OcibuildError('LAYER_INVALID', `layer entry ${JSON.stringify(p.path)}: cannot read ${path}: ${r.code ?? r.message}`, { details: { path: p.path, source: path } });
}

// ------------------------------------------------------------------ output

/** Collects tar bytes into fixed blocks, hashes them (diffId) and hands them on. */
class TarSink {
  private block: Buffer;
  private used = 0;
  /** Full blocks given back (by the gzip, once deflated), filled again instead of new ones. */
  private readonly free: Buffer[] = [];
  readonly tarHash: Hash = createHash('sha256');
  tarSize = 0;

  constructor(
    private readonly blockSize: number,
    private readonly flush: (block: Buffer) => Promise<void>,
  ) {
    this.block = Buffer.allocUnsafe(blockSize);
  }

  /** Copies `data` in; returns a promise only when a full block had to be flushed. */
  write(data: Uint8Array): Promise<void> | undefined {
    const room = this.blockSize - this.used;
    if (data.length < room) {
      this.block.set(data, this.used);
      this.used += data.length;
      return undefined;
    }
    return this.writeSlow(data);
  }

  private async writeSlow(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.blockSize - this.used, data.length - off);
      this.block.set(data.subarray(off, off + n), this.used);
      this.used += n;
      off += n;
      if (this.used === this.blockSize) await this.emitBlock();
    }
  }

  private async emitBlock(): Promise<void> {
    const full = this.used === this.blockSize ? this.block : this.block.subarray(0, this.used);
    this.tarHash.update(full);
    this.tarSize += full.length;
    this.block = this.free.pop() ?? Buffer.allocUnsafe(this.blockSize);
    this.used = 0;
    await this.flush(full);
  }

  async end(): Promise<void> {
    if (this.used > 0) await this.emitBlock();
  }

  /** A block `flush` was given, no longer read: it is filled again (a shorter last block is not kept). */
  recycle(block: Buffer): void {
    if (block.length === this.blockSize && this.free.length < 32) this.free.push(block);
  }
}

/** Writes to `out` respecting backpressure; fails fast when `out` errors. */
class OutWriter {
  readonly hash: Hash = createHash('sha256');
  size = 0;
  private error: Error | undefined;
  private readonly onError = (e: Error) => {
    this.error ??= e;
  };

  constructor(private readonly out: Writable) {
    out.on('error', this.onError);
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.error) throw this.error;
    this.hash.update(chunk);
    this.size += chunk.length;
    if (!this.out.write(chunk)) await this.waitFor('drain');
  }

  async end(): Promise<void> {
    if (this.error) throw this.error;
    this.out.end();
    await this.waitFor('finish');
  }

  private waitFor(event: 'drain' | 'finish'): Promise<void> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        this.out.off(event, ok);
        this.out.off('error', bad);
        this.out.off('close', closed);
      };
      const ok = () => {
        cleanup();
        resolve();
      };
      const bad = (e: Error) => {
        cleanup();
        reject(e);
      };
      const closed = () => {
        cleanup();
        if (event === 'finish' && this.out.writableFinished) resolve();
        else reject(this.error ?? new OcibuildError('LAYER_INVALID', 'layer output closed before the layer was written'));
      };
      if (this.error) return reject(this.error);
      if (event === 'finish' && this.out.writableFinished) return resolve();
      this.out.once(event, ok);
      this.out.once('error', bad);
      this.out.once('close', closed);
    });
  }

  detach(): void {
    this.out.off('error', this.onError);
  }
}

// ------------------------------------------------------------------ writing

/**
 * {@link FileDigests}: the digests by entry (a slot per entry read, no string kept per file: a
 * map of the paths was ~4 MB of a 100,000-file layer's peak); a map by path is made only when
 * a digest is asked for by path.
 */
class FileDigestTable implements FileDigests {
  /** Slot of each entry (by index into the entries given), -1: not read. */
  private readonly slotOf: Int32Array;
  /** Write position of each slot's entry. */
  private readonly positions: number[] = [];
  private readonly digests: Sha256Slots;
  private byPath: Map<string, number> | undefined;

  constructor(
    private readonly list: Collected,
    expected: number,
  ) {
    this.slotOf = new Int32Array(list.length).fill(-1);
    this.digests = new Sha256Slots(expected);
  }

  private paths(): Map<string, number> {
    if (!this.byPath) {
      // In write order: a file read for two entries has the digest of its last read.
      this.byPath = new Map();
      for (let slot = 0; slot < this.positions.length; slot++) this.byPath.set(this.list.file(this.positions[slot]!), slot);
    }
    return this.byPath;
  }

  get size(): number {
    return this.paths().size;
  }

  has(path: string): boolean {
    return this.paths().has(path);
  }

  get(path: string): Digest | undefined {
    const slot = this.paths().get(path);
    return slot === undefined ? undefined : this.digests.get(slot);
  }

  entry(index: number): Digest | undefined {
    const slot = index >= 0 && index < this.slotOf.length ? this.slotOf[index]! : -1;
    return slot < 0 ? undefined : this.digests.get(slot);
  }

  /** Records the digest `hash` ends with for the entry at write position `i`. */
  set(i: number, hash: Hash): void {
    const slot = this.positions.length;
    this.positions.push(i);
    this.slotOf[this.list.index(i)] = slot;
    this.digests.set(slot, hash.digest());
  }
}

async function writeStream(p: Prepared, src: Extract<LayerEntrySource, { kind: 'stream' }>, sink: TarSink): Promise<void> {
  let got = 0;
  let stream;
  try {
    stream = await src.open();
  } catch (e) {
    throw readError(p, 'its stream source', e);
  }
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      got += b.length;
      if (got > p.size) throw changed(p, 'its stream source', 'it gave more');
      const w = sink.write(b);
      if (w) await w;
    }
  } catch (e) {
    stream.destroy();
    throw readError(p, 'its stream source', e);
  }
  if (got !== p.size) throw changed(p, 'its stream source', `got ${got}`);
}

/**
 * Write a reproducible layer tar to `out`, gzip-compressed by default.
 *
 * Entries are collected (metadata only), validated and sorted by path in
 * byte order; names are relative, uname/gname empty, modes and ids as given,
 * mtimes whole seconds (fractions dropped; missing ones are `sourceDateEpoch`
 * or 0) clamped to `sourceDateEpoch`; whiteout and opaque entries become
 * `.wh.<name>` and `<dir>/.wh..wh..opq`; hardlinks are emitted as tar links,
 * the first path of each group in sort order carrying the data. File bodies
 * are read with bounded read-ahead and streamed; the diffId, the digest and
 * the size of what was written are computed in the same pass. gzip runs
 * block-parallel on the libuv threadpool ({@link ParallelGzip}).
 *
 * `out` is ended and awaited ('finish'); on failure it is destroyed, so a
 * caller writing to a temp file only has to remove it.
 *
 * @throws OcibuildError LAYER_INVALID for bad entries and unreadable or changing files.
 */
export async function writeLayer(
  entries: LayerEntryList | Iterable<LayerEntry> | AsyncIterable<LayerEntry>,
  out: Writable,
  options: WriteLayerOptions = {},
): Promise<LayerResult> {
  const compression = options.compression ?? 'gzip';
  if (compression !== 'gzip' && compression !== 'none') throw new OcibuildError('USAGE', `unknown layer compression ${JSON.stringify(compression)}`);
  const sde = options.sourceDateEpoch;
  if (sde !== undefined && (!Number.isSafeInteger(sde) || sde < 0)) throw new OcibuildError('USAGE', `sourceDateEpoch must be a non-negative integer, got ${sde}`);
  const level = options.level ?? GZIP_DEFAULT_LEVEL;
  const concurrency = options.concurrency ?? defaultGzipInFlight();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new OcibuildError('USAGE', `concurrency must be a positive integer, got ${concurrency}`);
  const signal = options.signal;
  const writer = new OutWriter(out);
  let gzip: ParallelGzip | undefined;
  let readAhead: ReadAhead | undefined;
  try {
    const list = await collect(entries, sde, signal);
    let sink: TarSink;
    if (compression === 'gzip') {
      // The tar blocks go round (issue 8: ~430 MB of fresh 128 KiB buffers for the big set, each
      // kept until V8 collected it).
      const gz = (gzip = new ParallelGzip({ level, emit: (c) => writer.write(c), maxInFlight: concurrency, release: (b) => tar.recycle(b) }));
      const tar = new TarSink(GZIP_BLOCK_SIZE, (b) => gz.push(b));
      sink = tar;
    } else {
      sink = new TarSink(CHUNK, (b) => writer.write(b));
    }
    // File contents from disk, in write order, as ranges for the read-ahead workers.
    const reads = new FileReads(list, options.fileDigests === true);
    readAhead = reads.readAhead();
    const fileDigests = options.fileDigests ? new FileDigestTable(list, reads.length) : undefined;
    const readCheck = options.fileDigests ? { changed: new Set<string>(), unchecked: new Set<string>() } : undefined;
    for (let i = 0; i < list.length; i++) {
      if (signal?.aborted) signal.throwIfAborted();
      const p = list.at(i);
      const header = encodeHeader({
        path: p.name,
        typeflag: p.typeflag,
        mode: p.mode,
        uid: p.uid,
        gid: p.gid,
        size: p.size,
        mtime: p.mtime,
        linkname: p.linkname,
        devmajor: p.devmajor,
        devminor: p.devminor,
        xattrs: p.xattrs,
      });
      let w = sink.write(header);
      if (w) await w;
      if (p.size === 0) {
        if (readCheck && p.source?.kind === 'path') readCheck.unchecked.add(p.source.path);
        continue;
      }
      const src = p.source!;
      const first = reads.first(i);
      const fileHash = fileDigests && src.kind === 'path' ? createHash('sha256') : undefined;
      if (first >= 0) {
        for (let k = first; ; k++) {
          const req = reads.at(k)!;
          const r = readAhead ? await readAhead.take(k) : readSyncChecked(req);
          if (!r.ok) throw readFailure(p, req.path, r);
          fileHash?.update(r.data);
          if (readCheck && src.kind === 'path') {
            if (req.position === 0 && req.last) {
              if (r.identity === undefined || r.identity !== src.identity) readCheck.changed.add(src.path);
            } else if (req.last) readCheck.unchecked.add(src.path);
          }
          w = sink.write(r.data);
          if (w) await w;
          if (req.last) break;
        }
      } else if (src.kind === 'buffer') {
        w = sink.write(src.data);
        if (w) await w;
      } else if (src.kind === 'stream') {
        await writeStream(p, src, sink);
      } else {
        throw invalid(p.path, 'unknown source kind');
      }
      if (fileHash && src.kind === 'path') fileDigests!.set(i, fileHash);
      const pad = (BLOCK - (p.size % BLOCK)) % BLOCK;
      if (pad) {
        w = sink.write(ZEROS.subarray(0, pad));
        if (w) await w;
      }
    }
    const w = sink.write(ZEROS);
    if (w) await w;
    await sink.end();
    if (gzip) await gzip.end();
    await writer.end();
    const diffId = `sha256:${sink.tarHash.digest('hex')}` as Digest;
    const digest = `sha256:${writer.hash.digest('hex')}` as Digest;
    return {
      diffId,
      digest,
      size: writer.size,
      uncompressedSize: sink.tarSize,
      mediaType: compression === 'gzip' ? MediaType.ociLayerGzip : MediaType.ociLayer,
      ...(fileDigests ? { fileDigests, readCheck: readCheck! } : {}),
    };
  } catch (e) {
    await gzip?.abort();
    out.destroy();
    throw e;
  } finally {
    await readAhead?.close();
    writer.detach();
  }
}
