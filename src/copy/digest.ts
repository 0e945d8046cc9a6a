/**
 * A digest of what a COPY/ADD step puts in its layer, for the step cache
 * (DESIGN: "a Merkle hash of the selected files' bytes, modes and names").
 * mtimes are left out, as BuildKit leaves them out of COPY cache keys.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { OcibuildError } from '../errors.js';
import { DigestStream, sha256, type Digest } from '../oci/digest.js';
import type { LayerEntry, LayerEntryList } from '../layers/types.js';
import { compareFsNames, fsPath } from '../fs-names.js';

/** Options of {@link entriesDigest}. */
export interface EntriesDigestOptions {
  /**
   * Digest of a file's bytes. Default: stream it through SHA-256. A stat
   * cache (path, size, mtime, inode → digest) plugs in here to keep warm
   * rebuilds from re-reading the context. `index`: the entry's in the list given.
   */
  hashFile?: (path: string, size: number, index: number) => Promise<Digest>;
  /** Files hashed at once (default 8). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** SHA-256 of a file on disk, checking it still has `size` bytes. */
export async function hashPath(file: string, size: number): Promise<Digest> {
  const ds = new DigestStream('sha256');
  try {
    await pipeline(fs.createReadStream(fsPath(file)), ds, async function* (src) {
      for await (const _ of src) {
        // drain: the digest is computed in the transform
      }
    });
  } catch (e) {
    throw new OcibuildError('CONTEXT_NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  if (ds.size !== size) {
    throw new OcibuildError('LAYER_INVALID', `${file} changed while being read (${ds.size} bytes, expected ${size})`);
  }
  return ds.digest;
}

/**
 * SHA-256 over the canonical listing of `entries` sorted by path: path,
 * type, mode, uid, gid, link name, device numbers, size and the SHA-256 of
 * each file's bytes. Equal digests mean equal layers up to mtimes.
 */
export async function entriesDigest(entries: LayerEntryList, options: EntriesDigestOptions = {}): Promise<Digest> {
  // The order as indices, each entry made when its window comes (a list that makes its entries
  // when asked for keeps none of them for long; issue 8: memory).
  const paths: string[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) paths[i] = entries.at(i)!.path;
  const sorted = Uint32Array.from(paths.keys()).sort((a, b) => compareFsNames(paths[a]!, paths[b]!));
  paths.length = 0;
  const hashFile = options.hashFile ?? hashPath;
  const h = createHash('sha256');
  // A window of entries at a time: their contents' digests are kept only until their rows are
  // hashed (not a digest string per file of the whole layer at once; issue 8: memory).
  const contents: (Digest | undefined)[] = new Array(Math.min(sorted.length, DIGEST_WINDOW));
  const inWindow: LayerEntry[] = new Array(Math.min(sorted.length, DIGEST_WINDOW));
  for (let start = 0; start < sorted.length; start += DIGEST_WINDOW) {
    const end = Math.min(sorted.length, start + DIGEST_WINDOW);
    contents.fill(undefined);
    for (let i = start; i < end; i++) inWindow[i - start] = entries.at(sorted[i]!)!;
    let next = start;
    const worker = async () => {
      while (next < end) {
        const i = next++;
        const e = inWindow[i - start]!;
        if (e.type !== 'file') continue;
        options.signal?.throwIfAborted();
        const s = e.source;
        let d: Digest;
        if (!s) d = sha256(new Uint8Array(0));
        else if (s.kind === 'buffer') d = sha256(s.data);
        else if (s.kind === 'path') d = await hashFile(s.path, e.size ?? 0, sorted[i]!);
        else {
          const ds = new DigestStream('sha256');
          await pipeline(await s.open(), ds, async function* (src) {
            for await (const _ of src) {
              // drain
            }
          });
          d = ds.digest;
        }
        contents[i - start] = d;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker));
    for (let i = start; i < end; i++) {
      const e = inWindow[i - start]!;
      const row = [e.path, e.type, e.mode, e.uid, e.gid, e.linkname ?? '', e.devmajor ?? 0, e.devminor ?? 0, e.type === 'file' ? e.size ?? 0 : 0, contents[i - start] ?? ''];
      h.update(JSON.stringify(row));
      h.update('\n');
    }
  }
  return `sha256:${h.digest('hex')}` as Digest;
}

/** Entries whose contents are digested before their rows are hashed (see {@link entriesDigest}). */
const DIGEST_WINDOW = 1024;
