/**
 * RUN --mount end to end (issue 11): cache, bind, tmpfs, secret, ssh on a
 * busybox base run by an OCI runtime. Needs root or user namespaces,
 * overlayfs and crun/runc: skipped loudly without them, fails on CI.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build, type BuildOptions } from '../../src/build.js';
import { listCacheMounts, pruneCacheMounts } from '../../src/cache/cache-mounts.js';
import { Store } from '../../src/cache/store.js';
import { OcibuildError } from '../../src/errors.js';
import { listLayer } from '../../src/layers/index.js';
import { probeHost, type HostProbe } from '../../src/run/index.js';
import { makeBusyboxImage } from '../base-image.js';
import { runCli } from '../cli-io.js';
import { probeRuntime } from '../runtime.js';

const exec = promisify(execFile);

async function layerNames(store: Store, digest: string): Promise<string[]> {
  return (await listLayer(await store.open(digest as never))).map((e) => `${e.type} ${e.path}`);
}

let probe: HostProbe | undefined;
let skip: string | undefined;
let tmp: string;
let store: Store;
let ctxDir: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-mounts-'));
  await probeRuntime(); // crun 1.8 on a hybrid cgroup layout needs hugetlb mounted (as root)
  probe = await probeHost();
  if (probe.unavailable || !probe.runtime) {
    skip = probe.unavailable ?? 'no OCI runtime works here';
    if (process.env.CI) throw new Error(`RUN --mount cannot work on CI: ${skip}`);
    console.warn(`SKIPPED (loudly): RUN --mount needs the sandbox and an OCI runtime: ${skip}`);
    return;
  }
  store = await Store.open(path.join(tmp, 'store'));
  await makeBusyboxImage(store, 'busybox:test');
  ctxDir = path.join(tmp, 'ctx');
  await mkdir(path.join(ctxDir, 'src'), { recursive: true });
  await writeFile(path.join(ctxDir, 'src/a.txt'), 'alpha\n');
  await writeFile(path.join(ctxDir, 'src/b.txt'), 'beta\n');
  await writeFile(path.join(ctxDir, 'src/ignored.txt'), 'ignored\n');
  await writeFile(path.join(ctxDir, '.dockerignore'), 'src/ignored.txt\n');
}, 60_000);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const opts = (dockerfile: string, extra: Partial<BuildOptions> = {}): BuildOptions => ({
  context: ctxDir,
  dockerfile,
  store,
  env: {},
  platforms: ['linux/amd64'],
  sourceDateEpoch: 0,
  run: { isolation: 'oci' },
  ...extra,
});

function logsOf(into: string[]): Partial<BuildOptions> {
  return { onProgress: (e) => void (e.type === 'log' && into.push(e.data)) };
}

describe('RUN --mount=type=cache', () => {
  it('keeps its content across builds, stays out of the layer and the key, and is listed and pruned', async () => {
    if (skip) return;
    const df = 'FROM busybox:test\nRUN --mount=type=cache,target=/var/cache/app,id=app1 n=$(cat /var/cache/app/n 2>/dev/null || echo 0); echo $((n+1)) > /var/cache/app/n; echo run=$((n+1)); stat -c "%a %u %g" /var/cache/app; echo done > /result\n';
    const l1: string[] = [];
    const r1 = await build(opts(df, { noCache: true, ...logsOf(l1) }));
    const l2: string[] = [];
    const r2 = await build(opts(df, { noCache: true, ...logsOf(l2) }));
    expect(l1.join('')).toContain('run=1\n');
    expect(l1.join('')).toContain('755 0 0\n');
    expect(l2.join('')).toContain('run=2\n');
    // The layer holds the RUN's own file only: no cache content, no trace of the mount point.
    const layers1 = r1.images[0]!.layers;
    expect(await layerNames(store, layers1[1]!.digest)).toEqual(['file result']);
    expect(r2.images[0]!.layers[1]!.digest).toBe(layers1[1]!.digest);
    const caches = await listCacheMounts(store);
    expect(caches.map((c) => c.id)).toContain('app1');
    expect(await pruneCacheMounts(store)).toMatchObject({ removed: expect.any(Number) });
    expect((await listCacheMounts(store)).map((c) => c.id)).not.toContain('app1');
    expect(await readdir(path.join(store.root, 'tmp'))).toEqual([]);
  }, 180_000);

  it('applies mode, uid, gid to a new cache, seeds it from a stage (from=, source=) and mounts it read-only with ro', async () => {
    if (skip) return;
    const logs: string[] = [];
    await build(
      opts(
        [
          'FROM busybox:test AS seed',
          'RUN mkdir -p /seed && echo seeded > /seed/s.txt',
          'FROM busybox:test',
          'RUN --mount=type=cache,target=/c1,id=modes,mode=0700,uid=1000,gid=1001 stat -c "c1 %a %u %g" /c1',
          'RUN --mount=type=cache,target=/c2,id=seeded,from=seed,source=/seed cat /c2/s.txt',
          'RUN --mount=type=cache,target=/c3,id=readonly,ro (touch /c3/x 2>/dev/null && echo writable) || echo c3 read-only',
        ].join('\n'),
        logsOf(logs),
      ),
    );
    const out = logs.join('');
    expect(out).toContain('c1 700 1000 1001\n');
    expect(out).toContain('seeded\n');
    expect(out).toContain('c3 read-only\n');
  }, 180_000);

  it('sharing=locked serializes two concurrent builds on one store', async () => {
    if (skip) return;
    const df = (n: number) => `FROM busybox:test\nRUN --mount=type=cache,target=/c,id=lockme,sharing=locked echo start-${n}=$(cut -d" " -f1 /proc/uptime); sleep 2; echo end-${n}=$(cut -d" " -f1 /proc/uptime)\n`;
    const [a, b]: string[][] = [[], []];
    await Promise.all([build(opts(df(1), { noCache: true, ...logsOf(a) })), build(opts(df(2), { noCache: true, ...logsOf(b) }))]);
    const t = (logs: string[], what: string) => Number(/=(\d+\.\d+)/.exec(logs.join('').split('\n').find((l) => l.startsWith(what))!)![1]);
    const [s1, e1, s2, e2] = [t(a, 'start-1'), t(a, 'end-1'), t(b, 'start-2'), t(b, 'end-2')];
    // One ran entirely before the other started.
    expect(e1 <= s2 || e2 <= s1).toBe(true);
  }, 180_000);
});

describe('RUN --mount=type=bind', () => {
  it('reads the context (after .dockerignore) and a stage; rw writes vanish; a changed bound file misses only that step', async () => {
    if (skip) return;
    const df = [
      'FROM busybox:test AS build',
      'RUN mkdir /out && echo built > /out/artifact',
      'FROM busybox:test',
      'RUN --mount=type=bind,from=build,source=/out,target=/art cat /art/artifact > /from-stage',
      'RUN --mount=type=bind,from=build,source=/out,target=/art,rw echo scribble > /art/new && cat /art/new',
      'RUN --mount=type=bind,from=build,source=/out,target=/art2 test ! -e /art2/new && echo gone > /rw-check',
      'RUN --mount=type=bind,source=src/b.txt,target=/ro/b.txt cat /ro/b.txt; if (exec 2>/dev/null; echo x > /ro/b.txt); then echo writable; else echo ro; fi',
      'RUN --mount=type=bind,source=src,target=/mnt/src ls /mnt/src > /ctx-list && cat /mnt/src/a.txt >> /ctx-list',
    ].join('\n');
    const logs: string[] = [];
    const r1 = await build(opts(df, logsOf(logs)));
    expect(logs.join('')).toContain('scribble\n');
    expect(logs.join('')).toContain('beta\nro\n');
    const layers = r1.images[0]!.layers;
    const { readLayer } = await import('../../src/layers/index.js');
    const text = async (digest: string, name: string) => {
      for await (const { header, body } of readLayer(await store.open(digest as never))) {
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(Buffer.from(c));
        if (header.path.replace(/^\.\//, '') === name) return Buffer.concat(chunks).toString('utf8');
      }
      return undefined;
    };
    // The rw step wrote only into its copy, the read-only one could not write: no layer for either.
    expect(layers).toHaveLength(4);
    expect(await text(layers[1]!.digest, 'from-stage')).toBe('built\n');
    expect(await layerNames(store, layers[2]!.digest)).toEqual(['file rw-check']);
    // ignored.txt is excluded by .dockerignore; no trace of /mnt/src.
    expect(await layerNames(store, layers[3]!.digest)).toEqual(['file ctx-list']);
    expect(await text(layers[3]!.digest, 'ctx-list')).toBe('a.txt\nb.txt\nalpha\n');
    // Change a bound file: only the step binding it runs again.
    await writeFile(path.join(ctxDir, 'src/a.txt'), 'ALPHA\n');
    const events: string[] = [];
    const r2 = await build(opts(df, { onProgress: (e) => void (e.type === 'vertex.completed' && !e.cached && e.vertex.startsWith('step:') && events.push(e.vertex.split(':').slice(-2).join(':'))) }));
    await writeFile(path.join(ctxDir, 'src/a.txt'), 'alpha\n');
    expect(await text(r2.images[0]!.layers[3]!.digest, 'ctx-list')).toBe('a.txt\nb.txt\nALPHA\n');
    expect(events).toEqual(['1:5']);
  }, 240_000);
});

describe('RUN --mount=type=tmpfs', () => {
  it('is empty each time and leaves nothing in the layer', async () => {
    if (skip) return;
    const logs: string[] = [];
    const r = await build(
      opts('FROM busybox:test\nRUN --mount=type=tmpfs,target=/scratch,size=1m ls -A /scratch | wc -l; echo x > /scratch/f; df -k /scratch | tail -1 | awk \'{print "size=" $2}\'\nRUN --mount=type=tmpfs,target=/scratch ls -A /scratch | wc -l; touch /kept\n', { noCache: true, ...logsOf(logs) }),
    );
    const out = logs.join('').split('\n').map((l) => l.trim());
    expect(out.filter((l) => l === '0')).toHaveLength(2);
    expect(out).toContain('size=1024');
    expect(r.images[0]!.layers).toHaveLength(2);
    expect(await layerNames(store, r.images[0]!.layers[1]!.digest)).toEqual(['file kept']);
  }, 120_000);
});

describe('RUN --mount=type=secret', () => {
  const SECRET = 'hunter2-s3cr3t-value-xyzzy';
  it('mounts as a file (mode, uid, gid) and as env; a missing required one names it; an optional one mounts nothing', async () => {
    if (skip) return;
    const file = path.join(tmp, 'token.txt');
    await writeFile(file, SECRET);
    const logs: string[] = [];
    const r = await build(
      opts(
        [
          'FROM busybox:test',
          'RUN --mount=type=secret,id=tok stat -c "%a %u %g" /run/secrets/tok && test "$(cat /run/secrets/tok)" = "' + '$EXPECT' + '" || true',
          'RUN --mount=type=secret,id=tok,target=/etc/tok,mode=0440,uid=7,gid=8 stat -c "%a %u %g" /etc/tok && cp /etc/tok /copied',
          'RUN --mount=type=secret,id=envtok,env=TOKEN sh -c \'test "$TOKEN" = "$(cat /copied)" && echo env-ok; echo "leak:$TOKEN"\'',
          'RUN --mount=type=secret,id=absent ls /run/secrets 2>&1 | wc -l; test -e /run/secrets/absent || echo absent-skipped',
        ].join('\n'),
        { ...logsOf(logs), run: { isolation: 'oci', secrets: { tok: { file }, envtok: { env: 'MY_TOKEN' } } }, env: { MY_TOKEN: SECRET } },
      ),
    );
    const out = logs.join('');
    expect(out).toContain('400 0 0\n');
    expect(out).toContain('440 7 8\n');
    expect(out).toContain('env-ok\n');
    expect(out).toContain('absent-skipped\n');
    // Output lines that contain the value are redacted.
    expect(out).toContain('leak:****\n');
    expect(out).not.toContain(SECRET);
    // The mount point left no trace: only /copied (which the command wrote on purpose).
    expect(r.images[0]!.layers).toHaveLength(2);
    expect(await layerNames(store, r.images[0]!.layers[1]!.digest)).toEqual(['file copied']);
    await expect(build(opts('FROM busybox:test\nRUN --mount=type=secret,id=needed,required true\n'))).rejects.toMatchObject({
      code: 'SECRET_MISSING',
      message: expect.stringContaining('needed'),
      range: expect.objectContaining({ start: expect.objectContaining({ line: 2 }) }),
    });
  }, 180_000);

  it('never leaks: no byte left by a build (store, outputs, metadata, logs, errors, temp dirs) holds the value or its base64', async () => {
    if (skip) return;
    const value = 'Zq9-never-leak-' + process.pid + '-secret';
    const b64 = Buffer.from(value).toString('base64');
    const leakStore = await Store.open(path.join(tmp, 'leak-store'));
    await makeBusyboxImage(leakStore, 'busybox:test');
    const out = path.join(tmp, 'leak-out');
    const tmpBefore = new Set(await readdir(os.tmpdir()));
    const logs: string[] = [];
    const events: string[] = [];
    const dockerfile = [
      'FROM busybox:test',
      'RUN --mount=type=secret,id=s,env=S --mount=type=secret,id=s,target=/run/s echo "val=$S"; echo "b64=$(printf %s "$S" | base64)"; cat /run/s; echo; echo done > /done',
      'RUN --mount=type=secret,id=s,env=S sh -c \'echo "failing with $S" >&2; exit 3\'',
    ].join('\n');
    let error: unknown;
    try {
      await build({
        ...opts(dockerfile, { store: leakStore, run: { isolation: 'oci', secrets: { s: { value } } }, outputs: [`type=oci,dest=${out}`], tags: ['leak:test'] }),
        onProgress: (e) => {
          events.push(JSON.stringify(e));
          if (e.type === 'log') logs.push(e.data);
        },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OcibuildError);
    expect((error as OcibuildError).code).toBe('RUN_FAILED');
    expect((error as OcibuildError).message).toContain('failing with ****');
    // A successful build of the first step too, with an OCI output.
    await build({ ...opts(dockerfile.split('\n').slice(0, 2).join('\n'), { store: leakStore, run: { isolation: 'oci', secrets: { s: { value } } }, outputs: [`type=oci,dest=${out}`], tags: ['leak:test'] }), onProgress: (e) => void events.push(JSON.stringify(e)) });
    const haystacks: string[] = [events.join('\n'), logs.join(''), String((error as Error).message), JSON.stringify((error as OcibuildError).details ?? {})];
    for (const h of haystacks) {
      expect(h).not.toContain(value);
      expect(h).not.toContain(b64);
    }
    // Every byte on disk: the store (blobs, step cache, caches, tmp) and the output; gzip layers are searched decompressed.
    const grep = async (dir: string) => {
      const r = await exec('sh', ['-c', 'for f in $(find "$1" -type f); do (zcat -f "$f" 2>/dev/null; cat "$f") | grep -a -c -F -e "$2" -e "$3" >/dev/null && echo "$f"; done; true', 'sh', dir, value, b64], { maxBuffer: 1 << 24 });
      return r.stdout.trim();
    };
    expect(await grep(leakStore.root)).toBe('');
    expect(await grep(out)).toBe('');
    // Temp files of the build: none left in the store's tmp, none new in the OS temp dir holding it.
    expect(await readdir(path.join(leakStore.root, 'tmp'))).toEqual([]);
    // Secret files live in /dev/shm during the step: nothing of ours is left there.
    expect((await readdir('/dev/shm').catch(() => [] as string[])).filter((n) => n.startsWith('ocibuild-secrets-'))).toEqual([]);
    const newTmp = (await readdir(os.tmpdir())).filter((n) => !tmpBefore.has(n) && !n.startsWith('jest'));
    for (const n of newTmp) expect(await grep(path.join(os.tmpdir(), n)).catch(() => '')).toBe('');
  }, 240_000);
});

describe('the CLI: --secret, images --caches, prune', () => {
  it('takes --secret id=,env= and id=,src=, leaks nothing to its output or --metadata-file, lists and prunes cache mounts', async () => {
    if (skip) return;
    const value = 'cli-secret-' + process.pid + '-value';
    const b64 = Buffer.from(value).toString('base64');
    const dir = path.join(tmp, 'cli');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'file-secret'), value + '-file');
    await writeFile(
      path.join(dir, 'Dockerfile'),
      'FROM busybox:test\nRUN --mount=type=secret,id=e,env=E --mount=type=secret,id=f --mount=type=cache,target=/cache,id=cli-cache echo "e=$E f=$(cat /run/secrets/f)"; echo x > /cache/x; echo ok > /ok\n',
    );
    const meta = path.join(dir, 'meta.json');
    const storeDir = store.root;
    const r = await runCli(['build', dir, '--store', storeDir, '--secret', 'id=e,env=CLI_SECRET', '--secret', `id=f,src=${path.join(dir, 'file-secret')}`, '--metadata-file', meta, '--no-cache', '-t', 'cli-secret:1'], {
      env: { ...process.env, CLI_SECRET: value, SOURCE_DATE_EPOCH: '0' },
    });
    expect(r.stderr + r.stdout).toContain('e=**** f=****');
    for (const text of [r.stdout, r.stderr, await readFile(meta, 'utf8')]) {
      expect(text).not.toContain(value);
      expect(text).not.toContain(b64);
    }
    expect(r.code).toBe(0);
    const listed = await runCli(['images', '--caches', '--store', storeDir]);
    expect(listed.stdout).toMatch(/^cli-cache\s+\d/m);
    const pruned = await runCli(['prune', '--caches', '--store', storeDir]);
    expect(pruned.stdout).toMatch(/Deleted [1-9]\d* cache mounts/);
    expect((await runCli(['images', '--caches', '--store', storeDir])).stdout).not.toMatch(/cli-cache/);
    // An optional secret whose variable is unset mounts nothing; a secret file that is not there is a usage error.
    const unset = await runCli(['build', dir, '--store', storeDir, '--no-cache', '--secret', 'id=e,env=UNSET_VAR'], { env: { ...process.env } });
    expect(unset.code).toBe(0);
    const missing = await runCli(['build', dir, '--store', storeDir, '--secret', 'id=f,src=/nonexistent'], { env: { ...process.env } });
    // A usage error (the README's exit codes): 2, before any work.
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--secret id=f: /nonexistent: no such file');
  }, 180_000);
});

describe('RUN --mount=type=ssh', () => {
  it('forwards an ssh-agent socket (--ssh default) and key files: the agent answers on the socket', async () => {
    if (skip) return;
    const dir = path.join(tmp, 'ssh');
    await mkdir(dir, { recursive: true });
    await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'key'), '-C', 'ocibuild-test-key']);
    const sock = path.join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 200; i++) {
        if ((await stat(sock).catch(() => undefined))?.isSocket()) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await exec('ssh-add', [path.join(dir, 'key')], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      // busybox has no ssh client: an image with Debian's ssh-add and the libraries it links.
      const sshCtx = path.join(dir, 'ctx');
      const { stdout: ldd } = await exec('ldd', ['/usr/bin/ssh-add']);
      const files = ['/usr/bin/ssh-add', ...[...ldd.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]!)];
      for (const f of files) {
        await mkdir(path.join(sshCtx, path.dirname(f)), { recursive: true });
        await exec('cp', ['-L', f, path.join(sshCtx, f)]);
      }
      await build({ ...opts('FROM busybox:test\nCOPY . /\n'), context: sshCtx, tags: ['busybox-ssh:test'] });
      const df = (extra: string) => `FROM busybox-ssh:test\nRUN --mount=type=ssh${extra} stat -c "%a %u %g" "$SSH_AUTH_SOCK"; echo "sock=$SSH_AUTH_SOCK"; ssh-add -l\n`;
      const logs: string[] = [];
      const r = await build(opts(df(''), { noCache: true, ...logsOf(logs), run: { isolation: 'oci', ssh: { default: [] } }, env: { SSH_AUTH_SOCK: sock } }));
      const out = logs.join('');
      expect(out).toContain('600 0 0\n');
      expect(out).toContain('sock=/run/buildkit/ssh_agent.0\n');
      expect(out).toMatch(/^256 SHA256:\S+ ocibuild-test-key \(ED25519\)$/m);
      expect(r.images[0]!.layers).toHaveLength(2); // the base and the COPY: the RUN left nothing
      // Key files, a custom id and target, mode/uid.
      const logs2: string[] = [];
      await build(opts(df(',id=deploy,target=/tmp/agent,mode=0660,uid=5,required'), { noCache: true, ...logsOf(logs2), run: { isolation: 'oci', ssh: { deploy: [path.join(dir, 'key')] } } }));
      expect(logs2.join('')).toContain('660 5 0\n');
      expect(logs2.join('')).toContain('sock=/tmp/agent\n');
      expect(logs2.join('')).toMatch(/^256 SHA256:\S+ ocibuild-test-key \(ED25519\)$/m);
      // A required ssh id that is not given names it.
      await expect(build(opts(df(',id=missing,required'), { noCache: true }))).rejects.toMatchObject({ code: 'SSH_MISSING', message: expect.stringContaining('missing') });
    } finally {
      agent.kill();
    }
  }, 180_000);
});

describe('RUN --mount with --isolation=chroot', () => {
  it('is refused with the reason, never run without its mounts', async () => {
    if (skip) return;
    await expect(build(opts('FROM busybox:test\nRUN --mount=type=tmpfs,target=/t true\n', { noCache: true, run: { isolation: 'chroot' } }))).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringContaining('RUN --mount needs an OCI runtime'),
    });
    await expect(
      build(opts('FROM busybox:test\nRUN --mount=type=secret,id=s,env=S true\n', { noCache: true, run: { isolation: 'chroot', secrets: { s: { value: 'chroot-secret' } } } })),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringContaining('env= needs an OCI runtime') });
  }, 60_000);
});

describe('RUN --mount target in the working directory', () => {
  it('resolves a relative target against WORKDIR and leaves no trace of it', async () => {
    if (skip) return;
    const logs: string[] = [];
    const r = await build(opts('FROM busybox:test\nWORKDIR /w\nRUN --mount=type=bind,source=src,target=rel cat /w/rel/b.txt\n', { noCache: true, ...logsOf(logs) }));
    await expect(build(opts('FROM busybox:test\n\nRUN --mount=type=bind,source=nope,target=/x true\n'))).rejects.toMatchObject({
      code: 'RUN_MOUNT',
      message: expect.stringContaining('nope: not found in build context'),
      range: expect.objectContaining({ start: expect.objectContaining({ line: 3 }) }),
    });
    expect(logs.join('')).toContain('beta\n');
    expect(r.images[0]!.layers).toHaveLength(2); // WORKDIR's /w only
    expect(await readFile(path.join(ctxDir, 'src/b.txt'), 'utf8')).toBe('beta\n');
  }, 120_000);
});
