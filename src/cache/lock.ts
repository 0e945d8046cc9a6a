import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { OcibuildError } from '../errors.js';

/** Options of acquireLock. */
export interface LockOptions {
  /** Give up after this many milliseconds (default 60 s) with STORE_LOCKED. */
  timeoutMs?: number;
  /**
   * A lock whose file has not been refreshed for this long is stale and may be
   * broken (default 30 s). The holder refreshes it every `staleMs / 3`.
   */
  staleMs?: number;
  /** Abort waiting. */
  signal?: AbortSignal;
}

/** A held lock; `release` is idempotent. */
export interface Lock {
  release(): Promise<void>;
}

interface LockContent {
  pid: number;
  host: string;
  /** {@link processOwner}; absent in a lock written before it was (judged by `host` then). */
  owner?: string;
  nonce: string;
  time: number;
}

async function readLock(path: string): Promise<{ content?: LockContent; mtimeMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([fs.readFile(path, 'utf8'), fs.stat(path)]);
    try {
      return { content: JSON.parse(text) as LockContent, mtimeMs: st.mtimeMs };
    } catch {
      // Half-written by a holder that died between open and write: judge by age alone.
      return { mtimeMs: st.mtimeMs };
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

let owner: string | undefined;

/**
 * Whose pids a pid in the store is (a lock's owner, a temp entry's writer): this host and pid
 * namespace, as 8 hex digits. Two containers sharing a store (a CI cache volume, a pod's shared
 * volume) each see their own pids, so a pid of one names nothing, or another process, in the
 * other, even under one host name (`--network host`): only the same owner may judge it.
 */
export function processOwner(): string {
  if (owner === undefined) {
    let pidNamespace = '';
    try {
      pidNamespace = readlinkSync('/proc/self/ns/pid'); // "pid:[4026531836]"
    } catch {
      // no procfs (not Linux): the host alone
    }
    owner = createHash('sha256').update(`${hostname()}\0${pidNamespace}`).digest('hex').slice(0, 8);
  }
  return owner;
}

/**
 * Whether process `pid` of this host still runs (a lock's owner, a temp entry's writer). A zombie
 * does not: it was killed and holds no file, only its exit status, until its parent reaps it,
 * which a container's init that does not reap never does (the `kill -9` of a build there left
 * its partial layer in the store's tmp/ until prune). Another user's process does (EPERM).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return true; // no procfs (not Linux, or hidden): it answered the signal
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state !== 'Z' && state !== 'X';
}

/**
 * Take an exclusive inter-process lock: a file created with O_EXCL holding the
 * owner's pid, host, {@link processOwner} and a nonce. A lock is stale when its
 * owner (of this host and pid namespace) no longer runs, or when its file has
 * not been refreshed for `staleMs`; a
 * stale lock is moved aside atomically (rename) and checked to be the one
 * judged stale before it is removed, so two waiters cannot both break it.
 */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<Lock> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const staleMs = options.staleMs ?? 30_000;
  const host = hostname();
  const nonce = randomBytes(12).toString('hex');
  const me = processOwner();
  const content: LockContent = { pid: process.pid, host, owner: me, nonce, time: Date.now() };
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const fh = await fs.open(path, 'wx', 0o644);
      try {
        await fh.writeFile(JSON.stringify(content));
      } finally {
        await fh.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new OcibuildError('STORE_IO', `cannot create the lock file ${path}: ${(e as Error).message}`, { cause: e });
      }
    }
    const held = await readLock(path).catch((e: unknown) => {
      throw new OcibuildError('STORE_IO', `cannot read the lock file ${path}: ${(e as Error).message}`, { cause: e });
    });
    if (held) {
      const c = held.content;
      const ours = c !== undefined && (c.owner !== undefined ? c.owner === me : c.host === host);
      const deadOwner = ours && !processAlive(c.pid);
      const expired = Date.now() - held.mtimeMs > staleMs;
      if (deadOwner || expired) {
        await breakLock(path, held.content?.nonce);
        continue;
      }
    }
    if (Date.now() >= deadline) {
      throw new OcibuildError('STORE_LOCKED', `timed out after ${timeoutMs} ms waiting for the lock ${path}`, {
        details: { owner: held?.content },
        hint: 'another ocibuild process is using the store; if none is, remove the lock file',
      });
    }
    await sleep(delay + Math.floor(Math.random() * delay));
    delay = Math.min(delay * 2, 100);
  }

  let released = false;
  const refresh = setInterval(() => {
    const now = new Date();
    fs.utimes(path, now, now).catch(() => undefined);
  }, Math.max(50, Math.floor(staleMs / 3)));
  refresh.unref();
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(refresh);
      const cur = await readLock(path);
      // Only remove our own lock (it may have been broken as stale and re-taken).
      if (cur?.content?.nonce === nonce) await fs.rm(path, { force: true });
    },
  };
}

async function breakLock(path: string, staleNonce: string | undefined): Promise<void> {
  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await fs.rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else broke or released it
    throw e;
  }
  const moved = await readLock(aside);
  if (moved?.content?.nonce !== staleNonce) {
    // We moved a lock taken after our check: put it back unless a newer one exists.
    try {
      await fs.link(aside, path);
    } catch {
      // A third process holds the path now; the lock we moved lost its file (its
      // holder will notice on release), the newer lock stands.
    }
  }
  await fs.rm(aside, { force: true });
}

/** Run `fn` while holding the lock at `path`. */
export async function withLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lock = await acquireLock(path, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
