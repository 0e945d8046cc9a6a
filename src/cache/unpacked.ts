/**
 * Unpacked layer trees by diffId (`unpacked/<alg>/<hex>`): what RUN mounts as
 * overlay lower dirs and COPY --from reads. A tree is filled in a temp dir and
 * renamed into place, so it is either complete or absent.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { digestAlgorithm, digestHex, parseDigest, type Digest } from '../oci/digest.js';
import { errno, io, ioError, removeTree } from './io.js';

/**
 * Directory for the unpacked tree of the layer with this diffId (used as an
 * overlay lower dir by RUN). Populate it under `tempDir()` and rename it here.
 */
export function unpackedDir(root: string, diffId: Digest): string {
  return path.join(root, 'unpacked', digestAlgorithm(diffId), digestHex(diffId));
}

/**
 * The unpacked tree of a layer, created once: when absent, `fill(dir)`
 * populates a fresh temp directory which is then renamed into place, so a
 * tree is either complete or absent. When two processes race, the first
 * rename wins and the other copy is removed. Returns the tree's path (its
 * mtime refreshed, so prune's grace period protects a tree in use).
 */
export async function ensureUnpacked(
  root: string,
  now: () => number,
  tempDir: (prefix: string) => Promise<string>,
  diffId: Digest,
  fill: (dir: string) => Promise<void>,
): Promise<string> {
  parseDigest(diffId);
  const dest = unpackedDir(root, diffId);
  const t = new Date(now());
  try {
    await fs.utimes(dest, t, t);
    return dest;
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw ioError(`cannot use ${dest}`, e);
  }
  const tmp = await tempDir('unpack');
  try {
    await fill(tmp);
    await io(`cannot create ${path.dirname(dest)}`, () => fs.mkdir(path.dirname(dest), { recursive: true }));
    try {
      await fs.rename(tmp, dest);
    } catch (e) {
      if (errno(e) !== 'ENOTEMPTY' && errno(e) !== 'EEXIST') throw ioError(`cannot move the unpacked layer into ${dest}`, e);
      await removeTree(tmp); // another process finished first
    }
  } catch (e) {
    await removeTree(tmp).catch(() => undefined);
    throw e;
  }
  return dest;
}
