import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { Transform, Writable, pipeline as pipelineCb, type Readable, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { OcibuildError, isOcibuildError } from '../errors.js';
import { digestAlgorithm, digestHex, isDigest, parseDigest, sha256, type Digest } from '../oci/digest.js';
import { MediaType, isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import type { BlobInfo, BlobSink, BlobSource, Descriptor, Platform } from '../oci/types.js';
import { parseIndex } from '../oci/documents.js';
import { parseImageName, formatImageName } from '../oci/names.js';
import { walkImage } from './walk.js';
import { withLock, type LockOptions } from './lock.js';
import { isStepRecord, readStepRecord, writeStepRecord, type StepRecord } from './step-cache.js';

export type { StepLayer, StepRecord } from './step-cache.js';

/** Annotation naming a tag in an OCI layout (`skopeo ... oci:<dir>:<ref.name>`). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd's annotation with the full normalized image name. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';

const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';
/** Blobs (and temp files, unpacked trees) younger than this are never garbage-collected. */
export const DEFAULT_GRACE_PERIOD_MS = 15 * 60_000;
const MAX_SMALL_BLOB = 64 * 1024 * 1024;

/** Options of Store.open. */
export interface StoreOptions {
  /** Lock behaviour for index.json updates and prune. */
  lock?: LockOptions;
  /** Clock (ms since epoch), for tests; default Date.now. */
  now?: () => number;
  /**
   * Removes a tree the caller cannot remove itself (a plain removal failed
   * with EACCES or EPERM): rootless with subordinate ids, unpacked trees hold
   * files of ids the caller is not, which only the user namespace mapping
   * them can remove. The CLI and `build()` pass `rm -rf` inside that
   * namespace; without it such a removal fails.
   */
  removeForeignTree?: (dir: string) => Promise<void>;
}

/** A blob being written: stream bytes into `stream`, then `commit` (or `abort`). */
export interface BlobWriter {
  /** Write the blob here; hashing happens as bytes arrive. */
  stream: Writable;
  /**
   * Finish the blob (ends `stream` if still open): verify against `expected`
   * (digest, or digest and size), fsync, and publish it atomically under its
   * digest. On a mismatch the temp file is removed and DIGEST_MISMATCH or
   * SIZE_MISMATCH thrown.
   */
  commit(expected?: Digest | BlobInfo): Promise<BlobInfo>;
  /** Drop the partial blob. Idempotent; a no-op after commit. */
  abort(): Promise<void>;
}

/** Extra data stored with a tag. */
export interface TagMeta {
  /** The full normalized name (`docker.io/library/app:latest`); computed from the tag when absent. */
  fullName?: string;
  /** More annotations for the index.json entry. */
  annotations?: Record<string, string>;
}

/** One tag in the store's index.json. */
export interface StoreTag {
  /** The name as it was tagged (`app`, `app:1.0`, `localhost:5000/x:y`). */
  name: string;
  /** Full normalized name (`docker.io/library/app:latest`). */
  fullName: string;
  descriptor: Descriptor;
}

/** A row of `ocibuild images`. */
export interface ImageSummary {
  name: string;
  fullName: string;
  /** Digest of the manifest or index the tag points at. */
  digest: Digest;
  mediaType: string;
  /** Bytes of manifest(s), index, configs and layers present in the store, each blob counted once. */
  size: number;
  /** `created` of the image config (the newest one for a multi-platform image). */
  created?: string;
  /** Platforms, `os/arch[/variant]`. */
  platforms: string[];
}

/** Options of Store.prune. */
export interface PruneOptions {
  /** Drop the whole step cache (tagged images stay). */
  all?: boolean;
  /** Drop step-cache entries not used for this many milliseconds (`pruneStore` parses `24h`). */
  olderThan?: number;
  /** Then drop least-recently-used step entries until the store holds at most this many bytes. */
  keepBytes?: number;
  /** Unreferenced blobs, temp files and trees younger than this stay (default 15 min): a concurrent build may be about to use them. */
  gracePeriodMs?: number;
}

/** What a prune did. */
export interface PruneResult {
  removedBlobs: number;
  removedSteps: number;
  removedUnpacked: number;
  removedTemp: number;
  freedBytes: number;
  /** Bytes the store holds afterwards (blobs, plus unpacked trees when keepBytes was given). */
  remainingBytes: number;
}

interface StoreIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}


function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** Wrap a filesystem error (permissions, disk full, ...) as STORE_IO; OcibuildErrors pass through. */
function ioError(what: string, e: unknown): OcibuildError {
  if (isOcibuildError(e)) return e;
  const code = errno(e);
  return new OcibuildError('STORE_IO', `${what}: ${(e as Error)?.message ?? String(e)}`, {
    cause: e,
    hint: code === 'ENOSPC' ? 'the disk is full: `ocibuild prune` frees space' : code === 'EACCES' || code === 'EPERM' ? 'check the permissions of the store directory (OCIBUILD_HOME)' : undefined,
  });
}

/** Run `fn`, turning raw filesystem errors into STORE_IO. */
async function io<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw ioError(what, e);
  }
}

async function writeAll(fh: fs.FileHandle, bufs: Buffer[]): Promise<void> {
  for (const buf of bufs) {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

/** Hash a file (to tell a corrupt blob from a wrong descriptor). */
async function hashFile(file: string, algorithm: 'sha256' | 'sha512'): Promise<string> {
  const h = createHash(algorithm);
  await pipeline(createReadStream(file), new Writable({ write: (c: Buffer, _e, cb) => (h.update(c), cb()) }));
  return `${algorithm}:${h.digest('hex')}`;
}

/**
 * Verifies a blob read from the store; on a mismatch it removes the corrupt
 * file (so it can be fetched again) and fails with STORE_CORRUPT.
 */
class BlobReadVerifier extends Transform {
  private readonly hash: Hash;
  private bytes = 0;
  constructor(
    private readonly digest: Digest,
    private readonly size: number,
    private readonly onCorrupt: () => Promise<void>,
  ) {
    super();
    this.hash = createHash(digestAlgorithm(digest));
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.bytes > this.size) {
      this.fail(`grew beyond its ${this.size} bytes while being read`, cb);
      return;
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const got = `${digestAlgorithm(this.digest)}:${this.hash.digest('hex')}`;
    if (this.bytes !== this.size) this.fail(`has ${this.bytes} bytes, expected ${this.size}`, cb);
    else if (got !== this.digest) this.fail(`content hashes to ${got}`, cb);
    else cb();
  }
  private fail(why: string, cb: TransformCallback): void {
    const err = new OcibuildError('STORE_CORRUPT', `blob ${this.digest} in the store is corrupt (${why}); it was removed and must be fetched or built again`);
    this.onCorrupt().then(
      () => cb(err),
      () => cb(err),
    );
  }
}

/**
 * The local content-addressed store: an OCI image layout (`oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`) that skopeo, umoci and podman can read,
 * plus `steps/` (the step cache), `unpacked/` (layer trees by diffId) and
 * `tmp/` (writes in progress). Blobs are written to a temp file, verified,
 * fsynced and renamed; reads verify. index.json changes are serialized by a
 * lock file, so several processes can share a store.
 */
export class Store implements BlobSource, BlobSink {
  /** Root directory of the layout. */
  readonly root: string;
  private readonly lockOptions: LockOptions;
  /** The store's clock (ms since epoch): last-use times of blobs, trees and step records. */
  readonly now: () => number;
  private readonly removeForeignTree: ((dir: string) => Promise<void>) | undefined;

  private constructor(root: string, options: StoreOptions) {
    this.root = root;
    this.lockOptions = options.lock ?? {};
    this.now = options.now ?? Date.now;
    this.removeForeignTree = options.removeForeignTree;
  }

  /** Open (creating when needed) the store at `root`. */
  static async open(root: string, options: StoreOptions = {}): Promise<Store> {
    const store = new Store(path.resolve(root), options);
    await store.init();
    return store;
  }

  private async init(): Promise<void> {
    const r = this.root;
    try {
      await fs.mkdir(path.join(r, 'blobs', 'sha256'), { recursive: true });
      await Promise.all(['steps', 'unpacked', 'tmp', 'locks'].map((d) => fs.mkdir(path.join(r, d), { recursive: true })));
    } catch (e) {
      throw ioError(`cannot create the store at ${r}`, e);
    }
    await this.createIfMissing('oci-layout', OCI_LAYOUT);
    await this.createIfMissing('index.json', JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }));
    const layout = await io('cannot read oci-layout', () => fs.readFile(path.join(r, 'oci-layout'), 'utf8'));
    let version: unknown;
    try {
      version = (JSON.parse(layout) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== '1.0.0') {
      throw new OcibuildError('STORE_CORRUPT', `${path.join(r, 'oci-layout')} is not an OCI layout 1.0.0 marker`);
    }
    await this.removeOrphanedTemp();
  }

  /**
   * Remove what killed processes left in `tmp/` (a build's work dirs, partial
   * blobs): entries are named `<prefix>-<pid>-<random>`, and one whose process
   * no longer exists on this host belongs to nobody. Processes sharing a store
   * are assumed to share a pid namespace; anything else (a live pid, a name of
   * another shape) is left to `prune`'s grace period. Best effort.
   */
  private async removeOrphanedTemp(): Promise<void> {
    const dir = path.join(this.root, 'tmp');
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const m = /-(\d+)-[0-9a-f]{16}$/.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      if (pid === process.pid || pid <= 0 || isAlive(pid)) continue;
      await this.removeTree(path.join(dir, name)).catch(() => undefined);
    }
  }

  /** Create a file atomically unless it exists (link() fails on EEXIST, so concurrent openers agree). */
  private async createIfMissing(name: string, content: string): Promise<void> {
    const target = path.join(this.root, name);
    try {
      await fs.access(target);
      return;
    } catch {
      // create below
    }
    const tmp = await this.tempPath();
    await io(`cannot write ${tmp}`, () => fs.writeFile(tmp, content, { mode: 0o644 }));
    try {
      await fs.link(tmp, target);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw ioError(`cannot create ${target}`, e);
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  // -------------------------------------------------------------------------
  // Paths

  /** Path of a blob file (whether or not it exists). */
  blobPath(digest: Digest): string {
    return path.join(this.root, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  /**
   * Directory for the unpacked tree of the layer with this diffId (used as an
   * overlay lower dir by RUN). Populate it under `tempDir()` and rename it here.
   */
  unpackedDir(diffId: Digest): string {
    return path.join(this.root, 'unpacked', digestAlgorithm(diffId), digestHex(diffId));
  }

  /**
   * The unpacked tree of a layer, created once: when absent, `fill(dir)`
   * populates a fresh temp directory which is then renamed into place, so a
   * tree is either complete or absent. When two processes race, the first
   * rename wins and the other copy is removed. Returns the tree's path (its
   * mtime refreshed, so prune's grace period protects a tree in use).
   */
  async ensureUnpacked(diffId: Digest, fill: (dir: string) => Promise<void>): Promise<string> {
    parseDigest(diffId);
    const dest = this.unpackedDir(diffId);
    const now = new Date(this.now());
    try {
      await fs.utimes(dest, now, now);
      return dest;
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw ioError(`cannot use ${dest}`, e);
    }
    const tmp = await this.tempDir('unpack');
    try {
      await fill(tmp);
      await io(`cannot create ${path.dirname(dest)}`, () => fs.mkdir(path.dirname(dest), { recursive: true }));
      try {
        await fs.rename(tmp, dest);
      } catch (e) {
        if (errno(e) !== 'ENOTEMPTY' && errno(e) !== 'EEXIST') throw ioError(`cannot move the unpacked layer into ${dest}`, e);
        await this.removeTree(tmp); // another process finished first
      }
    } catch (e) {
      await this.removeTree(tmp).catch(() => undefined);
      throw e;
    }
    return dest;
  }

  /** A fresh, empty directory inside the store (same filesystem, so it can be renamed into place). */
  async tempDir(prefix = 'dir'): Promise<string> {
    const dir = await this.tempPath(prefix);
    await io('cannot create a temp directory in the store', () => fs.mkdir(dir, { recursive: false }));
    return dir;
  }

  private async tempPath(prefix = 'tmp'): Promise<string> {
    return path.join(this.root, 'tmp', `${prefix}-${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  private lockPath(): string {
    return path.join(this.root, 'locks', 'index.lock');
  }

  // -------------------------------------------------------------------------
  // Blobs

  /** True when the blob is in the store. */
  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /** Digest and size of a stored blob, or undefined. */
  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    parseDigest(digest);
    try {
      const st = await fs.stat(this.blobPath(digest));
      return st.isFile() ? { digest, size: st.size } : undefined;
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw ioError(`cannot stat blob ${digest}`, e);
    }
  }

  /** Remove a corrupt blob, unless it was replaced (by a good copy) meanwhile. */
  private async removeCorrupt(digest: Digest, ino: number): Promise<void> {
    const p = this.blobPath(digest);
    try {
      const st = await fs.stat(p);
      if (st.ino === ino) await fs.rm(p, { force: true });
    } catch {
      // already gone
    }
  }

  /**
   * Stream a blob. Digest (and `size`, when given) are verified while
   * streaming: the stream fails with STORE_CORRUPT at its end when the content
   * does not match, and the corrupt file is removed. A missing blob is
   * BLOB_NOT_FOUND; a `size` that disagrees with an intact blob is SIZE_MISMATCH.
   */
  async open(digest: Digest, size?: number): Promise<Readable> {
    parseDigest(digest);
    const p = this.blobPath(digest);
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(p, 'r');
    } catch (e) {
      if (errno(e) === 'ENOENT') throw new OcibuildError('BLOB_NOT_FOUND', `blob ${digest} is not in the store`);
      throw ioError(`cannot open blob ${digest}`, e);
    }
    let st: Stats;
    try {
      st = await fh.stat();
    } catch (e) {
      await fh.close();
      throw ioError(`cannot stat blob ${digest}`, e);
    }
    if (size !== undefined && st.size !== size) {
      await fh.close();
      const actual = await hashFile(p, digestAlgorithm(digest)).catch(() => undefined);
      if (actual === digest) {
        throw new OcibuildError('SIZE_MISMATCH', `blob ${digest}: the descriptor says ${size} bytes, the blob has ${st.size}`);
      }
      await this.removeCorrupt(digest, st.ino);
      throw new OcibuildError('STORE_CORRUPT', `blob ${digest} in the store is corrupt (${st.size} bytes, expected ${size}); it was removed and must be fetched or built again`);
    }
    const file = fh.createReadStream({ highWaterMark: 256 * 1024 });
    const verifier = new BlobReadVerifier(digest, st.size, () => this.removeCorrupt(digest, st.ino));
    pipelineCb(file, verifier, () => undefined);
    return verifier;
  }

  /**
   * Read a small blob (manifest, config, index) fully, verified. A corrupt
   * blob is removed and reported as STORE_CORRUPT.
   */
  async readBlob(digest: Digest, maxBytes = MAX_SMALL_BLOB): Promise<Buffer> {
    parseDigest(digest);
    const p = this.blobPath(digest);
    let data: Buffer;
    let st: Stats;
    try {
      st = await fs.stat(p);
      if (st.size > maxBytes) {
        throw new OcibuildError('MANIFEST_INVALID', `blob ${digest} has ${st.size} bytes, more than the ${maxBytes} read into memory`);
      }
      data = await fs.readFile(p);
    } catch (e) {
      if (errno(e) === 'ENOENT') throw new OcibuildError('BLOB_NOT_FOUND', `blob ${digest} is not in the store`);
      throw ioError(`cannot read blob ${digest}`, e);
    }
    const alg = digestAlgorithm(digest);
    const got = `${alg}:${createHash(alg).update(data).digest('hex')}`;
    if (got !== digest) {
      await this.removeCorrupt(digest, st.ino);
      throw new OcibuildError('STORE_CORRUPT', `blob ${digest} in the store is corrupt (content hashes to ${got}); it was removed and must be fetched or built again`);
    }
    return data;
  }

  /** Mark a blob as recently used (protects it from a concurrent prune's grace period). */
  async touch(digest: Digest): Promise<void> {
    const t = new Date(this.now());
    await fs.utimes(this.blobPath(digest), t, t).catch(() => undefined);
  }

  /** Store in-memory bytes (manifests, configs). Returns at once when the blob is already there. */
  async writeBlob(data: string | Uint8Array): Promise<BlobInfo> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const digest = sha256(bytes);
    const existing = await this.stat(digest);
    if (existing && existing.size === bytes.length) {
      await this.touch(digest);
      return existing;
    }
    const w = await this.createWriter();
    try {
      w.stream.end(bytes);
    } catch (e) {
      await w.abort();
      throw e;
    }
    return w.commit({ digest, size: bytes.length });
  }

  /**
   * Stream a blob into the store: temp file, digest while writing, verify
   * against `expected`, fsync, rename. A partial or mismatching write is never
   * visible. When `expected` names a blob the store already has, the source
   * is destroyed unread (cancelling a download) and the stored blob reported.
   */
  async ingest(source: Readable, expected?: BlobInfo): Promise<BlobInfo> {
    if (expected) {
      parseDigest(expected.digest);
      const existing = await this.stat(expected.digest);
      if (existing && existing.size === expected.size) {
        source.destroy();
        await this.touch(expected.digest);
        return existing;
      }
    }
    const w = await this.createWriter({ algorithm: expected ? digestAlgorithm(expected.digest) : 'sha256' });
    try {
      await pipeline(source, w.stream);
    } catch (e) {
      await w.abort();
      if (isOcibuildError(e)) throw e;
      throw new OcibuildError('BLOB_NOT_FOUND', `could not read the blob being stored${expected ? ` (${expected.digest})` : ''}: ${(e as Error).message}`, { cause: e });
    }
    return w.commit(expected);
  }

  /** Start writing a blob of unknown digest (a layer being produced); `algorithm` defaults to sha256. */
  async createWriter(options: { algorithm?: 'sha256' | 'sha512' } = {}): Promise<BlobWriter> {
    const algorithm = options.algorithm ?? 'sha256';
    const tmp = await this.tempPath('blob');
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(tmp, 'wx', 0o644);
    } catch (e) {
      throw ioError('cannot create a temp file in the store', e);
    }
    const hash = createHash(algorithm);
    let size = 0;
    let state: 'open' | 'committed' | 'aborted' = 'open';
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await fh.close().catch(() => undefined);
    };
    const stream = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        writeAll(fh, [chunk]).then(() => cb(), cb);
      },
      writev(chunks, cb) {
        const bufs = chunks.map((c) => c.chunk as Buffer);
        for (const b of bufs) {
          hash.update(b);
          size += b.length;
        }
        writeAll(fh, bufs).then(() => cb(), cb);
      },
    });
    const abort = async () => {
      if (state !== 'open') return;
      state = 'aborted';
      if (!stream.destroyed) stream.destroy();
      await close();
      await fs.rm(tmp, { force: true });
    };
    const commit = async (expected?: Digest | BlobInfo): Promise<BlobInfo> => {
      if (state !== 'open') throw new OcibuildError('STORE_CORRUPT', `blob writer already ${state}`);
      try {
        if (!stream.writableEnded) stream.end();
        await finished(stream);
      } catch (e) {
        await abort();
        throw ioError('writing a blob into the store failed', e);
      }
      const digest = `${algorithm}:${hash.digest('hex')}` as Digest;
      const want = typeof expected === 'string' ? { digest: expected, size: undefined } : expected;
      if (want?.size !== undefined && want.size !== size) {
        await abort();
        throw new OcibuildError('SIZE_MISMATCH', `blob ${want.digest}: got ${size} bytes, expected ${want.size}`);
      }
      if (want && want.digest !== digest) {
        await abort();
        throw new OcibuildError('DIGEST_MISMATCH', `blob: expected ${want.digest}, got ${digest}`);
      }
      try {
        await fh.sync();
        await close();
        const dest = this.blobPath(digest);
        if (algorithm !== 'sha256') await fs.mkdir(path.dirname(dest), { recursive: true });
        await fs.rename(tmp, dest);
      } catch (e) {
        await abort();
        throw ioError(`cannot store blob ${digest}`, e);
      }
      state = 'committed';
      return { digest, size };
    };
    return { stream, commit, abort };
  }

  // -------------------------------------------------------------------------
  // Tags (index.json)

  private async readIndex(): Promise<StoreIndex> {
    const p = path.join(this.root, 'index.json');
    let text: string;
    try {
      text = await fs.readFile(p, 'utf8');
    } catch (e) {
      throw ioError(`cannot read ${p}`, e);
    }
    let idx: StoreIndex;
    try {
      idx = parseIndex(Buffer.from(text), undefined, p) as StoreIndex;
    } catch (e) {
      throw new OcibuildError('STORE_CORRUPT', `${p} is not a valid OCI index`, { cause: e, hint: 'restore it or remove it to start with no tags' });
    }
    return idx;
  }

  private async writeIndex(idx: StoreIndex): Promise<void> {
    const p = path.join(this.root, 'index.json');
    await this.writeFileAtomic(p, Buffer.from(JSON.stringify(idx)), 'index');
    await fsyncDir(this.root);
  }

  /** temp file in the store, fsync, rename over `dest`; the temp file is removed on failure. */
  private async writeFileAtomic(dest: string, data: Buffer, prefix: string): Promise<void> {
    const tmp = await this.tempPath(prefix);
    try {
      const fh = await fs.open(tmp, 'wx', 0o644);
      try {
        await writeAll(fh, [data]);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, dest);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw ioError(`cannot write ${dest}`, e);
    }
  }

  /**
   * Writes a small record file at `rel` (a path inside the store, such as
   * `explain/<hex>.json`) atomically: temp file, fsync, rename.
   */
  async writeRecord(rel: string, data: Buffer): Promise<void> {
    const dest = path.resolve(this.root, rel);
    if (!dest.startsWith(this.root + path.sep)) throw new OcibuildError('USAGE', `record path ${rel} leaves the store`);
    await io(`cannot create ${path.dirname(dest)}`, () => fs.mkdir(path.dirname(dest), { recursive: true }));
    await this.writeFileAtomic(dest, data, 'record');
  }

  /** Run a read-modify-write of index.json under the store lock. */
  private async updateIndex<T>(fn: (idx: StoreIndex) => Promise<T> | T): Promise<T> {
    return withLock(this.lockPath(), async () => {
      const idx = await this.readIndex();
      const before = JSON.stringify(idx);
      const result = await fn(idx);
      if (JSON.stringify(idx) !== before) await this.writeIndex(idx);
      return result;
    }, this.lockOptions);
  }

  private static tagOf(d: Descriptor): StoreTag | undefined {
    const name = d.annotations?.[ANNOTATION_REF_NAME];
    if (!name) return undefined;
    let fullName = d.annotations?.[ANNOTATION_IMAGE_NAME];
    if (!fullName) {
      try {
        fullName = formatImageName(parseImageName(name));
      } catch {
        fullName = name;
      }
    }
    return { name, fullName, descriptor: d };
  }

  /**
   * Check that every blob a manifest or index names is present (children of an
   * index may be absent: partial pulls). Returns the platform of a manifest's config.
   */
  private async checkComplete(descriptor: Descriptor): Promise<Platform | undefined> {
    let platform: Platform | undefined;
    try {
      await walkImage(
        this,
        descriptor,
        {
          blob: async (d, info) => {
            if (info && d.digest !== descriptor.digest) await this.touch(d.digest);
          },
          config: (c, manifest) => {
            if (manifest.digest === descriptor.digest) platform = { architecture: c.architecture, os: c.os, ...(c.variant ? { variant: c.variant } : {}) };
          },
        },
        { strict: true },
      );
    } catch (e) {
      if (isOcibuildError(e) && e.code === 'BLOB_NOT_FOUND' && e.message.includes(' of ')) e.message = `cannot tag ${descriptor.digest}: ${e.message}`;
      throw e;
    }
    return platform;
  }

  /**
   * Point `name` at a manifest or index already in the store (replacing what
   * the same normalized name pointed at). Every blob it references must be
   * present: a tag never points at missing content. The index.json entry
   * carries `org.opencontainers.image.ref.name` = `name` as given and
   * `io.containerd.image.name` = the full normalized name.
   */
  async tag(name: string, descriptor: Descriptor, meta: TagMeta = {}): Promise<StoreTag> {
    const parsed = parseImageName(name);
    if (parsed.digest !== undefined) throw new OcibuildError('REFERENCE_INVALID', `cannot tag an image as ${JSON.stringify(name)}: a tag cannot contain a digest`);
    if (!isManifestMediaType(descriptor.mediaType) && !isIndexMediaType(descriptor.mediaType)) {
      throw new OcibuildError('MANIFEST_INVALID', `cannot tag ${descriptor.digest}: ${JSON.stringify(descriptor.mediaType)} is not an image manifest or index`);
    }
    parseDigest(descriptor.digest);
    const fullName = meta.fullName ?? formatImageName(parsed);
    const configPlatform = await this.checkComplete(descriptor);
    const entry: Descriptor = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
    entry.annotations = { ...(meta.annotations ?? {}), [ANNOTATION_IMAGE_NAME]: fullName, [ANNOTATION_REF_NAME]: name };
    const platform = descriptor.platform ?? configPlatform;
    if (platform) entry.platform = platform;
    await this.updateIndex((idx) => {
      idx.manifests = idx.manifests.filter((d) => Store.tagOf(d)?.fullName !== fullName);
      idx.manifests.push(entry);
      idx.manifests.sort((a, b) => (Store.tagOf(a)?.fullName ?? '').localeCompare(Store.tagOf(b)?.fullName ?? ''));
    });
    return { name, fullName, descriptor: entry };
  }

  /** All tags of the store. */
  async listTags(): Promise<StoreTag[]> {
    const idx = await this.readIndex();
    return idx.manifests.map((d) => Store.tagOf(d)).filter((t): t is StoreTag => t !== undefined);
  }

  private async findTag(name: string): Promise<StoreTag | undefined> {
    const tags = await this.listTags();
    if (isDigest(name)) return tags.find((t) => t.descriptor.digest === name);
    const exact = tags.find((t) => t.name === name);
    if (exact) return exact;
    let full: string;
    try {
      full = formatImageName(parseImageName(name));
    } catch {
      return undefined;
    }
    return tags.find((t) => t.fullName === full);
  }

  /**
   * The descriptor a name points at (`app`, `app:latest` and
   * `docker.io/library/app:latest` are the same name), or the tagged image with
   * this digest when `name` is a digest; undefined when unknown.
   */
  async resolve(name: string): Promise<Descriptor | undefined> {
    return (await this.findTag(name))?.descriptor;
  }

  /** Remove a tag; returns what it pointed at, or undefined when there was no such tag. Blobs stay until prune. */
  async untag(name: string): Promise<Descriptor | undefined> {
    const found = await this.findTag(name);
    if (!found) return undefined;
    return this.updateIndex((idx) => {
      const i = idx.manifests.findIndex((d) => Store.tagOf(d)?.fullName === found.fullName);
      if (i < 0) return undefined;
      const [removed] = idx.manifests.splice(i, 1);
      return removed;
    });
  }

  /** Tagged images with size, creation time and platforms, as `ocibuild images` lists them. */
  async listImages(): Promise<ImageSummary[]> {
    const out: ImageSummary[] = [];
    for (const t of await this.listTags()) {
      let size = 0;
      const creates: string[] = [];
      const platforms: string[] = [];
      await walkImage(this, t.descriptor, {
        blob: (_d, info) => {
          size += info?.size ?? 0;
        },
        config: (config, manifest) => {
          if (typeof config.created === 'string') creates.push(config.created);
          if (!manifest.annotations?.['vnd.docker.reference.type']) platforms.push([config.os, config.architecture, config.variant].filter(Boolean).join('/'));
        },
      });
      creates.sort();
      out.push({
        name: t.name,
        fullName: t.fullName,
        digest: t.descriptor.digest,
        mediaType: t.descriptor.mediaType,
        size,
        created: creates.at(-1),
        platforms: [...new Set(platforms)],
      });
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // Step cache (kept in step-cache.ts; these stay for the Store's callers)

  /** Look up a step-cache entry (see {@link readStepRecord}). */
  async getStep<C = unknown>(key: string): Promise<StepRecord<C> | undefined> {
    return (await readStepRecord(this, key)) as StepRecord<C> | undefined;
  }

  /** Record a step result (see {@link writeStepRecord}). */
  async putStep<C = unknown>(key: string, record: StepRecord<C>): Promise<void> {
    await writeStepRecord(this, key, record);
  }

  // -------------------------------------------------------------------------
  // Garbage collection

  /** Blobs and diffIds reachable from the tags (tolerating missing or unreadable children). */
  private async markTagged(): Promise<{ blobs: Set<string>; diffIds: Set<string> }> {
    const blobs = new Set<string>();
    const diffIds = new Set<string>();
    for (const d of (await this.readIndex()).manifests) {
      await walkImage(this, d, {
        blob: (b) => void blobs.add(b.digest),
        config: (config) => {
          for (const id of config.rootfs.diff_ids) diffIds.add(id);
        },
      });
    }
    return { blobs, diffIds };
  }

  private async listDir(dir: string): Promise<string[]> {
    try {
      return await fs.readdir(dir);
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      throw e;
    }
  }

  private async treeSize(dir: string): Promise<number> {
    let total = 0;
    const walk = async (d: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else {
          const st = await fs.lstat(p).catch(() => undefined);
          if (st) total += st.size;
        }
      }
    };
    await walk(dir);
    return total;
  }

  private async removeTree(dir: string): Promise<void> {
    // Unpacked trees may hold read-only directories (as layers give them).
    const chmodWalk = async (d: string): Promise<void> => {
      await fs.chmod(d, 0o700).catch(() => undefined);
      const entries = await fs.readdir(d, { withFileTypes: true }).catch(() => []);
      for (const e of entries) if (e.isDirectory()) await chmodWalk(path.join(d, e.name));
    };
    await chmodWalk(dir);
    try {
      await fs.rm(dir, { recursive: true, force: true });
    } catch (e) {
      const code = errno(e);
      if (!this.removeForeignTree || (code !== 'EACCES' && code !== 'EPERM')) throw e;
      await this.removeForeignTree(dir);
    }
  }

  /**
   * Free space: drop step-cache entries (all, those unused for `olderThan`,
   * then least recently used ones while the store is larger than
   * `keepBytes`), then remove blobs and unpacked trees no tag and no remaining
   * step references, and stale temp files. Anything younger than the grace
   * period stays, so a concurrent build never loses what it just wrote. Runs
   * under the store lock.
   */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    const grace = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    if (!Number.isFinite(grace) || grace < 0) throw new OcibuildError('USAGE', `invalid grace period ${grace}`);
    return io('prune failed', () => this.pruneLocked(options, grace));
  }

  private async pruneLocked(options: PruneOptions, grace: number): Promise<PruneResult> {
    return withLock(this.lockPath(), async () => {
      const now = this.now();
      const oldEnough = (mtimeMs: number) => mtimeMs <= now - grace;
      const result: PruneResult = { removedBlobs: 0, removedSteps: 0, removedUnpacked: 0, removedTemp: 0, freedBytes: 0, remainingBytes: 0 };
      const tagged = await this.markTagged();

      // Step cache entries, oldest use first.
      type Step = { file: string; mtimeMs: number; record?: StepRecord };
      const steps: Step[] = [];
      const stepsDir = path.join(this.root, 'steps');
      for (const name of await this.listDir(stepsDir)) {
        const file = path.join(stepsDir, name);
        const st = await fs.stat(file).catch(() => undefined);
        if (!st) continue;
        if (!name.endsWith('.json')) {
          if (oldEnough(st.mtimeMs)) await fs.rm(file, { force: true, recursive: true });
          continue;
        }
        let record: unknown;
        try {
          record = JSON.parse(await fs.readFile(file, 'utf8'));
        } catch {
          record = undefined;
        }
        steps.push({ file, mtimeMs: st.mtimeMs, record: isStepRecord(record) ? record : undefined });
      }
      steps.sort((a, b) => a.mtimeMs - b.mtimeMs);
      const removeStep = async (s: Step) => {
        await fs.rm(s.file, { force: true });
        result.removedSteps++;
      };
      const kept: Step[] = [];
      for (const s of steps) {
        const expired = options.all || !s.record || (options.olderThan !== undefined && s.mtimeMs < now - options.olderThan);
        if (expired) await removeStep(s);
        else kept.push(s);
      }

      // Reference counts from the remaining steps.
      const stepBlobRefs = new Map<string, number>();
      const stepDiffRefs = new Map<string, number>();
      const inc = (m: Map<string, number>, k: string, by: number) => m.set(k, (m.get(k) ?? 0) + by);
      for (const s of kept) {
        if (s.record?.layer) {
          inc(stepBlobRefs, s.record.layer.digest, 1);
          inc(stepDiffRefs, s.record.layer.diffId, 1);
        }
      }

      // Inventory of blobs and unpacked trees.
      type Item = { key: string; file: string; size: number; mtimeMs: number; tree: boolean };
      const blobs = new Map<string, Item>();
      for (const alg of await this.listDir(path.join(this.root, 'blobs'))) {
        for (const hex of await this.listDir(path.join(this.root, 'blobs', alg))) {
          const file = path.join(this.root, 'blobs', alg, hex);
          const st = await fs.stat(file).catch(() => undefined);
          if (!st || !st.isFile()) continue;
          blobs.set(`${alg}:${hex}`, { key: `${alg}:${hex}`, file, size: st.size, mtimeMs: st.mtimeMs, tree: false });
        }
      }
      const trees = new Map<string, Item>();
      for (const alg of await this.listDir(path.join(this.root, 'unpacked'))) {
        for (const hex of await this.listDir(path.join(this.root, 'unpacked', alg))) {
          const file = path.join(this.root, 'unpacked', alg, hex);
          const st = await fs.stat(file).catch(() => undefined);
          if (!st) continue;
          const size = options.keepBytes !== undefined ? await this.treeSize(file) : 0;
          trees.set(`${alg}:${hex}`, { key: `${alg}:${hex}`, file, size, mtimeMs: st.mtimeMs, tree: true });
        }
      }

      const sweepBlob = async (key: string) => {
        const it = blobs.get(key);
        if (!it || tagged.blobs.has(key) || (stepBlobRefs.get(key) ?? 0) > 0 || !oldEnough(it.mtimeMs)) return;
        await fs.rm(it.file, { force: true });
        blobs.delete(key);
        result.removedBlobs++;
        result.freedBytes += it.size;
      };
      const sweepTree = async (key: string) => {
        const it = trees.get(key);
        if (!it || tagged.diffIds.has(key) || (stepDiffRefs.get(key) ?? 0) > 0 || !oldEnough(it.mtimeMs)) return;
        if (options.keepBytes === undefined) it.size = await this.treeSize(it.file);
        await this.removeTree(it.file);
        trees.delete(key);
        result.removedUnpacked++;
        result.freedBytes += it.size;
      };
      for (const key of [...blobs.keys()]) await sweepBlob(key);
      for (const key of [...trees.keys()]) await sweepTree(key);

      const total = () => {
        let n = 0;
        for (const it of blobs.values()) n += it.size;
        for (const it of trees.values()) n += it.size;
        return n;
      };
      if (options.keepBytes !== undefined) {
        let current = total();
        while (current > options.keepBytes && kept.length > 0) {
          const s = kept.shift()!;
          await removeStep(s);
          if (s.record?.layer) {
            inc(stepBlobRefs, s.record.layer.digest, -1);
            inc(stepDiffRefs, s.record.layer.diffId, -1);
            await sweepBlob(s.record.layer.digest);
            await sweepTree(s.record.layer.diffId);
          }
          current = total();
        }
      }

      // Stale temp files and directories (interrupted writes).
      const tmpDir = path.join(this.root, 'tmp');
      for (const name of await this.listDir(tmpDir)) {
        const file = path.join(tmpDir, name);
        const st = await fs.lstat(file).catch(() => undefined);
        if (!st || !oldEnough(st.mtimeMs)) continue;
        if (st.isDirectory()) {
          result.freedBytes += await this.treeSize(file);
          await this.removeTree(file);
        } else {
          result.freedBytes += st.size;
          await fs.rm(file, { force: true });
        }
        result.removedTemp++;
      }
      result.remainingBytes = total();
      return result;
    }, this.lockOptions);
  }
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
