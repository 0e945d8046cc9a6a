/**
 * Git repositories as build contexts (`ocibuild build https://host/repo.git#ref:subdir`,
 * compose's `context: <git URL>`), as docker build takes them: the
 * repository is checked out (shallow where the server allows it, submodules
 * included, with the system git, as `ADD <git>`) into a temp dir of the
 * store, its `#ref:subdir` picked, `.git` left out, every file dated to the
 * commit (so a ref builds the same layers every time), and removed after the
 * build. A local path that exists is always a directory context, never a URL.
 */
import { existsSync } from 'node:fs';
import { lutimes, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from './cache/store.js';
import { checkoutGit, parseGitRef, type GitRef } from './copy/git.js';
import { OcibuildError } from './errors.js';

/**
 * The git source a build context names, or undefined for a directory. A URL
 * that is not a git repository (a remote tarball, as docker build also takes)
 * is refused: UNSUPPORTED.
 */
export function gitContextOf(context: string, cwd = process.cwd()): GitRef | undefined {
  if (existsSync(path.resolve(cwd, context))) return undefined;
  const ref = parseGitRef(context);
  if (!ref && /^[a-z][a-z0-9+.-]*:\/\//i.test(context)) {
    throw new OcibuildError('UNSUPPORTED', `build context ${JSON.stringify(context)} is a URL but not a git repository (an https URL is one when its path ends in .git); remote tarball contexts are not supported`);
  }
  return ref;
}

/** Sets the mtime (and atime) of everything under `dir`, and of `dir`, to `seconds`, not following links. */
async function stampTree(dir: string, seconds: number): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await stampTree(p, seconds);
    else await lutimes(p, seconds, seconds);
  }
  await lutimes(dir, seconds, seconds);
}

/** A checked-out git context: its directory (the `#:subdir` part) and the commit. */
export interface GitContext {
  dir: string;
  commit: string;
  /** Removes the checkout. */
  dispose(): Promise<void>;
}

/** Checks out `ref` into a temp dir of `store`; a subdir must exist inside it and be a directory. */
export async function checkoutGitContext(store: Store, ref: GitRef, signal?: AbortSignal): Promise<GitContext> {
  const tmp = await store.tempDir('git-context');
  const dispose = () => rm(tmp, { recursive: true, force: true });
  try {
    const co = await checkoutGit(ref, tmp, signal ? { signal } : {});
    await rm(path.join(co.dir, '.git'), { recursive: true, force: true });
    // Every file gets the commit's time (as ADD <git> gives its entries): the same ref builds the same layers.
    await stampTree(co.dir, co.commitTime);
    const dir = ref.subdir ? path.resolve(co.dir, ref.subdir) : co.dir;
    if (dir !== co.dir && !dir.startsWith(co.dir + path.sep)) throw new OcibuildError('USAGE', `git context ${ref.remote}: subdirectory ${JSON.stringify(ref.subdir)} leaves the repository`);
    if (!existsSync(dir)) throw new OcibuildError('CONTEXT_NOT_FOUND', `git context ${ref.remote}: the repository has no directory ${JSON.stringify(ref.subdir)}`);
    return { dir, commit: co.commit, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}
