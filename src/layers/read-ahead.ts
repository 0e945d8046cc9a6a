/**
 * Read-ahead of small files on worker threads, the way `tar | pigz` reads
 * in one process while another compresses. Measured on 20,000 small files
 * (cold page cache), reading them on the main thread serialises disk latency
 * with tar assembly and hashing; async fs calls cost ~35 µs of main-thread
 * time each. The worker opens, reads and closes files synchronously and
 * sends them back in batches (one transferred ArrayBuffer per batch).
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';

/** One file to read: its path and the size it must have. */
export interface ReadRequest {
  path: string;
  size: number;
}

/** What came back for one file. */
export type ReadResult = { ok: true; data: Buffer } | { ok: false; kind: 'io'; code?: string; message: string } | { ok: false; kind: 'size'; got: string };

/** Kept as plain JS: it runs in a worker with `eval: true` (also under ts-jest). */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', (msg) => {
  const { id, files } = msg;
  let total = 0;
  for (const f of files) total += f[1];
  const buf = Buffer.allocUnsafe(total + 1);
  const results = [];
  let off = 0;
  for (const [path, size] of files) {
    let fd = -1;
    try {
      // O_NONBLOCK: a FIFO given as a file source must not hang the reader.
      fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      if (!fs.fstatSync(fd).isFile()) {
        results.push({ kind: 'io', code: 'ENOTREG', message: 'not a regular file' });
        off += size;
        continue;
      }
      let got = 0;
      // Read into the batch buffer; one spare byte (shared, always last) tells growth.
      for (;;) {
        const room = got < size ? size - got : 1;
        const n = got < size ? fs.readSync(fd, buf, off + got, room, got) : fs.readSync(fd, buf, total, 1, got);
        if (n === 0) break;
        got += n;
        if (got > size) break;
      }
      if (got > size) results.push({ kind: 'size', got: 'it grew' });
      else if (got < size) results.push({ kind: 'size', got: 'got ' + got });
      else results.push({ off });
    } catch (e) {
      results.push({ kind: 'io', code: e.code, message: String(e.message) });
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
    off += size;
  }
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + total);
  parentPort.postMessage({ id, results, buffer: ab }, [ab]);
});
`;

interface Batch {
  start: number;
  end: number;
  done: Promise<ReadResult[]>;
}

/**
 * Batches: at most this many files or bytes each. Several workers read
 * batches at once: on a cold page cache, parallel reads keep the disk queue
 * full (measured: 20,000 files read by 1/2/4/8 parallel readers in
 * 3.6/3.0/1.5/0.95 s).
 */
const BATCH_FILES = 128;
const BATCH_BYTES = 2 * 1024 * 1024;
/** Reader threads. */
const WORKERS = 4;
/** Batches requested ahead of the consumer. */
const BATCHES_AHEAD = 2 * WORKERS;

/** Reads files synchronously on the calling thread (for a handful of files). */
export function readFileSyncChecked(req: ReadRequest): ReadResult {
  let fd: number;
  try {
    fd = fs.openSync(req.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    return { ok: false, kind: 'io', code: (e as NodeJS.ErrnoException).code, message: (e as Error).message };
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return { ok: false, kind: 'io', code: 'ENOTREG', message: 'not a regular file' };
    const buf = Buffer.allocUnsafe(req.size + 1);
    let got = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
      if (got > req.size) return { ok: false, kind: 'size', got: 'it grew' };
    }
    if (got !== req.size) return { ok: false, kind: 'size', got: `got ${got}` };
    return { ok: true, data: buf.subarray(0, got) };
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

  constructor(private readonly files: ReadRequest[]) {
    const count = Math.max(1, Math.min(WORKERS, Math.ceil(files.length / BATCH_FILES)));
    for (let i = 0; i < count; i++) this.workers.push(this.spawn());
    this.fill();
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (msg: { id: number; results: ({ off: number } | { kind: 'size'; got: string } | { kind: 'io'; code?: string; message: string })[]; buffer: ArrayBuffer }) => {
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      const buf = Buffer.from(msg.buffer);
      const start = this.starts.get(msg.id)!;
      this.starts.delete(msg.id);
      const out: ReadResult[] = msg.results.map((r, i) => {
        const req = this.files[start + i]!;
        if ('off' in r) return { ok: true, data: buf.subarray(r.off, r.off + req.size) };
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

  /** Batch id → index of its first file. */
  private readonly starts = new Map<number, number>();

  private fail(e: unknown): void {
    this.failed ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  private fill(): void {
    while (this.batches.length < BATCHES_AHEAD && this.next < this.files.length) {
      const start = this.next;
      let bytes = 0;
      let end = start;
      while (end < this.files.length && end - start < BATCH_FILES && (end === start || bytes + this.files[end]!.size <= BATCH_BYTES)) {
        bytes += this.files[end]!.size;
        end++;
      }
      this.next = end;
      const id = this.seq++;
      this.starts.set(id, start);
      const done = new Promise<ReadResult[]>((resolve, reject) => {
        if (this.failed) return reject(this.failed);
        this.waiting.set(id, { resolve, reject });
      });
      done.catch(() => undefined);
      this.workers[id % this.workers.length]!.postMessage({ id, files: this.files.slice(start, end).map((f) => [f.path, f.size]) });
      this.batches.push({ start, end, done });
    }
  }

  /** The result for file `i` (must be called with increasing `i`). */
  async take(i: number): Promise<ReadResult> {
    for (;;) {
      const b = this.batches[0];
      if (!b) throw new Error(`ReadAhead: file ${i} was not requested`);
      if (i >= b.end) {
        this.batches.shift();
        this.fill();
        continue;
      }
      const results = await b.done;
      return results[i - b.start]!;
    }
  }

  /** Stop the worker. */
  async close(): Promise<void> {
    this.fail(new Error('read-ahead closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
