/**
 * A read-only view of an image's root filesystem built from its layer tars,
 * without unpacking them: the metadata of every path (the union of the layers
 * with whiteouts applied) and, on demand, the bytes of single files. COPY uses
 * it as the destination filesystem (symlinks in the destination path, existing
 * parent directories, /etc/passwd for --chown), rootless and without a
 * privileged unpack.
 */
import path from 'node:path/posix';
import type { Readable } from 'node:stream';
import { OcibuildError } from '../errors.js';
import type { DestFs, DestStat } from '../copy/types.js';
import { readLayer } from '../layers/index.js';

/** Metadata of one path of the union filesystem. */
export interface RootfsEntry extends DestStat {
  /** Index of the layer the entry comes from. */
  layer: number;
  /** The entry's name in its layer (`/esc/file` for `/some/dir/file` written through `esc -> /some/dir`). */
  tarPath: string;
  size: number;
}

/** Opens the uncompressed tar stream of layer `i` (verified). */
export type OpenLayer = (i: number) => Promise<Readable>;

/**
 * The headers of one layer as the view reads them, in tar order:
 * `[path, type, mode, uid, gid, mtime, linkname, size]`.
 */
export type IndexedHeader = [string, string, number, number, number, number | undefined, string | undefined, number];

/**
 * Kept header indexes by layer: `get` returns the headers of a layer whose
 * diffId was verified when they were recorded (undefined: none kept); `put`
 * keeps them, called only after the layer's bytes hashed to its diffId.
 */
export interface LayerIndex {
  get(i: number): Promise<IndexedHeader[] | undefined>;
  put(i: number, headers: IndexedHeader[]): Promise<void>;
}

const ENTRY_TYPES = new Set(['file', 'directory', 'symlink', 'hardlink', 'char', 'block', 'fifo']);

/**
 * Kept entries (JSON: undefined fields are null) as headers, or undefined
 * when any entry is malformed (then the layer is read from its blob again).
 */
export function indexedHeaders(entries: readonly unknown[]): IndexedHeader[] | undefined {
  const out: IndexedHeader[] = [];
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  for (const e of entries) {
    if (!Array.isArray(e) || e.length !== 8) return undefined;
    const [p, type, mode, uid, gid, mtime, linkname, size] = e as unknown[];
    if (typeof p !== 'string' || typeof type !== 'string' || !ENTRY_TYPES.has(type) || !num(mode) || !num(uid) || !num(gid) || !num(size)) return undefined;
    if (mtime !== null && !num(mtime)) return undefined;
    if (linkname !== null && typeof linkname !== 'string') return undefined;
    out.push([p, type, mode as number, uid as number, gid as number, (mtime ?? undefined) as number | undefined, (linkname ?? undefined) as string | undefined, size as number]);
  }
  return out;
}

export interface ViewOptions {
  signal?: AbortSignal;
  /** The diffId layer `i` must hash to (verified while its headers are read). */
  diffIdOf?: (i: number) => string | undefined;
  /** Layer `i`'s blob digest, for error messages. */
  digestOf?: (i: number) => string | undefined;
  /** Header indexes kept per layer (only consulted and written with `diffIdOf`). */
  index?: LayerIndex;
}

const MAX_READ = 64 * 1024 * 1024;

function clean(p: string): string {
  const c = path.normalize('/' + p);
  return c.length > 1 && c.endsWith('/') ? c.slice(0, -1) : c;
}

/** The union view of a list of layers. */
export class RootfsView implements DestFs {
  private readonly entries = new Map<string, RootfsEntry>();
  private readonly children = new Map<string, Set<string>>();
  /** Paths some hardlink entry points at. */
  private readonly linkTargets = new Set<string>();

  private constructor(
    private readonly openLayer: OpenLayer,
    private readonly options: ViewOptions,
  ) {
    this.entries.set('/', { type: 'directory', mode: 0o755, uid: 0, gid: 0, layer: -1, tarPath: '/', size: 0 });
  }

  /**
   * Reads the headers of `count` layers, in order, into a view. With
   * `diffIdOf`, each layer's uncompressed bytes must hash to its diffId
   * (DIGEST_MISMATCH otherwise): an image is verified as its view is read.
   * With `index` too, a layer whose header index is kept is read from it
   * instead (no decompression), and a layer read and verified is indexed.
   */
  static async load(count: number, openLayer: OpenLayer, options: ViewOptions = {}): Promise<RootfsView> {
    const view = new RootfsView(openLayer, options);
    for (let i = 0; i < count; i++) {
      options.signal?.throwIfAborted();
      await view.addLayer(i);
    }
    return view;
  }

  /** A view that has the layers of `base` plus one more (`index` = base's count). */
  static async extend(base: RootfsView | undefined, index: number, openLayer: OpenLayer, options: ViewOptions = {}): Promise<RootfsView> {
    const view = new RootfsView(openLayer, options);
    if (base) {
      for (const [k, v] of base.entries) view.entries.set(k, v);
      for (const [k, v] of base.children) view.children.set(k, new Set(v));
      for (const t of base.linkTargets) view.linkTargets.add(t);
    }
    await view.addLayer(index);
    return view;
  }

  private removeTree(p: string): void {
    const kids = this.children.get(p);
    if (kids) {
      for (const k of kids) this.removeTree(p === '/' ? `/${k}` : `${p}/${k}`);
      this.children.delete(p);
    }
    if (p !== '/') {
      this.entries.delete(p);
      this.children.get(path.dirname(p))?.delete(path.basename(p));
    }
  }

  private set(p: string, e: RootfsEntry): void {
    const old = this.entries.get(p);
    if (old && old.type === 'directory' && e.type !== 'directory') this.removeTree(p);
    this.entries.set(p, e);
    // implied parents (tars may omit them)
    let child = p;
    while (child !== '/') {
      const parent = path.dirname(child);
      let set = this.children.get(parent);
      if (!set) this.children.set(parent, (set = new Set()));
      set.add(path.basename(child));
      if (!this.entries.has(parent)) {
        this.entries.set(parent, { type: 'directory', mode: 0o755, uid: 0, gid: 0, layer: e.layer, tarPath: parent, size: 0 });
      } else break;
      child = parent;
    }
  }

  /**
   * Where a layer entry's parent directory is in the union: symlinks are
   * followed inside the image, as applying the layer does (containerd's
   * RootPath), so `esc/file` under `esc -> /some/dir` is `/some/dir/file`.
   * A missing component and what follows it are taken as written (applying
   * creates them).
   */
  private resolveParent(dir: string): string {
    const parts = dir.split('/').filter(Boolean);
    const stack: string[] = [];
    let hops = 0;
    while (parts.length > 0) {
      const c = parts.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        stack.pop();
        continue;
      }
      const next = '/' + [...stack, c].join('/');
      const e = this.entries.get(next);
      if (e?.type === 'symlink' && e.linkname !== undefined) {
        if (++hops > 255) throw new OcibuildError('LAYER_INVALID', `${dir} resolves through too many symbolic links`);
        if (e.linkname.startsWith('/')) stack.length = 0;
        parts.unshift(...e.linkname.split('/'));
        continue;
      }
      stack.push(c);
      if (!e) {
        stack.push(...parts.filter((x) => x !== '' && x !== '.'));
        break;
      }
    }
    return '/' + stack.join('/');
  }

  /** Reads layer `i` into the view; an error names the layer (index and digest), as the local output does. */
  private async addLayer(i: number): Promise<void> {
    try {
      await this.readLayerInto(i);
    } catch (e) {
      if (!(e instanceof OcibuildError)) throw e;
      const digest = this.options.digestOf?.(i);
      const name = `layer ${i}${digest ? ` (${digest})` : ''}`;
      if (e.message.startsWith(name)) throw e;
      throw new OcibuildError(e.code, `${name}: ${e.message.replace(new RegExp(`^layer ${i}( of the image)?: `), '')}`, { cause: e, details: { ...e.details, ...(digest ? { layer: digest } : {}) } });
    }
  }

  private async readLayerInto(i: number): Promise<void> {
    const expected = this.options.diffIdOf?.(i);
    const index = expected !== undefined ? this.options.index : undefined;
    const kept = await index?.get(i);
    if (kept) {
      for (const h of kept) this.applyHeader(i, h);
      return;
    }
    const stream = await this.openLayer(i);
    let verified = false;
    const onEnd = ({ diffId }: { diffId: string }) => {
      if (expected !== undefined && diffId !== expected) {
        throw new OcibuildError('DIGEST_MISMATCH', `layer ${i} of the image: its content hashes to diffId ${diffId}, but the image config says ${expected}`);
      }
      verified = expected !== undefined;
    };
    const record: IndexedHeader[] | undefined = index ? [] : undefined;
    for await (const { header, body } of readLayer(stream, { onEnd })) {
      body?.resume();
      const h: IndexedHeader = [header.path, header.type, header.mode, header.uid, header.gid, header.mtime, header.linkname, header.size];
      this.applyHeader(i, h);
      record?.push(h);
    }
    // Only a layer read to its end and hashed to its diffId is indexed.
    if (record && verified) await index!.put(i, record);
  }

  private applyHeader(i: number, [hpath, htype, hmode, huid, hgid, hmtime, hlinkname, hsize]: IndexedHeader): void {
    const tarPath = clean(hpath);
    let dir: string;
    try {
      dir = this.resolveParent(path.dirname(tarPath));
    } catch (e) {
      if (!(e instanceof OcibuildError)) throw e;
      throw new OcibuildError(e.code, `layer entry ${JSON.stringify(hpath)}: ${e.message}`, { cause: e, details: { ...e.details, path: hpath } });
    }
    const base = path.basename(tarPath);
    const p = tarPath === '/' ? '/' : dir === '/' ? `/${base}` : `${dir}/${base}`;
    if (base === '.wh..wh..opq') {
      for (const k of [...(this.children.get(dir) ?? [])]) this.removeTree(dir === '/' ? `/${k}` : `${dir}/${k}`);
      return;
    }
    if (base.startsWith('.wh.')) {
      const name = base.slice(4);
      if (name === '' || name === '.' || name === '..') throw new OcibuildError('LAYER_ESCAPE', `layer ${i}: whiteout ${JSON.stringify(hpath)} names ${name === '' ? 'nothing' : JSON.stringify(name)}`);
      this.removeTree(dir === '/' ? `/${base.slice(4)}` : `${dir}/${base.slice(4)}`);
      return;
    }
    const type = htype as RootfsEntry['type'];
    if (p === '/') {
      this.entries.set('/', { type: 'directory', mode: hmode & 0o7777, uid: huid, gid: hgid, mtime: hmtime, layer: i, tarPath, size: 0 });
      return;
    }
    let linkname: string | undefined;
    if (type === 'symlink') linkname = hlinkname;
    else if (type === 'hardlink') {
      const l = clean(hlinkname ?? '');
      const ldir = this.resolveParent(path.dirname(l));
      linkname = ldir === '/' ? `/${path.basename(l)}` : `${ldir}/${path.basename(l)}`;
      this.linkTargets.add(linkname);
    }
    this.set(p, { type, mode: hmode & 0o7777, uid: huid, gid: hgid, mtime: hmtime, linkname, layer: i, tarPath, size: hsize });
  }

  /** The full entry at `p` (its layer and name in that layer), not following symlinks. */
  entry(p: string): RootfsEntry | undefined {
    return this.entries.get(clean(p));
  }

  /** Number of paths in the view. */
  get size(): number {
    return this.entries.size;
  }

  async lstat(p: string): Promise<DestStat | undefined> {
    const e = this.entries.get(clean(p));
    if (!e) return undefined;
    const { layer: _layer, size: _size, ...stat } = e;
    return stat;
  }

  async readlink(p: string): Promise<string> {
    const e = this.entries.get(clean(p));
    if (!e || e.type !== 'symlink' || e.linkname === undefined) {
      throw new OcibuildError('LAYER_INVALID', `${p} is not a symbolic link in the image`);
    }
    return e.linkname;
  }

  /** True when a hardlink entry points at `p` (the copy keeps them linked). */
  isLinkTarget(p: string): boolean {
    return this.linkTargets.has(clean(p));
  }

  /** Byte size of a regular file entry (undefined for anything else). */
  sizeOf(p: string): number | undefined {
    const e = this.entries.get(clean(p));
    return e && e.type === 'file' ? e.size : undefined;
  }

  /** Names below a directory (sorted). */
  readdir(p: string): string[] {
    return [...(this.children.get(clean(p)) ?? [])].sort();
  }

  /** Resolves symlinks in `p` inside the image (never above its root). */
  resolve(p: string, maxLinks = 255): string | undefined {
    const parts = clean(p).split('/').filter(Boolean);
    let cur = '/';
    let links = 0;
    while (parts.length > 0) {
      const name = parts.shift()!;
      const next = cur === '/' ? `/${name}` : `${cur}/${name}`;
      const e = this.entries.get(next);
      if (!e) return undefined;
      if (e.type === 'symlink' && e.linkname !== undefined) {
        if (++links > maxLinks) throw new OcibuildError('LAYER_INVALID', `too many levels of symbolic links resolving ${p}`);
        const target = e.linkname.startsWith('/') ? e.linkname : `${cur}/${e.linkname}`;
        parts.unshift(...clean(target).split('/').filter(Boolean));
        cur = '/';
        continue;
      }
      cur = next;
    }
    return cur;
  }

  async readFile(p: string): Promise<Uint8Array | undefined> {
    let real = this.resolve(p);
    if (real === undefined) return undefined;
    let e = this.entries.get(real);
    if (e?.type === 'hardlink' && e.linkname) {
      real = e.linkname;
      e = this.entries.get(real);
    }
    if (!e || e.type !== 'file') return undefined;
    if (e.size > MAX_READ) throw new OcibuildError('UNSUPPORTED', `${p} in the image is too large to read (${e.size} bytes)`);
    const stream = await this.openLayer(e.layer);
    const want = e.tarPath;
    for await (const { header, body } of readLayer(stream)) {
      if (clean(header.path) === want && header.type === 'file') {
        const chunks: Buffer[] = [];
        for await (const c of body!) chunks.push(c as Buffer);
        stream.destroy();
        return Buffer.concat(chunks);
      }
      body?.resume();
    }
    throw new OcibuildError('LAYER_INVALID', `${want} vanished from layer ${e.layer} while reading it`);
  }
}
