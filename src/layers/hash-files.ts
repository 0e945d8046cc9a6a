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
import { sha256, type Digest } from '../oci/digest.js';
import { FileReads, readSyncChecked, type ReadResult } from './read-ahead.js';

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

const EMPTY = sha256('');

/**
 * Hashes `files` (in their order); a file that cannot be read, or is not of
 * its planned size, fails the whole with `fail(path, failure)`.
 */
export async function hashFiles(files: readonly FileToHash[], options: { signal?: AbortSignal; fail: (path: string, failure: FileReadFailure) => Error }): Promise<FileHash[]> {
  const reads = new FileReads({ length: files.length, readsFile: (i) => files[i]!.size > 0, size: (i) => files[i]!.size, file: (i) => files[i]!.path }, true);
  const readAhead = reads.readAhead();
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
      for (let k = reads.first(i); ; k++) {
        const req = reads.at(k)!;
        const r = readAhead ? await readAhead.take(k) : readSyncChecked(req);
        if (!r.ok) throw options.fail(f.path, r);
        h.update(r.data);
        identity = r.identity;
        if (req.last) break;
      }
      const digest = `sha256:${h.digest('hex')}` as Digest;
      out[i] = identity === undefined ? { digest } : { digest, identity };
    }
    return out;
  } finally {
    await readAhead?.close();
  }
}
