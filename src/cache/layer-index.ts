/**
 * Header indexes of layer blobs (`headers/<alg>/<hex>.json`, by the blob's
 * digest): the entries' headers of one layer in tar order, written once that
 * blob's uncompressed bytes hashed to the diffId recorded beside them, so a
 * build reads a base's union view without decompressing its layers again.
 * Keyed by the blob and checked against the diffId asked for, an index only
 * answers for the pair that was verified: an image that pairs a known blob
 * with another diffId is read (and refused) from its bytes. Written
 * atomically (temp file, fsync, rename); a file that does not parse or names
 * another pair is ignored (and rewritten by the next full read).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { digestAlgorithm, digestHex, parseDigest, type Digest } from '../oci/digest.js';
import { errno, io, ioError } from './io.js';
import { writeFileAtomic } from './temp.js';

const VERSION = 1;

export function layerIndexPath(root: string, digest: Digest): string {
  return path.join(root, 'headers', digestAlgorithm(digest), `${digestHex(digest)}.json`);
}

/** The kept entries of the layer blob `digest`, when they were verified against `diffId`; else undefined. */
export async function readLayerIndex(root: string, digest: Digest, diffId: Digest): Promise<unknown[] | undefined> {
  parseDigest(digest);
  let text: string;
  try {
    text = await fs.readFile(layerIndexPath(root, digest), 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw ioError(`cannot read the header index of ${digest}`, e);
  }
  try {
    const doc = JSON.parse(text) as { v?: unknown; digest?: unknown; diffId?: unknown; entries?: unknown };
    if (doc.v !== VERSION || doc.digest !== digest || doc.diffId !== diffId || !Array.isArray(doc.entries)) return undefined;
    return doc.entries;
  } catch {
    return undefined;
  }
}

/** Keeps the entries of the layer blob `digest`: call only once its bytes hashed to `diffId`. */
export async function writeLayerIndex(root: string, digest: Digest, diffId: Digest, entries: readonly unknown[]): Promise<void> {
  parseDigest(digest);
  parseDigest(diffId);
  const dest = layerIndexPath(root, digest);
  await io(`cannot create ${path.dirname(dest)}`, () => fs.mkdir(path.dirname(dest), { recursive: true }));
  await writeFileAtomic(root, dest, Buffer.from(JSON.stringify({ v: VERSION, digest, diffId, entries })), 'headers');
}
