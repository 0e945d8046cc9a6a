/**
 * The store's `tmp/`: temp files and directories named
 * `<prefix>-<owner>-<pid>-<random>` (writes in progress, a build's work dirs), atomic
 * file writes through them, and removal of what killed processes left.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errno, io, ioError, removeTree, writeAll } from './io.js';
import { processAlive, processOwner } from './lock.js';

/** Path of a new temp entry in the store's tmp/ (not created). */
export function tempPath(root: string, prefix = 'tmp'): string {
  return path.join(root, 'tmp', `${prefix}-${processOwner()}-${process.pid}-${randomBytes(8).toString('hex')}`);
}

/**
 * How often this process touches the temp entries it uses. `prune` removes a temp entry that has
 * not changed for its grace period (15 minutes by default), whichever process or container made
 * it; a build's work directory (a RUN's sandbox, a COPY's staging) changes only when an entry is
 * added to it, so a long step would lose it to a prune running beside it.
 */
export const TEMP_HEARTBEAT_MS = 60_000;

/** Entries kept fresh, and by how many holders (two RUN steps may share a lower dir). */
const inUse = new Map<string, number>();
let heartbeat: NodeJS.Timeout | undefined;

/**
 * Touches every entry this process keeps fresh (see {@link keepFresh}) now; one that is gone (moved
 * into place, removed) is forgotten. Runs every {@link TEMP_HEARTBEAT_MS} while there is any.
 */
export async function touchTempInUse(): Promise<void> {
  const now = new Date();
  await Promise.all(
    [...inUse.keys()].map((p) =>
      fs.utimes(p, now, now).catch(() => {
        inUse.delete(p);
      }),
    ),
  );
  if (inUse.size === 0 && heartbeat) {
    clearInterval(heartbeat);
    heartbeat = undefined;
  }
}

/**
 * Keeps an entry's mtime fresh (a temp entry, or a tree of the store in use) while this process
 * runs, until it is gone or the returned release was called (once; later calls do nothing). Holds
 * are counted: two RUN steps may share a lower dir.
 */
export function keepFresh(p: string): () => void {
  inUse.set(p, (inUse.get(p) ?? 0) + 1);
  if (!heartbeat) {
    heartbeat = setInterval(() => void touchTempInUse(), TEMP_HEARTBEAT_MS);
    heartbeat.unref(); // never what keeps a process alive
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    const n = (inUse.get(p) ?? 0) - 1;
    if (n > 0) inUse.set(p, n);
    else inUse.delete(p);
  };
}

/** A fresh, empty directory inside the store (same filesystem, so it can be renamed into place), kept fresh while it is there. */
export async function createTempDir(root: string, prefix = 'dir'): Promise<string> {
  const dir = tempPath(root, prefix);
  await io('cannot create a temp directory in the store', () => fs.mkdir(dir, { recursive: false }));
  keepFresh(dir);
  return dir;
}

/**
 * Remove what killed processes left in `tmp/` (a build's work dirs, partial
 * blobs): entries are named `<prefix>-<owner>-<pid>-<random>`, and one of this
 * owner ({@link processOwner}: host and pid namespace) whose process no longer
 * runs belongs to nobody. Names without an owner (made before it was in the
 * name) are judged by their pid as before. Anything else (another owner's
 * entry, a live pid, a name of another shape) is left to `prune`'s grace
 * period. Best effort.
 */
export async function removeOrphanedTemp(root: string): Promise<void> {
  const dir = path.join(root, 'tmp');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const m = /-(?:([0-9a-f]{8})-)?(\d+)-[0-9a-f]{16}$/.exec(name);
    if (!m) continue;
    if (m[1] !== undefined && m[1] !== processOwner()) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || pid <= 0 || processAlive(pid)) continue;
    await removeTree(path.join(dir, name)).catch(() => undefined);
  }
}

/** Create a file atomically unless it exists (link() fails on EEXIST, so concurrent openers agree). */
export async function createIfMissing(root: string, name: string, content: string): Promise<void> {
  const target = path.join(root, name);
  try {
    await fs.access(target);
    return;
  } catch {
    // create below
  }
  const tmp = tempPath(root);
  await io(`cannot write ${tmp}`, () => fs.writeFile(tmp, content, { mode: 0o644 }));
  try {
    await fs.link(tmp, target);
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw ioError(`cannot create ${target}`, e);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** temp file in the store, fsync, rename over `dest`; the temp file is removed on failure. */
export async function writeFileAtomic(root: string, dest: string, data: Buffer, prefix: string): Promise<void> {
  const tmp = tempPath(root, prefix);
  try {
    const fh = await fs.open(tmp, 'wx', 0o644);
    try {
      await writeAll(fh, [data]);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, dest);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw ioError(`cannot write ${dest}`, e);
  }
}
