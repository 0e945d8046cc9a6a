/**
 * The store's blobs (`blobs/<alg>/<hex>`): written to a temp file, hashed
 * while streaming, verified, fsynced and renamed; reads verify digest and
 * size, and a corrupt blob is removed so it can be fetched again.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, promises as fs, writeSync as writeSyncFd, type Stats } from 'node:fs';
import path from 'node:path';
import { Transform, Writable, pipeline as pipelineCb, type Readable, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { OcibuildError, isOcibuildError } from '../errors.js';
import { digestAlgorithm, digestHex, parseDigest, sha256, type Digest } from '../oci/digest.js';
import type { BlobInfo, BlobSink, BlobSource, GrowingBlob } from '../oci/types.js';
import { errno, ioError, writeAll } from './io.js';
import { keepFresh, tempPath } from './temp.js';

export const MAX_SMALL_BLOB = 64 * 1024 * 1024;

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
  /**
   * Write a chunk at once, instead of through `stream` (never both): hashed and
   * written before it returns, so the caller may reuse its buffer (a download
   * reading into one buffer). Throws STORE_IO when the write fails.
   */
  writeSync(chunk: Buffer): void;
  /** Drop the partial blob. Idempotent; a no-op after commit. */
  abort(): Promise<void>;
  /**
   * Read the blob while it is written (a layer uploaded before its digest is
   * known): the temp file opened for reading, told of each write once it is
   * in the file; it reads on after the commit renamed the file. The caller
   * closes it. STORE_IO once the writer is no longer open.
   */
  follow(): Promise<GrowingBlob>;
}

/** Where a blob being written stands, for its followers: bytes in the file, the end, the commit. */
class WriteProgress {
  written = 0;
  finished = false;
  error: Error | undefined;
  readonly committed: Promise<BlobInfo>;
  resolveCommitted!: (info: BlobInfo) => void;
  private rejectCommitted!: (e: Error) => void;
  private waiters: Array<() => void> = [];

  constructor() {
    this.committed = new Promise<BlobInfo>((resolve, reject) => {
      this.resolveCommitted = resolve;
      this.rejectCommitted = reject;
    });
    this.committed.catch(() => undefined); // a follower that never asks is no unhandled rejection
  }

  /** `n` more bytes are in the file. */
  advance(n: number): void {
    this.written += n;
    if (this.waiters.length > 0) this.wake();
  }

  /** Every byte is in the file. */
  finish(): void {
    this.finished = true;
    this.wake();
  }

  fail(e: Error): void {
    this.error ??= e;
    this.rejectCommitted(this.error);
    this.wake();
  }

  /** Resolves at the next change (bytes written, the end, a failure). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * A blob being written is flushed to disk in the background each time this many more bytes are in
 * its file, so that its commit's fsync waits for the last part only (issue 8: the fsync of a 220 MB
 * layer written in one go took 0.45 s of the build, after the layer's last byte). Both ways in
 * count: the stream (a layer being written) and writeSync (a download); for the pull of the 213 MB
 * image the second made 0.88x wall (paired, 10 runs). 8 MiB gained nothing on the 43 MB image: an
 * fdatasync of 8 MiB took 36-43 ms while the download wrote on, as long as the final one.
 */
const SYNC_AHEAD_BYTES = 32 * 1024 * 1024;

/** Bytes a follower reads at once (and waits for, until the blob's end). */
const FOLLOW_CHUNK = 1024 * 1024;

/** The reading side of a blob being written (see {@link BlobWriter.follow}). */
class FollowedBlob implements GrowingBlob {
  private closed = false;
  private wakeOnClose!: () => void;
  /** Resolves at close: every wait ends then. */
  private readonly closing = new Promise<void>((resolve) => (this.wakeOnClose = resolve));

  constructor(
    private readonly fh: fs.FileHandle,
    private readonly progress: WriteProgress,
  ) {}

  /** The next change of the writing, or the close. */
  private changed(): Promise<void> {
    return Promise.race([this.progress.changed(), this.closing]);
  }

  get written(): number {
    return this.progress.written;
  }

  get committed(): Promise<BlobInfo> {
    return this.progress.committed;
  }

  async reached(bytes: number): Promise<boolean> {
    const p = this.progress;
    for (;;) {
      if (p.written >= bytes) return true;
      if (p.finished || p.error || this.closed) return false;
      await this.changed();
    }
  }

  chunks(): AsyncIterable<Buffer> & { close(): Promise<void> } {
    const gen = this.read();
    return {
      [Symbol.asyncIterator]: () => gen,
      close: async () => {
        await gen.return(undefined);
      },
    };
  }

  private async *read(): AsyncGenerator<Buffer, void, undefined> {
    const p = this.progress;
    const buf = Buffer.allocUnsafeSlow(FOLLOW_CHUNK);
    let pos = 0;
    for (;;) {
      if (this.closed) throw new OcibuildError('STORE_IO', 'the blob being written was closed while it was read');
      if (p.error) throw p.error;
      const available = p.written - pos;
      if (available >= FOLLOW_CHUNK || (p.finished && available > 0)) {
        const n = Math.min(available, FOLLOW_CHUNK);
        let got = 0;
        while (got < n) {
          let bytesRead: number;
          try {
            ({ bytesRead } = await this.fh.read(buf, got, n - got, pos + got));
          } catch (e) {
            throw ioError('cannot read the blob being written', e);
          }
          if (bytesRead === 0) throw new OcibuildError('STORE_IO', `the blob being written ends at byte ${pos + got}, before the ${p.written} bytes written`);
          got += bytesRead;
        }
        pos += n;
        yield buf.subarray(0, n);
        continue;
      }
      if (p.finished) return;
      await this.changed();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeOnClose();
    await this.fh.close().catch(() => undefined);
  }
}

/** Hash a file (to tell a corrupt blob from a wrong descriptor). */
async function hashFile(file: string, algorithm: 'sha256' | 'sha512'): Promise<string> {
  const h = createHash(algorithm);
  await pipeline(createReadStream(file), new Writable({ write: (c: Buffer, _e, cb) => (h.update(c), cb()) }));
  return `${algorithm}:${h.digest('hex')}`;
}

/**
 * Checks a blob read from the store, chunk by chunk: on a mismatch it removes
 * the corrupt file (so it can be fetched again) and fails with STORE_CORRUPT.
 */
class ReadCheck {
  private readonly hash: Hash;
  private bytes = 0;
  constructor(
    private readonly digest: Digest,
    private readonly size: number,
    private readonly onCorrupt: () => Promise<void>,
  ) {
    this.hash = createHash(digestAlgorithm(digest));
  }
  /** Hash a chunk; rejects when the blob grew beyond its size. */
  update(chunk: Buffer): Promise<void> | undefined {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    return this.bytes > this.size ? this.fail(`grew beyond its ${this.size} bytes while being read`) : undefined;
  }
  /** At the end: rejects unless size and digest match. */
  end(): Promise<void> | undefined {
    const got = `${digestAlgorithm(this.digest)}:${this.hash.digest('hex')}`;
    if (this.bytes !== this.size) return this.fail(`has ${this.bytes} bytes, expected ${this.size}`);
    if (got !== this.digest) return this.fail(`content hashes to ${got}`);
    return undefined;
  }
  private async fail(why: string): Promise<never> {
    const err = new OcibuildError('STORE_CORRUPT', `blob ${this.digest} in the store is corrupt (${why}); it was removed and must be fetched or built again`);
    await this.onCorrupt().catch(() => undefined);
    throw err;
  }
}

/** A stream over a {@link ReadCheck}: fails at the end on a mismatch. */
class BlobReadVerifier extends Transform {
  constructor(private readonly check: ReadCheck) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    const bad = this.check.update(chunk);
    if (bad) bad.then(() => cb(), cb);
    else cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const bad = this.check.end();
    if (bad) bad.then(() => cb(), cb);
    else cb();
  }
}

/** Bytes read at once by {@link Blobs.openChunks} (two such buffers per blob being read). */
const CHUNK_BYTES = 1024 * 1024;

/**
 * The chunks of one blob, read once (see {@link Blobs.openChunks}); `close()`
 * releases a blob that is not read (a request that failed before its body).
 */
export class BlobChunks implements AsyncIterable<Buffer> {
  private state: 'new' | 'reading' | 'done' = 'new';
  constructor(
    private readonly digest: Digest,
    private readonly fh: fs.FileHandle,
    private readonly check: ReadCheck,
  ) {}

  /** Close the file unless it is being read (the iteration closes it at its end). */
  async close(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'done';
    await this.fh.close().catch(() => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    if (this.state !== 'new') throw new OcibuildError('STORE_IO', `blob ${this.digest} was already read or closed`);
    this.state = 'reading';
    const { fh, check } = this;
    const bufs = [Buffer.allocUnsafeSlow(CHUNK_BYTES), Buffer.allocUnsafeSlow(CHUNK_BYTES)];
    let pos = 0;
    let i = 0;
    try {
      let { bytesRead } = await fh.read(bufs[0]!, 0, CHUNK_BYTES, 0);
      if (bytesRead === 0) {
        await check.end();
        return;
      }
      let chunk = bufs[0]!.subarray(0, bytesRead);
      pos += bytesRead;
      await check.update(chunk);
      for (;;) {
        // The next chunk is read (into the other buffer) before this one goes out, so the last
        // one is held back until the whole blob verified: a corrupt blob never leaves complete,
        // and a request carrying it can only fail (a registry cannot take it as whole).
        i ^= 1;
        ({ bytesRead } = await fh.read(bufs[i]!, 0, CHUNK_BYTES, pos));
        if (bytesRead === 0) {
          await check.end();
          yield chunk;
          return;
        }
        yield chunk;
        chunk = bufs[i]!.subarray(0, bytesRead);
        pos += bytesRead;
        await check.update(chunk);
      }
    } catch (e) {
      throw isOcibuildError(e) ? e : ioError(`cannot read blob ${this.digest}`, e);
    } finally {
      this.state = 'done';
      await fh.close().catch(() => undefined);
    }
  }
}

/** The blobs of the store at `root`; `now` is the store's clock (last-use times). */
export class Blobs implements BlobSource, BlobSink {
  constructor(
    readonly root: string,
    private readonly now: () => number,
  ) {}

  /** Path of a blob file (whether or not it exists). */
  blobPath(digest: Digest): string {
    return path.join(this.root, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

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
    const { fh, check } = await this.openChecked(digest, size);
    const file = fh.createReadStream({ highWaterMark: 256 * 1024 });
    const verifier = new BlobReadVerifier(check);
    pipelineCb(file, verifier, () => undefined);
    return verifier;
  }

  /** Open a blob for reading, its size checked against `size`, with the check of its content. */
  private async openChecked(digest: Digest, size?: number): Promise<{ fh: fs.FileHandle; check: ReadCheck }> {
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
    return { fh, check: new ReadCheck(digest, st.size, () => this.removeCorrupt(digest, st.ino)) };
  }

  /**
   * A blob as chunks in two buffers that are reused: each chunk is valid until
   * the next one is asked for (the next is read meanwhile), so a blob is read
   * and sent without fresh memory for every read (issue 8: page faults on
   * fresh buffers cost more than hashing; reading a 43 MB blob took 0.30 s
   * through a stream, 0.05 s so). Verified like {@link open}: the last step
   * fails with STORE_CORRUPT (and removes the file) on a mismatch, before
   * the iteration ends. For consumers that are done with a chunk when they
   * ask for the next (the registry transport writes each before).
   */
  async openChunks(digest: Digest, size?: number): Promise<BlobChunks> {
    const { fh, check } = await this.openChecked(digest, size);
    return new BlobChunks(digest, fh, check);
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
    const tmp = tempPath(this.root, 'blob');
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(tmp, 'wx', 0o644);
    } catch (e) {
      throw ioError('cannot create a temp file in the store', e);
    }
    const letGo = keepFresh(tmp); // a blob can wait on its source (a slow registry, a long RUN's output) longer than prune's grace
    const hash = createHash(algorithm);
    let size = 0;
    let state: 'open' | 'committed' | 'aborted' = 'open';
    const progress = new WriteProgress();
    let closed = false;
    /** A background flush of what is in the file (see SYNC_AHEAD_BYTES), and the bytes it covers. */
    let syncing: Promise<void> | undefined;
    let synced = 0;
    const syncAhead = () => {
      if (syncing || closed || progress.written - synced < SYNC_AHEAD_BYTES) return;
      synced = progress.written;
      // Only an early start of the commit's own fsync: a failure here is the commit's to report.
      syncing = fh.datasync().then(
        () => void (syncing = undefined),
        () => void (syncing = undefined),
      );
    };
    const close = async () => {
      if (closed) return;
      closed = true;
      await syncing;
      await fh.close().catch(() => undefined);
    };
    const stream = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        writeAll(fh, [chunk]).then(() => {
          progress.advance(chunk.length);
          syncAhead();
          cb();
        }, cb);
      },
      writev(chunks, cb) {
        const bufs = chunks.map((c) => c.chunk as Buffer);
        let n = 0;
        for (const b of bufs) {
          hash.update(b);
          n += b.length;
        }
        size += n;
        writeAll(fh, bufs).then(() => {
          progress.advance(n);
          syncAhead();
          cb();
        }, cb);
      },
    });
    stream.on('finish', () => progress.finish());
    const writeSync = (chunk: Buffer): void => {
      if (state !== 'open' || closed || stream.writableLength > 0 || stream.writableEnded) throw new OcibuildError('STORE_IO', `blob writer already ${state}`);
      hash.update(chunk);
      size += chunk.length;
      try {
        for (let off = 0; off < chunk.length; ) off += writeSyncFd(fh.fd, chunk, off, chunk.length - off);
      } catch (e) {
        throw ioError('writing a blob into the store failed', e);
      }
      progress.advance(chunk.length);
      syncAhead();
    };
    const abort = async () => {
      if (state !== 'open') return;
      state = 'aborted';
      progress.fail(new OcibuildError('STORE_IO', 'the blob was not written (its writing failed or was dropped)'));
      if (!stream.destroyed) stream.destroy();
      letGo();
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
        await syncing;
        await fh.sync();
        await close();
        const dest = this.blobPath(digest);
        if (algorithm !== 'sha256') await fs.mkdir(path.dirname(dest), { recursive: true });
        await fs.rename(tmp, dest);
        letGo();
      } catch (e) {
        await abort();
        throw ioError(`cannot store blob ${digest}`, e);
      }
      state = 'committed';
      progress.resolveCommitted({ digest, size });
      return { digest, size };
    };
    const follow = async (): Promise<GrowingBlob> => {
      if (state !== 'open') throw new OcibuildError('STORE_IO', `blob writer already ${state}`);
      let rfh: fs.FileHandle;
      try {
        rfh = await fs.open(tmp, 'r');
      } catch (e) {
        throw ioError('cannot open the blob being written', e);
      }
      return new FollowedBlob(rfh, progress);
    };
    return { stream, commit, writeSync, abort, follow };
  }
}
