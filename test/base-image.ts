import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from '../src/build.js';
import type { Store } from '../src/cache/store.js';

const exec = promisify(execFile);

/**
 * A busybox base image made offline from Debian's busybox-static: /bin/busybox,
 * one symlink per applet, /etc/passwd and /etc/group. Built into `store` under
 * `tag` by ocibuild itself (FROM scratch + COPY), so tests of `FROM <local image>`
 * need neither a registry nor the network.
 */
export async function makeBusyboxImage(store: Store, tag = 'busybox:test'): Promise<void> {
  const ctx = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-busybox-'));
  try {
    await mkdir(path.join(ctx, 'bin'), { recursive: true });
    await mkdir(path.join(ctx, 'etc'), { recursive: true });
    await copyFile('/bin/busybox', path.join(ctx, 'bin/busybox'));
    const { stdout } = await exec('/bin/busybox', ['--list']);
    for (const applet of stdout.split('\n').filter((a) => a && a !== 'busybox')) {
      await symlink('busybox', path.join(ctx, 'bin', applet));
    }
    await writeFile(path.join(ctx, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    await writeFile(path.join(ctx, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    await build({
      context: ctx,
      dockerfile: 'FROM scratch\nCOPY . /\nCMD ["/bin/sh"]\n',
      store,
      tags: [tag],
      platforms: ['linux/amd64'],
      env: {},
      sourceDateEpoch: 0,
    });
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}
