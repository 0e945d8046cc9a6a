/**
 * The ADD-only sources: URLs (downloaded, not unpacked unless --unpack),
 * git repositories (checked out, copied like a directory), and the local
 * archive unpacking rule (a tar archive, detected by content, is extracted
 * into the destination instead of copied).
 */
import fs from 'node:fs';
import path from 'node:path';
import { detectArchive, extractArchiveInto } from './archive.js';
import { checkoutGit, type GitCheckout, type GitRef } from './git.js';
import { download, redactUrl, type Download } from './http.js';
import { OcibuildError } from '../errors.js';
import { absClean, resolveInRoot, toRel } from './paths.js';
import type { LayerPlan, TreeCopyOptions } from './plan.js';
import { directorySourceFs } from './source-fs.js';
import type { CopyOptions, SourceFs, SourceStat } from './types.js';

/** Where one item lands: the destination as written, resolved against WORKDIR. */
export interface DestTarget {
  /** Absolute, cleaned. */
  path: string;
  /** Written with a trailing slash (or `.`): a directory. */
  isDir: boolean;
}

/** Copy one non-directory item to the destination (fsutil prepareTargetDir for a file). */
export async function copyLeafItem(plan: LayerPlan, dest: DestTarget, name: string, st: SourceStat, fsrc: SourceFs | undefined, srcRel: string): Promise<void> {
  const ensure = dest.isDir ? dest.path : path.posix.dirname(dest.path);
  await plan.mkdirAll(await plan.resolveDest(ensure));
  const dst = await plan.resolveDest(dest.path);
  const kind = await plan.kindAt(dst);
  const target = kind === 'directory' ? (dst === '' ? name : `${dst}/${name}`) : dst;
  await plan.putLeaf(target, st, fsrc, srcRel);
}

/** Copy the contents of a source directory into the destination directory. */
export async function copyDirItem(plan: LayerPlan, dest: DestTarget, fsrc: SourceFs, srcRel: string, tree?: TreeCopyOptions): Promise<number> {
  const ensure = dest.isDir ? dest.path : path.posix.dirname(dest.path);
  await plan.mkdirAll(await plan.resolveDest(ensure));
  const dst = await plan.resolveDest(dest.path);
  // a missing destination is created 0755 (owned by the --chown user), an existing one kept
  await plan.mkdirAll(dst);
  return plan.copyTree(fsrc, srcRel, dst, tree);
}

/**
 * Unpack `file` into the destination when it is a tar archive (plain, gzip,
 * bzip2, xz, zstd). Returns false when it is not an archive (then it is
 * copied as a file).
 */
export async function unpackIfArchive(plan: LayerPlan, dest: DestTarget, file: string, label: string, workRoot: string, signal?: AbortSignal): Promise<boolean> {
  const compression = await detectArchive(file);
  if (compression === undefined) return false;
  const dst = await plan.resolveDest(dest.path);
  await plan.mkdirAll(dst);
  const work = await fs.promises.mkdtemp(path.join(workRoot, 'untar-'));
  await extractArchiveInto(plan, file, compression, dst, work, label, signal);
  return true;
}

/** ADD <url>: download, then copy the file (0600, mtime from Last-Modified) or unpack it with --unpack. */
export async function addUrl(plan: LayerPlan, dest: DestTarget, src: string, opts: { checksum?: string; unpack?: boolean }, options: CopyOptions, workRoot: string): Promise<Download> {
  const dl = await download(src, workRoot, { http: options.http, checksum: opts.checksum, signal: options.signal });
  if (opts.unpack === true && (await unpackIfArchive(plan, dest, dl.file, redactUrl(src), workRoot, options.signal))) return dl;
  const st: SourceStat = { type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: dl.mtime ?? 0, size: dl.size };
  const fsrc = directorySourceFs(path.dirname(dl.file), { description: redactUrl(src) });
  await copyLeafItem(plan, dest, dl.name, st, fsrc, path.basename(dl.file));
  return dl;
}

/** ADD <git ref>: check out, then copy the tree (or its subdir) like a directory, without .git unless kept. */
export async function addGit(plan: LayerPlan, dest: DestTarget, ref: GitRef, opts: { checksum?: string; keepGitDir?: boolean }, options: CopyOptions, workRoot: string): Promise<GitCheckout> {
  const co = await checkoutGit(ref, workRoot, { git: options.git, checksum: opts.checksum, signal: options.signal });
  const fsrc = directorySourceFs(co.dir, {
    description: `git repository ${redactUrl(ref.remote)}`,
    ownership: 'root',
    modes: 'git',
    mtime: co.commitTime,
    skip: opts.keepGitDir ? undefined : (rel) => rel === '.git' || rel.endsWith('/.git'),
  });
  let root = '';
  if (ref.subdir !== undefined) {
    root = toRel(absClean(ref.subdir));
    root = await resolveInRoot({ kind: async (r) => kindOf(await fsrc.lstat(r)), readlink: (r) => fsrc.readlink(r) }, root, true);
    const st = await fsrc.lstat(root);
    if (!st || st.type !== 'directory') {
      throw new OcibuildError('ADD_GIT', `subdirectory ${JSON.stringify(ref.subdir)} not found in ${redactUrl(ref.remote)} at ${co.commit.slice(0, 12)}`);
    }
  }
  await copyDirItem(plan, dest, fsrc, root);
  return co;
}

function kindOf(st: SourceStat | undefined): 'directory' | 'symlink' | 'other' | undefined {
  if (!st) return undefined;
  return st.type === 'directory' ? 'directory' : st.type === 'symlink' ? 'symlink' : 'other';
}
