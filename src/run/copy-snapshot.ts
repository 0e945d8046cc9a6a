/**
 * The last snapshot fallback, for hosts with neither kernel overlay nor
 * fuse-overlayfs: the lower trees copied in order into a fresh directory
 * (their overlay-form whiteouts applied: a 0/0 character device deletes the
 * name below, an opaque directory hides what is below), a stat snapshot of
 * every path taken before the command runs, and a diff after it (inode,
 * ctime, mtime, size, mode, owner, link target). The result has the shape
 * {@link snapshotUpper} gives for an overlay upper dir, so the layer writer
 * and the digests are the same:
 *
 * - a new or changed path is an entry (a changed file's bytes are read only
 *   when the layer is written, and only for changed files);
 * - a deleted path is a whiteout (`.wh.name`), only at the topmost deleted
 *   name;
 * - a directory that is there before and after but is another inode, or the
 *   same inode with another birth time (deleted and made again) is an opaque directory (`.wh..wh..opq`), as kernel
 *   overlay marks a directory created over a whiteout; nothing below it is
 *   whited out one by one;
 * - every ancestor directory of a change is in the layer, as an overlay upper
 *   dir holds the directories copied up to reach it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LayerEntry } from '../layers/types.js';
import { dropStubs, listOpaqueDirs, type OwnerMap } from './snapshot.js';

const exec = promisify(execFile);

/** What the diff compares of one path. */
export interface StatRecord {
  kind: 'file' | 'directory' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';
  dev: bigint;
  ino: bigint;
  ctimeNs: bigint;
  mtimeNs: bigint;
  /** statx's birth time (0 where the filesystem has none): tells a directory made again on a reused inode. */
  birthtimeNs: bigint;
  size: bigint;
  /** Permission bits with setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  rdev: bigint;
  nlink: bigint;
  linkname?: string;
}

/** Every path under a root (relative, '/'-separated), with its stat. */
export type StatSnapshot = Map<string, StatRecord>;

function kindOf(st: import('node:fs').BigIntStats): StatRecord['kind'] {
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isSocket()) return 'socket';
  return 'file';
}

/** Lists `root` recursively with lstat (no symlink followed). */
export async function statTree(root: string, signal?: AbortSignal): Promise<StatSnapshot> {
  const out: StatSnapshot = new Map();
  const walk = async (rel: string): Promise<void> => {
    signal?.throwIfAborted();
    const names = await fs.readdir(rel === '' ? root : path.join(root, rel));
    for (const name of names) {
      const p = rel === '' ? name : `${rel}/${name}`;
      const abs = path.join(root, p);
      const st = await fs.lstat(abs, { bigint: true });
      const kind = kindOf(st);
      out.set(p, {
        kind,
        dev: st.dev,
        ino: st.ino,
        ctimeNs: st.ctimeNs,
        mtimeNs: st.mtimeNs,
        birthtimeNs: st.birthtimeNs,
        size: st.size,
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        rdev: st.rdev,
        nlink: st.nlink,
        ...(kind === 'symlink' ? { linkname: await fs.readlink(abs) } : {}),
      });
      if (kind === 'directory') await walk(p);
    }
  };
  await walk('');
  return out;
}

/** True when a path's stat differs in anything the diff looks at. */
export function statChanged(a: StatRecord, b: StatRecord): boolean {
  return (
    a.kind !== b.kind ||
    a.dev !== b.dev ||
    a.ino !== b.ino ||
    a.ctimeNs !== b.ctimeNs ||
    a.mtimeNs !== b.mtimeNs ||
    a.birthtimeNs !== b.birthtimeNs ||
    a.size !== b.size ||
    a.mode !== b.mode ||
    a.uid !== b.uid ||
    a.gid !== b.gid ||
    a.rdev !== b.rdev ||
    a.linkname !== b.linkname
  );
}

/** Owner, mode and times of `dest` from `st` (chown first: it clears setuid bits). */
async function applyMeta(dest: string, st: import('node:fs').BigIntStats, symlink: boolean): Promise<void> {
  try {
    await fs.lchown(dest, Number(st.uid), Number(st.gid));
  } catch (e) {
    // Rootless without the ids: the copy is the caller's (root in the sandbox).
    if ((e as NodeJS.ErrnoException).code !== 'EPERM' && (e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
  }
  if (!symlink) await fs.chmod(dest, Number(st.mode & 0o7777n));
  const atime = Number(st.atimeNs) / 1e9;
  const mtime = Number(st.mtimeNs) / 1e9;
  await fs.lutimes(dest, atime, mtime);
}

/**
 * Copies the lower trees (bottom first) into `dest` (an existing empty
 * directory) as overlay would show them merged: owners, modes, special
 * bits, symlinks, timestamps, devices and fifos, hardlinks within a tree.
 */
export async function copyLowerTrees(lowerDirs: readonly string[], dest: string, options: { opaqueXattrs?: readonly string[]; signal?: AbortSignal } = {}): Promise<void> {
  const names = options.opaqueXattrs ?? ['trusted.overlay.opaque', 'user.overlay.opaque'];
  for (const tree of lowerDirs) {
    const opaque = await listOpaqueDirs(tree, names);
    const links = new Map<string, string>();
    const copyDir = async (rel: string): Promise<void> => {
      options.signal?.throwIfAborted();
      const entries = (await fs.readdir(rel === '' ? tree : path.join(tree, rel))).sort();
      for (const name of entries) {
        const p = rel === '' ? name : `${rel}/${name}`;
        const src = path.join(tree, p);
        const to = path.join(dest, p);
        const st = await fs.lstat(src, { bigint: true });
        const existing = await fs.lstat(to).catch(() => undefined);
        if (st.isCharacterDevice() && st.rdev === 0n) {
          // An overlay whiteout: the name below is gone.
          if (existing) await fs.rm(to, { recursive: true, force: true });
          continue;
        }
        if (st.isDirectory()) {
          if (existing && (!existing.isDirectory() || opaque.has(p))) await fs.rm(to, { recursive: true, force: true });
          if (!existing || !existing.isDirectory() || opaque.has(p)) await fs.mkdir(to);
          await copyDir(p);
          await applyMeta(to, st, false);
          continue;
        }
        if (existing) await fs.rm(to, { recursive: true, force: true });
        if (st.isSymbolicLink()) {
          await fs.symlink(await fs.readlink(src), to);
          await applyMeta(to, st, true);
          continue;
        }
        if (st.isFile()) {
          const key = `${st.dev}:${st.ino}`;
          const first = st.nlink > 1n ? links.get(key) : undefined;
          if (first) {
            await fs.link(first, to);
            continue;
          }
          await fs.copyFile(src, to, constants.COPYFILE_FICLONE);
          await applyMeta(to, st, false);
          if (st.nlink > 1n) links.set(key, to);
          continue;
        }
        if (st.isFIFO()) await exec('mknod', [to, 'p']);
        else if (st.isCharacterDevice() || st.isBlockDevice()) {
          const rdev = Number(st.rdev);
          // Linux's dev_t encoding (major 12 bits split, minor 20 bits split).
          const major = ((rdev >> 8) & 0xfff) | Math.floor(rdev / 2 ** 32) & ~0xfff;
          const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
          await exec('mknod', [to, st.isCharacterDevice() ? 'c' : 'b', String(major), String(minor)]);
        } else continue; // sockets: not representable in a layer
        await applyMeta(to, st, false);
      }
    };
    await copyDir('');
    await applyMeta(dest, await fs.lstat(tree, { bigint: true }), false);
  }
}

/** Options of {@link diffTree}. */
export interface TreeDiffOptions {
  /** Layer paths that were mount stubs created by the sandbox: dropped when still empty. */
  stubs?: readonly string[];
  /** Directories changed only because a stub was created in them: dropped when nothing else changed in them. */
  stubParents?: readonly string[];
  mapOwner?: OwnerMap;
  signal?: AbortSignal;
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/**
 * The entries of the layer a command made in `root`, from the stat snapshot
 * taken before it ran: sorted, in {@link snapshotUpper}'s shape.
 */
export async function diffTree(root: string, before: StatSnapshot, options: TreeDiffOptions = {}): Promise<LayerEntry[]> {
  const after = await statTree(root, options.signal);
  return diffSnapshots(root, before, after, options);
}

/** {@link diffTree} on two snapshots of `root` (pure but for the file sources it names). */
export function diffSnapshots(root: string, before: StatSnapshot, after: StatSnapshot, options: TreeDiffOptions = {}): LayerEntry[] {
  const include = new Set<string>();
  const opaque = new Set<string>();
  const whiteouts = new Set<string>();
  for (const [p, a] of after) {
    const b = before.get(p);
    if (!b || statChanged(a, b)) include.add(p);
    // Deleted and made again (another inode, or the same one reborn: ext4 reuses a freed inode at
    // once, its birth time tells), or made where a non-directory was: opaque, as overlay marks it.
    if (a.kind === 'directory' && b && (b.kind !== 'directory' || b.ino !== a.ino || b.birthtimeNs !== a.birthtimeNs)) opaque.add(p);
  }
  for (const p of before.keys()) {
    if (after.has(p)) continue;
    const parent = parentOf(p);
    // Only the topmost deleted name, and nothing below a replaced (opaque) or no-longer-directory parent.
    if (parent !== '' && (after.get(parent)?.kind !== 'directory' || opaque.has(parent))) continue;
    whiteouts.add(p);
  }
  for (const p of [...include, ...whiteouts, ...opaque]) {
    for (let d = parentOf(p); d !== ''; d = parentOf(d)) {
      if (include.has(d)) break;
      include.add(d);
    }
  }
  const map = options.mapOwner;
  const entries: LayerEntry[] = [];
  const byIno = new Map<bigint, LayerEntry[]>();
  for (const p of include) {
    const a = after.get(p)!;
    const owner = map ? map(a.uid, a.gid) : { uid: a.uid, gid: a.gid };
    const base = { path: p, mode: a.mode, ...owner, mtime: Math.floor(Number(a.mtimeNs / 1_000_000_000n)) };
    switch (a.kind) {
      case 'directory':
        entries.push({ ...base, type: 'directory' });
        break;
      case 'symlink':
        entries.push({ ...base, type: 'symlink', linkname: a.linkname! });
        break;
      case 'fifo':
        entries.push({ ...base, type: 'fifo' });
        break;
      case 'char':
      case 'block': {
        const rdev = Number(a.rdev);
        entries.push({ ...base, type: a.kind, devmajor: ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff), devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) });
        break;
      }
      case 'file': {
        const e: LayerEntry = { ...base, type: 'file', size: Number(a.size), source: { kind: 'path', path: path.join(root, p) } };
        entries.push(e);
        if (a.nlink > 1n) {
          const group = byIno.get(a.ino);
          if (group) group.push(e);
          else byIno.set(a.ino, [e]);
        }
        break;
      }
      default:
        break; // sockets
    }
  }
  for (const p of whiteouts) entries.push({ path: p, type: 'whiteout', mode: 0, uid: 0, gid: 0 });
  for (const p of opaque) entries.push({ path: p, type: 'opaque', mode: 0, uid: 0, gid: 0 });
  // The sandbox's mount stubs leave no trace (the same rule as for an upper dir).
  const dropped = dropStubs(entries, options.stubs ?? [], options.stubParents ?? [], opaque);
  const kept = entries.filter((e) => !dropped.has(e.path) && ![...dropped].some((d) => e.path.startsWith(d + '/')));
  // Hardlinks: the first path of an inode (byte order) carries the bytes.
  const rank = (e: LayerEntry) => (e.type === 'opaque' ? 1 : 0);
  const keyed = kept.map((e) => ({ e, k: Buffer.from(e.path, 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.k, b.k) || rank(a.e) - rank(b.e));
  const index = new Map<LayerEntry, number>();
  keyed.forEach((x, i) => index.set(x.e, i));
  for (const group of byIno.values()) {
    const live = group.filter((e) => index.has(e)).sort((a, b) => index.get(a)! - index.get(b)!);
    if (live.length < 2) continue;
    const first = live[0]!;
    for (const e of live.slice(1)) keyed[index.get(e)!]!.e = { path: e.path, type: 'hardlink', linkname: first.path, mode: e.mode, uid: e.uid, gid: e.gid, ...(e.mtime !== undefined ? { mtime: e.mtime } : {}) };
  }
  return keyed.map((x) => x.e);
}
