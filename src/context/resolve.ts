/**
 * Resolving a path inside the build context as Docker does for COPY/ADD sources
 * (moby/sys `symlink.FollowSymlinkInScope`): `..` cannot climb above the root,
 * symlinks met on the way are followed but stay inside the root (an absolute
 * target is re-rooted at the context root, `..` in a target stops at the root),
 * and missing components are accepted as they are.
 */
import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { goClean } from './go-path.js';

/** Upstream's iteration bound: more path components (after link expansion) than this is an error. */
const MAX_ITER = 255;

/**
 * Resolve `relPath` (relative to the context root; a leading `/` also means the
 * root) to the path on disk it designates, following symlinks within `root`.
 * The result always lies inside `root` (symlinks in `root` itself are not
 * evaluated). A missing path is not an error: it resolves to where it would be.
 * @throws OcibuildError `CONTEXT_ESCAPE` when resolution needs more than 255 steps
 *   (a symlink loop; Docker: `too many links`), `CONTEXT_NOT_FOUND` when a
 *   component cannot be examined (e.g. a path through a regular file: ENOTDIR).
 */
export async function resolveInContext(root: string, relPath: string): Promise<string> {
  const absRoot = goClean(path.resolve(root));
  // The path is always taken relative to the root; `..` stops at the root (lexically, like Go's Clean).
  let rest = goClean('/' + relPath);
  if (rest === '/') return absRoot;

  // `b` is the resolved path inside the root so far, as "a/b/" (always ends with '/').
  let b = '';
  for (let n = 0; rest !== ''; n++) {
    if (n > MAX_ITER) {
      throw new OcibuildError('CONTEXT_ESCAPE', `too many links in ${path.join(absRoot, relPath)}`, {
        details: { root: absRoot, path: relPath },
      });
    }
    const i = rest.indexOf('/');
    let p: string;
    if (i === -1) {
      p = rest;
      rest = '';
    } else {
      p = rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
    if (p === '') continue;
    const cleanP = goClean('/' + b + p);
    if (cleanP === '/') {
      // Never look at the root itself.
      b = '';
      continue;
    }
    const fullP = goClean(absRoot + cleanP);
    let isLink: boolean;
    try {
      isLink = (await lstat(fullP)).isSymbolicLink();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        b += p + '/';
        continue;
      }
      throw new OcibuildError('CONTEXT_NOT_FOUND', `lstat ${fullP}: ${(e as Error).message}`, { cause: e });
    }
    if (!isLink) {
      b += p + '/';
      continue;
    }
    let dest: string;
    try {
      dest = await readlink(fullP);
    } catch (e) {
      throw new OcibuildError('CONTEXT_NOT_FOUND', `readlink ${fullP}: ${(e as Error).message}`, { cause: e });
    }
    if (dest.startsWith('/')) b = '';
    rest = dest + '/' + rest;
  }
  return goClean(absRoot + goClean('/' + b));
}
