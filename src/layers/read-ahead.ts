/**
 * Read-ahead of file contents on worker threads, the way `tar | pigz` reads
 * in one process while another compresses. Measured on 20,000 small files
 * (cold page cache), reading them on the main thread serialises disk latency
 * with tar assembly and hashing; async fs calls cost ~35 µs of main-thread
 * time each and share the libuv threadpool with gzip, so big-file reads
 * queued behind compression jobs. Workers open, read and close files
 * synchronously and send them back in batches (one transferred ArrayBuffer
 * per batch); big files are split into ranges read in parallel.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { fsPath } from '../fs-names.js';
import { statIdentity } from '../stat-identity.js';

/** Files are read in ranges of at most this size (big files: several ranges, read in parallel). */
export const READ_RANGE = 1024 * 1024;

/** With fewer reads than this and less than READ_RANGE bytes in all, files are read inline, without workers. */
const READ_AHEAD_MIN_READS = 64;

/**
 * One read: `length` bytes of `path` at `position`. The file must be a
 * regular file; on the `last` read of a file, one more byte is tried to
 * notice a file that grew.
 */
export interface ReadRequest {
  path: string;
  position: number;
  length: number;
  last: boolean;
  /**
   * For a whole file read at once: also return the file's stat identity
   * (src/stat-identity.ts) taken from the open file after its bytes were read, so a
   * stat cache can tell the bytes belong to the identity it planned with
   * without another stat of every path (issue 8: ~0.3 s on 20,000 files).
   */
  identity?: boolean;
}

/**
 * The reads, in order: an array, or a view that makes each request when it is
 * asked for (the layer writer's: a request object per file range for the
 * whole layer was ~11 MB on 100,000 files; issue 8: memory).
 */
export interface ReadList {
  readonly length: number;
  at(index: number): ReadRequest | undefined;
}

/** A list of entries, some read from files on disk (the layer writer's, in write order; {@link hashFiles}' files). */
export interface FileList {
  readonly length: number;
  /** True when entry `i` has bytes to read from a file on disk (its size is above 0). */
  readsFile(i: number): boolean;
  size(i: number): number;
  file(i: number): string;
}

/**
 * The reads of a list's files, in its order, made when asked for (a request object per range kept
 * for a whole layer was ~11 MB on 100,000 files; issue 8: memory): ranges of at most READ_RANGE
 * bytes, read `k` of the file of entry `fileAt[k]`.
 */
export class FileReads implements ReadList {
  readonly length: number;
  /** The bytes of every read. */
  readonly bytes: number;
  /** Each entry's first read (-1: none). */
  private readonly firstRead: Int32Array;
  /** The entry of each read. */
  private readonly fileAt: Uint32Array;

  constructor(
    private readonly list: FileList,
    /** Ask for the identity of each file read whole in one piece. */
    private readonly identities: boolean,
  ) {
    this.firstRead = new Int32Array(list.length).fill(-1);
    let count = 0;
    let bytes = 0;
    for (let i = 0; i < list.length; i++) {
      if (!list.readsFile(i)) continue;
      this.firstRead[i] = count;
      count += Math.ceil(list.size(i) / READ_RANGE);
      bytes += list.size(i);
    }
    this.length = count;
    this.bytes = bytes;
    this.fileAt = new Uint32Array(count);
    for (let i = 0; i < list.length; i++) {
      const first = this.firstRead[i]!;
      if (first >= 0) this.fileAt.fill(i, first, first + Math.ceil(list.size(i) / READ_RANGE));
    }
  }

  /** Entry `i`'s first read, or -1 when it reads no file. */
  first(i: number): number {
    return this.firstRead[i]!;
  }

  at(k: number): ReadRequest | undefined {
    if (!(k >= 0 && k < this.length)) return undefined;
    const i = this.fileAt[k]!;
    const size = this.list.size(i);
    const path = this.list.file(i);
    const position = (k - this.firstRead[i]!) * READ_RANGE;
    const length = Math.min(READ_RANGE, size - position);
    const last = position + length === size;
    return this.identities && position === 0 && last ? { path, position, length, last, identity: true } : { path, position, length, last };
  }

  /** Reader threads for these reads when there are enough of them to pay for the threads; else undefined (read inline with {@link readSyncChecked}). */
  readAhead(): ReadAhead | undefined {
    return this.length >= READ_AHEAD_MIN_READS || this.bytes >= READ_RANGE ? new ReadAhead(this) : undefined;
  }
}

/** What came back for one read. */
export type ReadResult = { ok: true; data: Buffer; identity?: string } | { ok: false; kind: 'io'; code?: string; message: string } | { ok: false; kind: 'size'; got: string };

/** Kept as plain JS: it runs in a worker with `eval: true` (also under ts-jest). */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', (msg) => {
  const { id, reads } = msg;
  let total = 0;
  for (const r of reads) total += r[2];
  // One spare byte at the end, shared, to probe for growth.
  const ab = new ArrayBuffer(total + 1);
  const buf = Buffer.from(ab);
  const results = [];
  let off = 0;
  for (const [path, position, length, last, wantIdentity] of reads) {
    let fd = -1;
    try {
      // O_NONBLOCK: a FIFO given as a file source must not hang the reader.
      fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      if (!fs.fstatSync(fd).isFile()) {
        results.push({ kind: 'io', code: 'ENOTREG', message: 'not a regular file' });
      } else {
        let got = 0;
        while (got < length) {
          const n = fs.readSync(fd, buf, off + got, length - got, position + got);
          if (n === 0) break;
          got += n;
        }
        if (got < length) results.push({ kind: 'size', got: 'got ' + (position + got) });
        else if (last && fs.readSync(fd, buf, total, 1, position + length) > 0) results.push({ kind: 'size', got: 'it grew' });
        else if (wantIdentity) {
          // statIdentity of src/stat-identity.ts (this source runs alone in its thread).
          const st = fs.fstatSync(fd, { bigint: true });
          results.push({ off, identity: [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':') });
        } else results.push({ off });
      }
    } catch (e) {
      results.push({ kind: 'io', code: e.code, message: String(e.message) });
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
    off += length;
  }
  parentPort.postMessage({ id, results, buffer: ab }, [ab]);
});
`;

interface Batch {
  start: number;
  end: number;
  done: Promise<ReadResult[]>;
  settled: boolean;
}

/**
 * Batches: at most this many files or bytes each. Several workers read
 * batches at once: on a cold page cache, parallel reads keep the disk queue
 * full (measured: 20,000 files read by 1/2/4/8 parallel readers in
 * 3.6/3.0/1.5/0.95 s).
 */
const BATCH_FILES = 128;
const BATCH_BYTES = 2 * 1024 * 1024;
/**
 * Reader threads: two to start, up to four when the consumer keeps waiting
 * for them (a cold page cache: reads wait on the disk). Measured on 20,000
 * files in the page cache (issue 8): 2 readers build in 3.09 s and 185 MB
 * peak RSS, 4 in 3.45 s and 206 MB (each thread is ~10 MB, and on 2 cores the
 * extra ones only compete with gzip).
 */
const WORKERS_START = 2;
const WORKERS_MAX = 4;
/** A wait for a batch longer than this is a slow read... */
const SLOW_WAIT_MS = 30;
/** ...and this many of them add a reader. */
const SLOW_WAITS_PER_WORKER = 2;

/** Does one read synchronously on the calling thread (for a handful of small files). */
export function readSyncChecked(req: ReadRequest): ReadResult {
  let fd: number;
  try {
    fd = fs.openSync(fsPath(req.path), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    return { ok: false, kind: 'io', code: (e as NodeJS.ErrnoException).code, message: (e as Error).message };
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return { ok: false, kind: 'io', code: 'ENOTREG', message: 'not a regular file' };
    const buf = Buffer.allocUnsafe(req.length + 1);
    let got = 0;
    while (got < req.length) {
      const n = fs.readSync(fd, buf, got, req.length - got, req.position + got);
      if (n === 0) break;
      got += n;
    }
    if (got < req.length) return { ok: false, kind: 'size', got: `got ${req.position + got}` };
    if (req.last && fs.readSync(fd, buf, req.length, 1, req.position + req.length) > 0) return { ok: false, kind: 'size', got: 'it grew' };
    if (req.identity) {
      const st = fs.fstatSync(fd, { bigint: true });
      return { ok: true, data: buf.subarray(0, req.length), identity: statIdentity(st) };
    }
    return { ok: true, data: buf.subarray(0, req.length) };
  } catch (e) {
    return { ok: false, kind: 'io', code: (e as NodeJS.ErrnoException).code, message: (e as Error).message };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a fixed list of files, in order, ahead of the consumer on a few
 * worker threads. `take(i)` returns file i's bytes (requests are consumed in
 * increasing order). `close()` must be called (it terminates the worker).
 */
export class ReadAhead {
  private readonly workers: Worker[] = [];
  private readonly batches: Batch[] = [];
  private next = 0;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: ReadResult[]) => void; reject: (e: unknown) => void }>();
  private failed: unknown;
  private slowWaits = 0;

  /** A wait for a batch longer than this (ms) is a slow read (tests set it). */
  private readonly slowWaitMs: number;

  constructor(
    private readonly reads: ReadList,
    options: { slowWaitMs?: number } = {},
  ) {
    this.slowWaitMs = options.slowWaitMs ?? SLOW_WAIT_MS;
    const count = Math.max(1, Math.min(WORKERS_START, Math.ceil(reads.length / BATCH_FILES)));
    for (let i = 0; i < count; i++) this.workers.push(this.spawn());
    this.fill();
  }

  private spawn(): Worker {
    // A reader allocates little on its heap (bytes go to the transferred ArrayBuffer): a small young
    // generation keeps each thread's share of the peak RSS down (issue 8: memory).
    const worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    worker.unref();
    worker.on('message', (msg: { id: number; results: ({ off: number; identity?: string } | { kind: 'size'; got: string } | { kind: 'io'; code?: string; message: string })[]; buffer: ArrayBuffer }) => {
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      const buf = Buffer.from(msg.buffer);
      const lengths = this.lengths.get(msg.id)!;
      this.lengths.delete(msg.id);
      const out: ReadResult[] = msg.results.map((r, i) => {
        if ('off' in r) {
          const length = lengths[i]!;
          return r.identity === undefined ? { ok: true, data: buf.subarray(r.off, r.off + length) } : { ok: true, data: buf.subarray(r.off, r.off + length), identity: r.identity };
        }
        if (r.kind === 'size') return { ok: false, kind: 'size', got: r.got };
        return { ok: false, kind: 'io', code: r.code, message: r.message };
      });
      w.resolve(out);
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => {
      if (this.waiting.size > 0) this.fail(new Error(`read-ahead worker exited with code ${code}`));
    });
    return worker;
  }

  /** Batch id → the length of each of its reads (as requested: the list is not asked again). */
  private readonly lengths = new Map<number, number[]>();

  private fail(e: unknown): void {
    this.failed ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  private fill(): void {
    // Batches requested ahead of the consumer: two per reader.
    while (this.batches.length < 2 * this.workers.length && this.next < this.reads.length) {
      const start = this.next;
      let bytes = 0;
      let end = start;
      const requests: [ReturnType<typeof fsPath>, number, number, boolean, boolean][] = [];
      const lengths: number[] = [];
      while (end < this.reads.length && end - start < BATCH_FILES) {
        const r = this.reads.at(end)!;
        if (end > start && bytes + r.length > BATCH_BYTES) break;
        bytes += r.length;
        requests.push([fsPath(r.path), r.position, r.length, r.last, r.identity === true]);
        lengths.push(r.length);
        end++;
      }
      this.next = end;
      const id = this.seq++;
      this.lengths.set(id, lengths);
      const done = new Promise<ReadResult[]>((resolve, reject) => {
        if (this.failed) return reject(this.failed);
        this.waiting.set(id, { resolve, reject });
      });
      const batch: Batch = { start, end, done, settled: false };
      done.then(
        () => (batch.settled = true),
        () => undefined,
      );
      this.workers[id % this.workers.length]!.postMessage({ id, reads: requests });
      this.batches.push(batch);
    }
  }

  /** The result for read `i` (must be called with increasing `i`). */
  async take(i: number): Promise<ReadResult> {
    for (;;) {
      const b = this.batches[0];
      if (!b) throw new Error(`ReadAhead: read ${i} was not requested`);
      if (i >= b.end) {
        this.batches.shift();
        this.fill();
        continue;
      }
      if (b.settled) return (await b.done)[i - b.start]!;
      const t0 = performance.now();
      const results = await b.done;
      if (performance.now() - t0 > this.slowWaitMs && ++this.slowWaits >= SLOW_WAITS_PER_WORKER && this.workers.length < WORKERS_MAX && !this.failed) {
        this.slowWaits = 0;
        this.workers.push(this.spawn());
        this.fill();
      }
      return results[i - b.start]!;
    }
  }

  /** Reader threads running now. */
  get readers(): number {
    return this.workers.length;
  }

  /** Stop the worker. */
  async close(): Promise<void> {
    this.fail(new Error('read-ahead closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
