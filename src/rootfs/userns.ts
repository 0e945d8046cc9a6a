/**
 * The user namespace of a rootless process with subordinate ids, and the
 * store option that removes trees of those ids through it: what opening the
 * store needs from rootfs (src/cli/store.ts, build.ts), apart from the layer
 * reader and writer of unpacked.ts, so `ocibuild push` and `pull` open the
 * store without loading those (zlib, worker threads; issue 8: start-up).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { StoreOptions } from '../cache/store.js';
import { OcibuildError } from '../errors.js';

/**
 * Not root but with subordinate ids (/etc/subuid and /etc/subgid): the
 * `unshare` prefix of the RUN sandbox's user namespace (the caller is 0,
 * the subordinate ids 1..n), else undefined. Trees unpacked then get the
 * layer's owners as that namespace maps them, so a RUN sees them right.
 */
export function rootlessUserns(): string[] | undefined {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return undefined;
  const name = (() => {
    try {
      return os.userInfo().username;
    } catch {
      return undefined;
    }
  })();
  const range = (file: string, id: number) => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    for (const line of text.split('\n')) {
      const [who, start, count] = line.trim().split(':');
      if ((who === name || who === String(id)) && Number(count) > 0) return { start: Number(start), count: Number(count) };
    }
    return undefined;
  };
  const u = range('/etc/subuid', uid);
  const g = range('/etc/subgid', process.getgid?.() ?? 0);
  if (!u || !g) return undefined;
  return ['--user', '--map-root-user', `--map-users=${u.start},1,${u.count}`, `--map-groups=${g.start},1,${g.count}`];
}

/**
 * Removes `dir` from inside the user namespace `userns` (`chmod -R u+rwX`,
 * then `rm -rf`): for unpacked trees holding files of subordinate ids, which
 * the caller can neither enter nor remove itself. Throws when `dir` remains.
 */
export async function removeInUserns(userns: readonly string[], dir: string): Promise<void> {
  const { spawn } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('unshare', [...userns, 'sh', '-c', 'chmod -R u+rwX -- "$1" 2>/dev/null; exec rm -rf -- "$1"', 'sh', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new OcibuildError('STORE_IO', `cannot remove ${dir} in the user namespace: unshare: ${(e as NodeJS.ErrnoException).code}`, { cause: e })));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new OcibuildError('STORE_IO', `cannot remove ${dir} in the user namespace: ${err.trim() || `rm exited with ${code}`}`))));
  });
}

/**
 * Store options for this process: rootless with subordinate ids, trees the
 * caller cannot remove are removed inside the user namespace (`removeInUserns`).
 */
export function storeRemoveOptions(): StoreOptions {
  const userns = rootlessUserns();
  return userns ? { removeForeignTree: (dir) => removeInUserns(userns, dir) } : {};
}
