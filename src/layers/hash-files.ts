/**
 * The SHA-256 of many files' contents, read ahead on the layer writer's reader
 * threads (read-ahead.ts) and hashed in order on the calling thread.
 *
 * Issue 8/12: a cold store building with a remote cache must know each COPY's
 * key before its step, so it hashes every context file first. One
 * `readFile` at a time through the libuv threadpool (open, fstat, read, close:
 * four round trips per file) took 4 s for the 20,000-file context; the reader
 * threads open, read and close in batches, as the layer writer does.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../oci/digest.js';
import { READ_AHEAD_MIN_READS, READ_RANGE, ReadAhead, readSyncChecked, type ReadList, type ReadRequest, type ReadResult } from './read-ahead.js';

/** A regular file to hash and its size as planned (a file of another size fails the read). */
export interface FileToHash {
  path: string;
  size: number;
}

/** A file's digest, and its stat identity taken from the open file after its bytes were read (files read in one range). */
export interface FileHash {
  digest: Digest;
  identity?: string;
}

/** A failed read of a file (`kind: 'size'`: it is not the size planned, or it grew while read). */
export type FileReadFailure = Extract<ReadResult, { ok: false }>;

/** The ranges of the files, in order (files of no bytes have none). */
class Ranges implements ReadList {
  /** Each range's file. */
  private readonly fileOf: Uint32Array;
  /** Each file's first range. */
  private readonly first: Uint32Array;
  readonly length: number;

  constructor(private readonly files: readonly FileToHash[]) {
    this.first = new Uint32Array(files.length);
    let n = 0;
    for (let i = 0; i < files.length; i++) {
      this.first[i] = n;
      n += Math.ceil(files[i]!.size / READ_RANGE);
    }
    this.length = n;
    this.fileOf = new Uint32Array(n);
    for (let i = 0; i < files.length; i++) this.fileOf.fill(i, this.first[i]!, this.first[i]! + Math.ceil(files[i]!.size / READ_RANGE));
  }

  firstOf(i: number): number {
    return this.first[i]!;
  }

  at(k: number): ReadRequest | undefined {
    if (!(k >= 0 && k < this.length)) return undefined;
    const f = this.files[this.fileOf[k]!]!;
    const position = (k - this.first[this.fileOf[k]!]!) * READ_RANGE;
    const length = Math.min(READ_RANGE, f.size - position);
    const last = position + length === f.size;
    return position === 0 && last ? { path: f.path, position, length, last, identity: true } : { path: f.path, position, length, last };
  }
}

const EMPTY = `sha256:${createHash('sha256').digest('hex')}` as Digest;

/**
 * Hashes `files` (in their order); a file that cannot be read, or is not of
 * its planned size, fails the whole with `fail(path, failure)`.
 */
export async function hashFiles(files: readonly FileToHash[], options: { signal?: AbortSignal; fail: (path: string, failure: FileReadFailure) => Error }): Promise<FileHash[]> {
  const ranges = new Ranges(files);
  let bytes = 0;
  for (const f of files) bytes += f.size;
  const readAhead = ranges.length >= READ_AHEAD_MIN_READS || bytes >= READ_RANGE ? new ReadAhead(ranges) : undefined;
  try {
    const out: FileHash[] = new Array(files.length);
    for (let i = 0; i < files.length; i++) {
      options.signal?.throwIfAborted();
      const f = files[i]!;
      if (f.size === 0) {
        out[i] = { digest: EMPTY };
        continue;
      }
      const h = createHash('sha256');
      let identity: string | undefined;
      for (let k = ranges.firstOf(i); ; k++) {
        const req = ranges.at(k)!;
        const r = readAhead ? await readAhead.take(k) : readSyncChecked(req);
        if (!r.ok) throw options.fail(f.path, r);
        h.update(r.data);
        identity = r.identity;
        if (req.last) break;
      }
      out[i] = identity === undefined ? { digest: `sha256:${h.digest('hex')}` as Digest } : { digest: `sha256:${h.digest('hex')}` as Digest, identity };
    }
    return out;
  } finally {
    await readAhead?.close();
  }
}
