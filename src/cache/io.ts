/**
 * Filesystem helpers of the store: STORE_IO errors, full writes, fsync of a
 * directory, tree sizes and removal. Used by every concern of the store.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { OcibuildError, isOcibuildError } from '../errors.js';

/** The `code` of a Node.js system error. */
export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** Wrap a filesystem error (permissions, disk full, ...) as STORE_IO; OcibuildErrors pass through. */
export function ioError(what: string, e: unknown): OcibuildError {
  if (isOcibuildError(e)) return e;
  const code = errno(e);
  return new OcibuildError('STORE_IO', `${what}: ${(e as Error)?.message ?? String(e)}`, {
    cause: e,
    hint: code === 'ENOSPC' ? 'the disk is full: `ocibuild prune` frees space' : code === 'EACCES' || code === 'EPERM' ? 'check the permissions of the store directory (OCIBUILD_HOME)' : undefined,
  });
}

/** Run `fn`, turning raw filesystem errors into STORE_IO. */
export async function io<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw ioError(what, e);
  }
}

/**
 * Writes every byte of `bufs`, in order: several buffers in one `writev`
 * (one system call and one thread-pool hop instead of one per chunk: a
 * streamed blob arrives in ~32 KiB chunks), a short write continued.
 */
export async function writeAll(fh: fs.FileHandle, bufs: Buffer[]): Promise<void> {
  let rest = bufs.filter((b) => b.length > 0);
  while (rest.length > 0) {
    const { bytesWritten } = rest.length === 1 ? await fh.write(rest[0]!, 0, rest[0]!.length) : await fh.writev(rest);
    let n = bytesWritten;
    const next: Buffer[] = [];
    for (const b of rest) {
      if (n >= b.length) {
        n -= b.length;
        continue;
      }
      next.push(n > 0 ? b.subarray(n) : b);
      n = 0;
    }
    rest = next;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

/** Entries of a directory; none when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (e) {
    if (errno(e) === 'ENOENT') return [];
    throw e;
  }
}

/** Bytes of the files under a directory (best effort). */
export async function treeSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const st = await fs.lstat(p).catch(() => undefined);
        if (st) total += st.size;
      }
    }
  };
  await walk(dir);
  return total;
}

/**
 * Removes a tree the caller cannot remove itself (a plain removal failed with
 * EACCES or EPERM): rootless with subordinate ids, unpacked trees hold files of
 * ids the caller is not, which only the user namespace mapping them can remove.
 */
export type RemoveForeignTree = (dir: string) => Promise<void>;

/** Remove a directory tree, read-only directories included; `foreign` removes what the caller may not. */
export async function removeTree(dir: string, foreign?: RemoveForeignTree): Promise<void> {
  // Unpacked trees may hold read-only directories (as layers give them).
  const chmodWalk = async (d: string): Promise<void> => {
    await fs.chmod(d, 0o700).catch(() => undefined);
    const entries = await fs.readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await chmodWalk(path.join(d, e.name));
  };
  await chmodWalk(dir);
  try {
    await fs.rm(dir, { recursive: true, force: true });
  } catch (e) {
    const code = errno(e);
    if (!foreign || (code !== 'EACCES' && code !== 'EPERM')) throw e;
    await foreign(dir);
  }
}

/**
 * Keeps at most `max` files in `dir`, removing the least recently written first, never `keep`
 * (the one just written): the store's bounded record directories (copy memos, URL records).
 */
export async function keepNewest(dir: string, max: number, keep: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  if (names.length <= max) return;
  const aged = await Promise.all(names.map(async (n) => ({ n, t: (await fs.stat(path.join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => a.t - b.t);
  for (const { n } of aged.slice(0, names.length - max)) if (n !== keep) await fs.rm(path.join(dir, n), { force: true });
}
