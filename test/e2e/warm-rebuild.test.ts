/**
 * Issue 8: a rebuild where every step hits does no work it does not need.
 * Counted, not timed: the warm rebuild opens no file of the context (every
 * `open`/`openat` of every thread, seen by strace; directories, which the walk
 * lists, are not files), a changed file is still read and still misses, a
 * touched file is read again but hits; and a base image already in the store
 * costs no registry request (counted at a proxy in front of the registry).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureDist, repoRoot } from '../dist.js';
import { runCli } from '../cli-io.js';
import { startRegistry, type TestRegistry } from '../registry/harness.js';
import { makeBusyboxImage, pushBaseImage } from '../registry/base-image.js';
import { startFaultProxy, type FaultProxy } from '../registry/fault-proxy.js';

const exec = promisify(execFile);

describe('issue 8: warm rebuilds', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-warm-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('a rebuild with nothing changed opens no context file; a changed file is read and misses, a touched one is read and hits', async () => {
    await ensureDist();
    const ctx = path.join(tmp, 'ctx');
    for (let d = 0; d < 10; d++) {
      await mkdir(path.join(ctx, `dir-${d}`), { recursive: true });
      for (let f = 0; f < 30; f++) await writeFile(path.join(ctx, `dir-${d}`, `file-${f}.txt`), `file ${d}/${f}\n`.repeat(f + 1));
    }
    const dockerfile = path.join(tmp, 'Dockerfile');
    await writeFile(dockerfile, 'FROM scratch\nCOPY . /data\n');
    const store = path.join(tmp, 'store');
    const trace = path.join(tmp, 'trace');
    /** One build under strace: the image digest and the context files it opened (not directories). */
    const traced = async (): Promise<{ digest: string; opened: string[]; store: string[] }> => {
      const { stdout } = await exec('strace', ['-f', '-qq', '-e', 'trace=open,openat,openat2,creat', '-o', trace, process.execPath, path.join(repoRoot, 'bin/ocibuild'), 'build', '-q', '-f', dockerfile, '--store', store, '-t', 'warm:1', ctx], {
        env: { PATH: process.env.PATH, HOME: tmp },
        maxBuffer: 16 * 1024 * 1024,
      });
      const prefix = ctx + '/';
      const files = (await readFile(trace, 'utf8'))
        .split('\n')
        // Files opened (not directories, not attempts that failed: the absent .dockerignore).
        .filter((l) => !l.includes('O_DIRECTORY') && !/= -1 /.test(l))
        .map((l) => /"((?:[^"\\]|\\.)*)"/.exec(l)?.[1])
        .filter((p): p is string => p !== undefined);
      const opened = files.filter((p) => p.startsWith(prefix));
      return { digest: stdout.trim(), opened, store: files.filter((p) => p.startsWith(store + '/')).map((p) => path.relative(store, p)) };
    };
    const cold = await traced();
    // The count sees the reads: the cold build opens every file.
    expect(new Set(cold.opened).size).toBe(300);
    const warm = await traced();
    expect(warm.digest).toBe(cold.digest);
    expect(warm.opened).toEqual([]);
    // The key comes from the copy memo (the context answered as before): the stat cache is not even loaded.
    expect(warm.store.filter((p) => p.startsWith('copymemo/'))).toHaveLength(1);
    expect(warm.store).not.toContain('statcache');
    // Nor the last build's per-file explain list (its ref says it is the same): only the small record.
    expect(warm.store.filter((p) => /^explain\/[0-9a-f]{64}\//.test(p))).toEqual([]);
    expect(warm.store.filter((p) => /^explain\/[0-9a-f]{64}\.json$/.test(p))).toHaveLength(1);

    // Same bytes, new mtime: the stat cache misses, the file is read again, the step hits.
    const touched = path.join(ctx, 'dir-3/file-7.txt');
    await utimes(touched, new Date(), new Date());
    const afterTouch = await traced();
    expect(afterTouch.digest).toBe(cold.digest);
    // The memo missed (a new mtime is a new answer): planned, with the stat cache.
    expect(afterTouch.store).toContain('statcache');
    expect(new Set(afterTouch.opened)).toEqual(new Set([touched]));

    // One file changed (same size, so only the stat's times tell): it misses, and the image changes.
    const changed = path.join(ctx, 'dir-5/file-0.txt');
    await writeFile(changed, 'file 5/X\n');
    const afterChange = await traced();
    expect(afterChange.digest).not.toBe(cold.digest);
    // A miss reads the last list, to say which files changed.
    expect(afterChange.store.filter((p) => /^explain\/[0-9a-f]{64}\/[0-9a-f]{64}\.json$/.test(p)).length).toBeGreaterThan(0);
    expect(afterChange.opened).toContain(changed);
    const again = await traced();
    expect(again.digest).toBe(afterChange.digest);
    expect(again.opened).toEqual([]);
  }, 300_000);

  describe('with a registry', () => {
    let reg: TestRegistry;
    let proxy: FaultProxy;
    beforeAll(async () => {
      reg = await startRegistry({ auth: 'none' });
      const layout = path.join(tmp, 'busybox-layout');
      await makeBusyboxImage(layout);
      await pushBaseImage(reg, layout, 'base/busybox:1');
      proxy = await startFaultProxy({ upstream: reg.host });
    }, 120_000);
    afterAll(async () => {
      await proxy?.stop();
      await reg?.stop();
    });

    it('a rebuild FROM an image already in the store sends no registry request', async () => {
      const ctx = path.join(tmp, 'reg-ctx');
      await mkdir(ctx, { recursive: true });
      await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${proxy.host}/base/busybox:1\nCOPY msg /msg\n`);
      await writeFile(path.join(ctx, 'msg'), 'hello\n');
      const env = { PATH: process.env.PATH, HOME: tmp, OCIBUILD_HOME: path.join(tmp, 'reg-store') };
      const first = await runCli([ctx, '-q', '-t', 'app:1'], { env });
      if (first.code !== 0) throw new Error(first.stderr);
      // The count sees the registry: the first build pulled the base through the proxy.
      expect(proxy.requests.length).toBeGreaterThan(0);
      proxy.requests.length = 0;
      const second = await runCli([ctx, '-q', '-t', 'app:1'], { env });
      if (second.code !== 0) throw new Error(second.stderr);
      expect(second.stdout).toBe(first.stdout);
      expect(proxy.requests.map((r) => `${r.method} ${r.url}`)).toEqual([]);
    }, 120_000);
  });
});
