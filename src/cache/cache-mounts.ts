/**
 * `RUN --mount=type=cache` directories: one per cache id under the store
 * (`cache-mounts/<sha256(id)>/`), kept across builds, never in a layer or a
 * cache key. Each holds `meta.json` (id, created, last used), `data/` (what
 * the RUN sees) and, while a `locked` or `private` user holds it, `lock`.
 *
 * Sharing, as BuildKit: `shared` lets every RUN use the directory at once;
 * `locked` waits for the lock file (across processes on the same store);
 * `private` takes the directory when nobody holds it, else gets a fresh one
 * of its own for the step, dropped afterwards.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { acquireLock, type Lock } from './lock.js';
import type { Store } from './store.js';

/** What a cache directory's meta.json holds. */
export interface CacheMountInfo {
  id: string;
  /** RFC 3339. */
  created: string;
  /** RFC 3339: last time a RUN mounted it. */
  lastUsed: string;
  /** Bytes under data/ (listing only). */
  size?: number;
}

/** Options of {@link openCacheMount}. */
export interface OpenCacheMountOptions {
  sharing: 'shared' | 'private' | 'locked';
  /** Mode, owner and group of a new cache directory. */
  mode: number;
  uid: number;
  gid: number;
  /** Fills a new cache directory (from= source=) before first use. */
  seed?: (dir: string) => Promise<void>;
  signal?: AbortSignal;
  now?: () => Date;
}

/** An opened cache mount: the directory to bind and its release. */
export interface OpenedCacheMount {
  path: string;
  release(): Promise<void>;
}

function cacheRoot(store: Store): string {
  return path.join(store.root, 'cache-mounts');
}

function cacheDir(store: Store, id: string): string {
  return path.join(cacheRoot(store), createHash('sha256').update(id).digest('hex'));
}

async function newDataDir(store: Store, options: OpenCacheMountOptions): Promise<string> {
  const tmp = await store.tempDir('cache-mount');
  await fs.chmod(tmp, options.mode & 0o7777);
  if (options.seed) await options.seed(tmp);
  // BuildKit applies mode/uid/gid to the new directory itself, seeded or not.
  await fs.chmod(tmp, options.mode & 0o7777);
  if (process.getuid?.() === 0) await fs.chown(tmp, options.uid, options.gid);
  return tmp;
}

async function touch(dir: string, id: string, now: Date): Promise<void> {
  const file = path.join(dir, 'meta.json');
  let info: CacheMountInfo;
  try {
    info = JSON.parse(await fs.readFile(file, 'utf8')) as CacheMountInfo;
    info.lastUsed = now.toISOString();
  } catch {
    info = { id, created: now.toISOString(), lastUsed: now.toISOString() };
  }
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await fs.writeFile(tmp, JSON.stringify(info));
  await fs.rename(tmp, file);
}

/**
 * Opens (creating when new) the cache directory `id` with the given sharing.
 * `release()` gives a locked/private directory back (and drops a private
 * fallback copy).
 */
export async function openCacheMount(store: Store, id: string, options: OpenCacheMountOptions): Promise<OpenedCacheMount> {
  const dir = cacheDir(store, id);
  const now = options.now ?? (() => new Date());
  try {
    await fs.mkdir(dir, { recursive: true });
    let lock: Lock | undefined;
    if (options.sharing === 'locked') {
      lock = await acquireLock(path.join(dir, 'lock'), { timeoutMs: 24 * 3600_000, ...(options.signal ? { signal: options.signal } : {}) });
    } else if (options.sharing === 'private') {
      try {
        lock = await acquireLock(path.join(dir, 'lock'), { timeoutMs: 0 });
      } catch (e) {
        if (!(e instanceof OcibuildError && e.code === 'STORE_LOCKED')) throw e;
        // Busy: a directory of this step's own, as BuildKit makes a new one for a second private user.
        const own = await newDataDir(store, options);
        return { path: own, release: () => removeTree(own) };
      }
    }
    const data = path.join(dir, 'data');
    try {
      const exists = await fs.stat(data).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!exists) {
        const tmp = await newDataDir(store, options);
        try {
          await fs.rename(tmp, data);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          await fs.rm(tmp, { recursive: true, force: true });
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e; // another build created it first
        }
      }
      await touch(dir, id, now());
    } catch (e) {
      await lock?.release();
      throw e;
    }
    return {
      path: data,
      async release() {
        await touch(dir, id, now()).catch(() => undefined);
        await lock?.release();
      },
    };
  } catch (e) {
    if (e instanceof OcibuildError) throw e;
    throw new OcibuildError('STORE_IO', `cache mount ${JSON.stringify(id)}: ${(e as Error).message}`, { cause: e });
  }
}

/** Removes a tree a RUN filled (it may hold read-only directories). */
function removeTree(dir: string): Promise<void> {
  return new Promise((resolve) => execFile('sh', ['-c', 'chmod -R u+rwX -- "$1" 2>/dev/null; rm -rf -- "$1"', 'sh', dir], () => resolve()));
}

async function duSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string) => {
    const names = await fs.readdir(d).catch(() => [] as string[]);
    for (const n of names) {
      const p = path.join(d, n);
      const st = await fs.lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) await walk(p);
      else total += st.size;
    }
  };
  await walk(dir);
  return total;
}

/** Every cache mount directory of the store, most recently used first. */
export async function listCacheMounts(store: Store): Promise<CacheMountInfo[]> {
  const root = cacheRoot(store);
  const names = await fs.readdir(root).catch(() => [] as string[]);
  const out: CacheMountInfo[] = [];
  for (const n of names) {
    const info = await fs
      .readFile(path.join(root, n, 'meta.json'), 'utf8')
      .then((t) => JSON.parse(t) as CacheMountInfo)
      .catch(() => undefined);
    if (!info) continue;
    out.push({ id: info.id, created: info.created, lastUsed: info.lastUsed, size: await duSize(path.join(root, n, 'data')) });
  }
  return out.sort((a, b) => (a.lastUsed < b.lastUsed ? 1 : a.lastUsed > b.lastUsed ? -1 : 0));
}

/** Options of {@link pruneCacheMounts}. */
export interface PruneCacheMountsOptions {
  /** Only caches unused for this many milliseconds (default: every cache). */
  olderThan?: number;
  now?: () => Date;
}

/**
 * Removes cache mount directories (unused for `olderThan`, or all). A cache
 * a `locked`/`private` RUN holds right now is kept. Returns what was freed.
 */
export async function pruneCacheMounts(store: Store, options: PruneCacheMountsOptions = {}): Promise<{ removed: number; freedBytes: number }> {
  const root = cacheRoot(store);
  const now = (options.now ?? (() => new Date()))().getTime();
  let removed = 0;
  let freedBytes = 0;
  for (const n of await fs.readdir(root).catch(() => [] as string[])) {
    const dir = path.join(root, n);
    const info = await fs
      .readFile(path.join(dir, 'meta.json'), 'utf8')
      .then((t) => JSON.parse(t) as CacheMountInfo)
      .catch(() => undefined);
    if (info && options.olderThan !== undefined && Date.parse(info.lastUsed) > now - options.olderThan) continue;
    let lock: Lock;
    try {
      lock = await acquireLock(path.join(dir, 'lock'), { timeoutMs: 0 });
    } catch {
      continue; // in use
    }
    try {
      const size = await duSize(path.join(dir, 'data'));
      // Rename first: a concurrent open sees no half-removed directory.
      const trash = path.join(root, `.removing-${n}-${process.pid}`);
      await fs.rename(path.join(dir, 'data'), trash).catch(() => undefined);
      await fs.rm(path.join(dir, 'meta.json'), { force: true });
      await removeTree(trash);
      freedBytes += size;
      removed++;
    } finally {
      await lock.release();
    }
    await fs.rmdir(dir).catch(() => undefined);
  }
  return { removed, freedBytes };
}
