import { existsSync, mkdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { OcibuildError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { BlobInfo, BlobSink, BlobSource, Descriptor } from '../oci/types.js';
import { Blobs, MAX_SMALL_BLOB, type BlobChunks, type BlobWriter } from './blobs.js';
import { GarbageCollector, type PruneOptions, type PruneResult } from './gc.js';
import { io, ioError } from './io.js';
import type { LockOptions } from './lock.js';
import { readStepRecord, writeStepRecord, type StepRecord } from './step-cache.js';
import { Tags, type ImageSummary, type StoreTag, type TagMeta } from './tags.js';
import { createIfMissing, createTempDir, keepFresh, removeOrphanedTemp, writeFileAtomic } from './temp.js';
import { ensureUnpacked, unpackedDir } from './unpacked.js';
import { readLayerIndex, writeLayerIndex } from './layer-index.js';

export type { StepLayer, StepRecord } from './step-cache.js';
export type { BlobChunks, BlobWriter } from './blobs.js';
export { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, type ImageSummary, type StoreTag, type TagMeta } from './tags.js';
export { DEFAULT_GRACE_PERIOD_MS, type PruneOptions, type PruneResult } from './gc.js';

const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

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

/**
 * The local content-addressed store: an OCI image layout (`oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`) that skopeo, umoci and podman can read,
 * plus `steps/` (the step cache), `unpacked/` (layer trees by diffId) and
 * `tmp/` (writes in progress). Blobs are written to a temp file, verified,
 * fsynced and renamed; reads verify. index.json changes are serialized by a
 * lock file, so several processes can share a store.
 *
 * A facade over one module per concern: blobs.ts, tags.ts (index.json),
 * unpacked.ts, temp.ts, gc.ts (prune) and step-cache.ts.
 */
export class Store implements BlobSource, BlobSink {
  /** Root directory of the layout. */
  readonly root: string;
  /** The store's clock (ms since epoch): last-use times of blobs, trees and step records. */
  readonly now: () => number;
  private readonly blobs: Blobs;
  private readonly tags: Tags;
  private readonly gc: GarbageCollector;

  private constructor(root: string, options: StoreOptions) {
    this.root = root;
    const lockOptions: LockOptions = options.lock ?? {};
    this.now = options.now ?? Date.now;
    this.blobs = new Blobs(root, this.now);
    this.tags = new Tags(root, lockOptions, this.blobs);
    this.gc = new GarbageCollector(root, this.now, lockOptions, this.blobs, this.tags, options.removeForeignTree);
  }

  /** Open (creating when needed) the store at `root`. */
  static async open(root: string, options: StoreOptions = {}): Promise<Store> {
    const store = new Store(path.resolve(root), options);
    await store.init();
    return store;
  }

  /**
   * Makes what is missing and checks the layout marker. The directories and the two files are
   * made, or found, with synchronous system calls: each asynchronous one is a threadpool round
   * trip that waits for the main thread between steps, and a push opens its store while its first
   * request is on its way (issue 8). What is read is read asynchronously: a read can wait (a
   * FIFO, a stalled network filesystem), and the event loop must not wait with it (a library's
   * caller, the progress display, the requests' timeouts).
   */
  private async init(): Promise<void> {
    const r = this.root;
    try {
      for (const d of [path.join('blobs', 'sha256'), 'steps', 'unpacked', 'tmp', 'locks']) mkdirSync(path.join(r, d), { recursive: true });
    } catch (e) {
      throw ioError(`cannot create the store at ${r}`, e);
    }
    if (!existsSync(path.join(r, 'oci-layout'))) await createIfMissing(r, 'oci-layout', OCI_LAYOUT);
    if (!existsSync(path.join(r, 'index.json'))) await createIfMissing(r, 'index.json', JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }));
    const [layout] = await Promise.all([io('cannot read oci-layout', () => fs.readFile(path.join(r, 'oci-layout'), 'utf8')), removeOrphanedTemp(r)]);
    let version: unknown;
    try {
      version = (JSON.parse(layout) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== '1.0.0') {
      throw new OcibuildError('STORE_CORRUPT', `${path.join(r, 'oci-layout')} is not an OCI layout 1.0.0 marker`);
    }
  }

  // -------------------------------------------------------------------------
  // Paths, unpacked trees, temp dirs

  /** Path of a blob file (whether or not it exists). */
  blobPath(digest: Digest): string {
    return this.blobs.blobPath(digest);
  }

  /**
   * Directory for the unpacked tree of the layer with this diffId (used as an
   * overlay lower dir by RUN). Populate it under `tempDir()` and rename it here.
   */
  unpackedDir(diffId: Digest): string {
    return unpackedDir(this.root, diffId);
  }

  /**
   * Keeps a tree of the store looking in use to prune (its mtime touched every minute, see
   * `keepFresh` in temp.ts) until the returned function is called: the lower dirs of a RUN, which
   * may run for longer than prune's grace period.
   */
  holdFresh(p: string): () => void {
    return keepFresh(p);
  }

  /**
   * The unpacked tree of a layer, created once: when absent, `fill(dir)`
   * populates a fresh temp directory which is then renamed into place, so a
   * tree is either complete or absent. When two processes race, the first
   * rename wins and the other copy is removed. Returns the tree's path (its
   * mtime refreshed, so prune's grace period protects a tree in use).
   */
  async ensureUnpacked(diffId: Digest, fill: (dir: string) => Promise<void>): Promise<string> {
    return ensureUnpacked(this.root, this.now, (prefix) => this.tempDir(prefix), diffId, fill);
  }

  /**
   * The header index kept for the layer blob `digest` (its entries' headers
   * in tar order, recorded once its bytes hashed to `diffId`), or undefined
   * (none, or recorded for another diffId). The caller validates the entries.
   */
  readLayerIndex(digest: Digest, diffId: Digest): Promise<unknown[] | undefined> {
    return readLayerIndex(this.root, digest, diffId);
  }

  /** Keeps a layer blob's header index: call only after its bytes hashed to `diffId`. */
  writeLayerIndex(digest: Digest, diffId: Digest, entries: readonly unknown[]): Promise<void> {
    return writeLayerIndex(this.root, digest, diffId, entries);
  }

  /** A fresh, empty directory inside the store (same filesystem, so it can be renamed into place). */
  async tempDir(prefix = 'dir'): Promise<string> {
    return createTempDir(this.root, prefix);
  }

  // -------------------------------------------------------------------------
  // Blobs (blobs.ts)

  /** True when the blob is in the store. */
  has(digest: Digest): Promise<boolean> {
    return this.blobs.has(digest);
  }

  /** Digest and size of a stored blob, or undefined. */
  stat(digest: Digest): Promise<BlobInfo | undefined> {
    return this.blobs.stat(digest);
  }

  /**
   * Stream a blob. Digest (and `size`, when given) are verified while
   * streaming: the stream fails with STORE_CORRUPT at its end when the content
   * does not match, and the corrupt file is removed. A missing blob is
   * BLOB_NOT_FOUND; a `size` that disagrees with an intact blob is SIZE_MISMATCH.
   */
  open(digest: Digest, size?: number): Promise<Readable> {
    return this.blobs.open(digest, size);
  }

  /**
   * A blob as chunks in two reused buffers, each valid until the next is asked
   * for; verified like {@link open} (the iteration fails at its end on a
   * mismatch). `close()` releases one that is not read.
   */
  openChunks(digest: Digest, size?: number): Promise<BlobChunks> {
    return this.blobs.openChunks(digest, size);
  }

  /**
   * Read a small blob (manifest, config, index) fully, verified. A corrupt
   * blob is removed and reported as STORE_CORRUPT.
   */
  readBlob(digest: Digest, maxBytes = MAX_SMALL_BLOB): Promise<Buffer> {
    return this.blobs.readBlob(digest, maxBytes);
  }

  /** Mark a blob as recently used (protects it from a concurrent prune's grace period). */
  touch(digest: Digest): Promise<void> {
    return this.blobs.touch(digest);
  }

  /** Store in-memory bytes (manifests, configs). Returns at once when the blob is already there. */
  writeBlob(data: string | Uint8Array): Promise<BlobInfo> {
    return this.blobs.writeBlob(data);
  }


  /**
   * Stream a blob into the store: temp file, digest while writing, verify
   * against `expected`, fsync, rename. A partial or mismatching write is never
   * visible. When `expected` names a blob the store already has, the source
   * is destroyed unread (cancelling a download) and the stored blob reported.
   */
  ingest(source: Readable, expected?: BlobInfo): Promise<BlobInfo> {
    return this.blobs.ingest(source, expected);
  }

  /** Start writing a blob of unknown digest (a layer being produced); `algorithm` defaults to sha256. */
  createWriter(options: { algorithm?: 'sha256' | 'sha512' } = {}): Promise<BlobWriter> {
    return this.blobs.createWriter(options);
  }

  // -------------------------------------------------------------------------
  // Records

  /**
   * Writes a small record file at `rel` (a path inside the store, such as
   * `explain/<hex>.json`) atomically: temp file, fsync, rename.
   */
  async writeRecord(rel: string, data: Buffer): Promise<void> {
    const dest = path.resolve(this.root, rel);
    if (!dest.startsWith(this.root + path.sep)) throw new OcibuildError('USAGE', `record path ${rel} leaves the store`);
    await io(`cannot create ${path.dirname(dest)}`, () => fs.mkdir(path.dirname(dest), { recursive: true }));
    await writeFileAtomic(this.root, dest, data, 'record');
  }

  // -------------------------------------------------------------------------
  // Tags (tags.ts)

  /**
   * Point `name` at a manifest or index already in the store (replacing what
   * the same normalized name pointed at). Every blob it references must be
   * present: a tag never points at missing content. The index.json entry
   * carries `org.opencontainers.image.ref.name` = `name` as given and
   * `io.containerd.image.name` = the full normalized name.
   */
  tag(name: string, descriptor: Descriptor, meta: TagMeta = {}): Promise<StoreTag> {
    return this.tags.tag(name, descriptor, meta);
  }

  /** All tags of the store. */
  listTags(): Promise<StoreTag[]> {
    return this.tags.listTags();
  }

  /**
   * The descriptor a name points at (`app`, `app:latest` and
   * `docker.io/library/app:latest` are the same name), or the tagged image with
   * this digest when `name` is a digest; undefined when unknown.
   */
  resolve(name: string): Promise<Descriptor | undefined> {
    return this.tags.resolve(name);
  }

  /** Remove a tag; returns what it pointed at, or undefined when there was no such tag. Blobs stay until prune. */
  untag(name: string): Promise<Descriptor | undefined> {
    return this.tags.untag(name);
  }

  /** Tagged images with size, creation time and platforms, as `ocibuild images` lists them. */
  listImages(): Promise<ImageSummary[]> {
    return this.tags.listImages();
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
  // Garbage collection (gc.ts)

  /**
   * Free space: drop step-cache entries (all, those unused for `olderThan`,
   * then least recently used ones while the store is larger than
   * `keepBytes`), then remove blobs and unpacked trees no tag and no remaining
   * step references, and stale temp files. Anything younger than the grace
   * period stays, so a concurrent build never loses what it just wrote. Runs
   * under the store lock.
   */
  prune(options: PruneOptions = {}): Promise<PruneResult> {
    return this.gc.prune(options);
  }
}
