/**
 * RUN through the CLI: `ocibuild doctor` and a build whose RUN output is
 * shown under its step, with the RUN-side flags parsed (or refused).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/cache/store.js';
import { probeHost } from '../../src/run/index.js';
import { runOptionsFromArgs } from '../../src/cli/run-options.js';
import { makeBusyboxImage } from '../base-image.js';
import { runCli } from '../cli-io.js';
import { spawn, execFileSync } from 'node:child_process';
import { ensureDist, repoRoot } from '../dist.js';

describe('RUN from the command line', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-runcli-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('doctor names the isolation and snapshot RUN will use', async () => {
    const r = await runCli(['doctor']);
    const probe = await probeHost();
    if (probe.unavailable) {
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('RUN cannot work here');
      return;
    }
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^RUN will use: isolation (oci \((crun|runc)\)|chroot \(unshare \+ chroot\)), snapshot (overlay|fuse-overlayfs)/m);
    expect(r.stdout).toMatch(/^ {2}(ok|no) {3}overlayfs/m);
    expect(r.stdout).toMatch(/^ {2}ok {3}copy {13}copies the layers into a fresh tree and diffs it by stat/m);
    const json = JSON.parse((await runCli(['doctor', '--format', 'json'])).stdout);
    expect(json.snapshot).toBe(probe.snapshot);
  }, 60_000);

  it('build shows the RUN output under its step; refused flags say why', async () => {
    const probe = await probeHost();
    if (probe.unavailable) {
      if (process.env.CI) throw new Error(`RUN cannot work on CI: ${probe.unavailable}`);
      console.warn(`SKIPPED (loudly): RUN sandbox unavailable: ${probe.unavailable}`);
      return;
    }
    const storeDir = path.join(tmp, 'store');
    await makeBusyboxImage(await Store.open(storeDir), 'busybox:test');
    const ctx = path.join(tmp, 'ctx');
    await rm(ctx, { recursive: true, force: true });
    await import('node:fs/promises').then((f) => f.mkdir(ctx));
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM busybox:test\nRUN echo hello from run && grep -w db /etc/hosts\n');
    const r = await runCli(['build', ctx, '--store', storeDir, '--add-host', 'db:10.9.8.7', '--network', 'none', '--shm-size', '16m']);
    expect(r.stderr).toMatch(/^#\d+ \d+\.\d{3} hello from run$/m);
    expect(r.stderr).toMatch(/^#\d+ \d+\.\d{3} 10\.9\.8\.7\tdb$/m);
    expect(r.code).toBe(0);
    const refused = await runCli(['build', ctx, '--store', storeDir, '--cgroup-parent', 'x']);
    // Refused flags are usage errors: exit 2, before any work (the README's exit codes).
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--cgroup-parent is not supported');
    const raise = await runCli(['build', ctx, '--store', storeDir, '--ulimit', 'nofile=99999999']);
    expect(raise.stderr).toContain('would raise the hard limit of nofile');
    expect(raise.code).toBe(2);
  }, 120_000);

  it('--snapshotter forces the snapshot method (copy here), and takes only the known ones', async () => {
    expect(await runOptionsFromArgs({ snapshotter: 'copy' })).toEqual({ snapshot: 'copy' });
    const probe = await probeHost();
    if (probe.unavailable) {
      if (process.env.CI) throw new Error(`RUN cannot work on CI: ${probe.unavailable}`);
      console.warn(`SKIPPED (loudly): RUN sandbox unavailable: ${probe.unavailable}`);
      return;
    }
    const storeDir = path.join(tmp, 'store-copy');
    await makeBusyboxImage(await Store.open(storeDir), 'busybox:test');
    const ctx = path.join(tmp, 'ctx-copy');
    await import('node:fs/promises').then((f) => f.mkdir(ctx, { recursive: true }));
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM busybox:test\nRUN echo copied && rm /etc/group && echo hi > /hello\n');
    const r = await runCli(['build', ctx, '--store', storeDir, '--snapshotter', 'copy']);
    expect(r.stderr).toMatch(/^#\d+ (\d+\.\d+ )?copied$/m);
    expect(r.code).toBe(0);
    const bad = await runCli(['build', ctx, '--store', storeDir, '--snapshotter', 'vfs']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/snapshotter/);
  }, 120_000);

  it('kill -9 of ocibuild mid-RUN leaves no process of the RUN behind', async () => {
    const probe = await probeHost();
    if (probe.unavailable) {
      if (process.env.CI) throw new Error(`RUN cannot work on CI: ${probe.unavailable}`);
      console.warn(`SKIPPED (loudly): RUN sandbox unavailable: ${probe.unavailable}`);
      return;
    }
    await ensureDist();
    const storeDir = path.join(tmp, 'store-kill');
    await makeBusyboxImage(await Store.open(storeDir), 'busybox:test');
    const ctx = path.join(tmp, 'ctx-kill');
    await rm(ctx, { recursive: true, force: true });
    await import('node:fs/promises').then((f) => f.mkdir(ctx));
    // The shell may exec its last command, so the RUN's process is found by a unique sleep duration.
    const marker = `^sleep ${30_000 + (process.pid % 10_000)}$`;
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM busybox:test\nRUN echo started && sleep ${30_000 + (process.pid % 10_000)}\n`);
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/ocibuild'), 'build', '--no-cache', '--progress', 'plain', '--store', storeDir, ctx], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/ started$/m.test(err)) resolve();
      });
      child.on('exit', () => reject(new Error(`ocibuild ended before the RUN started:\n${err}`)));
    });
    const running = () => {
      try {
        return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim();
      } catch {
        return '';
      }
    };
    expect(running()).not.toBe('');
    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (running() !== '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(running()).toBe('');
    expect(execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' })).not.toContain(storeDir);
  }, 120_000);
});
