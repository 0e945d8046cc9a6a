/**
 * RUN end to end through build(): a busybox base made offline, the command
 * run in the sandbox with each isolation (an OCI runtime, and unshare +
 * chroot), the layer read back from the store. Needs root or user namespaces
 * and overlayfs: skipped loudly without them, fails on CI.
 */
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build, type BuildOptions } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { OcibuildError } from '../../src/errors.js';
import { listLayer, readLayer } from '../../src/layers/index.js';
import { probeHost, type HostProbe } from '../../src/run/index.js';
import { makeBusyboxImage } from '../base-image.js';

const exec = promisify(execFile);

async function layerNames(store: Store, digest: string): Promise<string[]> {
  return (await listLayer(await store.open(digest as never))).map((e) => `${e.type} ${e.path}`);
}

async function layerFile(store: Store, digest: string, name: string): Promise<string | undefined> {
  for await (const { header, body } of readLayer(await store.open(digest as never))) {
    if (header.path.replace(/^\.\//, '') === name) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(Buffer.from(c));
      return Buffer.concat(chunks).toString('utf8');
    }
    for await (const _ of body) void _;
  }
  return undefined;
}

let probe: HostProbe | undefined;
let skip: string | undefined;
let tmp: string;
let store: Store;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-runsb-'));
  probe = await probeHost();
  if (probe.unavailable) {
    skip = probe.unavailable;
    if (process.env.CI) throw new Error(`RUN cannot work on CI: ${skip}`);
    console.warn(`SKIPPED (loudly): RUN sandbox unavailable: ${skip}`);
    return;
  }
  store = await Store.open(path.join(tmp, 'store'));
  await makeBusyboxImage(store, 'busybox:test');
}, 60_000);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const isolations = ['oci', 'chroot'] as const;

describe.each(isolations)('RUN with --isolation=%s', (isolation) => {
  const opts = (dockerfile: string, extra: Partial<BuildOptions> = {}): BuildOptions => ({
    context: tmp,
    dockerfile,
    store,
    env: {},
    platforms: ['linux/amd64'],
    sourceDateEpoch: 0,
    run: { isolation },
    ...extra,
  });
  const unavailable = () => {
    if (skip) return true;
    if (isolation === 'oci' && !probe!.runtime) {
      if (process.env.CI) throw new Error('no OCI runtime works on CI');
      console.warn('SKIPPED (loudly): no OCI runtime works here: ' + probe!.runtimes.crun.detail + '; ' + probe!.runtimes.runc.detail);
      return true;
    }
    return false;
  };

  it('writes a file, deletes a base file (whiteout), removes a directory of a lower layer (opaque), streams its output', async () => {
    if (unavailable()) return;
    const logs: string[] = [];
    const r = await build(
      opts(
        `FROM busybox:test\nRUN echo hi > /hello && rm /etc/group && mkdir -p /data/sub && touch /data/a /data/sub/b && echo out && echo err >&2 # ${isolation}\nRUN rm -rf /data && mkdir /data && echo x > /data/new\n`,
        { onProgress: (e) => e.type === 'log' && logs.push(`${e.stream}:${e.data}`) },
      ),
    );
    const layers = r.images[0]!.layers;
    expect(layers).toHaveLength(3);
    // No trace of the sandbox's mount points (/proc, /dev, /sys, /etc/hosts, /etc/resolv.conf, /etc/hostname).
    expect(await layerNames(store, layers[1]!.digest)).toEqual(['directory data', 'file data/a', 'directory data/sub', 'file data/sub/b', 'directory etc', 'whiteout etc/group', 'file hello']);
    expect(await layerNames(store, layers[2]!.digest)).toEqual(['directory data', 'opaque data', 'file data/new']);
    expect(logs.join('')).toContain('stdout:out\n');
    expect(logs.join('')).toContain('stderr:err\n');
    expect(await readdir(path.join(store.root, 'tmp'))).toEqual([]);
  }, 120_000);

  it('holds its lower trees fresh for prune while the command runs, and lets them go after', async () => {
    if (unavailable()) return;
    const held: string[] = [];
    let released = 0;
    const holdFresh = store.holdFresh.bind(store);
    const spy = jest.spyOn(store, 'holdFresh').mockImplementation((p: string) => {
      held.push(p);
      const release = holdFresh(p);
      return () => {
        released++;
        release();
      };
    });
    try {
      await build(opts(`FROM busybox:test\nRUN echo held > /held # ${isolation}\n`));
    } finally {
      spy.mockRestore();
    }
    // The RUN's lower trees (the build also holds its base's blobs, under blobs/).
    expect(held.filter((p) => p.startsWith(path.join(store.root, 'unpacked') + path.sep)).length).toBeGreaterThan(0);
    expect(released).toBe(held.length);
  }, 120_000);

  it('sees the image Env, ARGs in scope, USER by name with its groups, WORKDIR, SHELL, heredocs', async () => {
    if (unavailable()) return;
    const dockerfile = [
      'FROM busybox:test',
      'ENV GREETING=hello',
      'ARG WHO=world',
      `RUN echo "$GREETING $WHO $HOME" > /env.txt && echo ${isolation} > /isolation`,
      'RUN mkdir /home && echo "app:x:1000:1000:app:/home/app:/bin/sh" >> /etc/passwd && echo "app:x:1000:" >> /etc/group && echo "audio:x:29:app" >> /etc/group && mkdir /home/app && chown app:app /home/app',
      'USER app',
      'WORKDIR /home/app/work',
      'RUN id > id.txt && pwd > pwd.txt && echo $HOME > home.txt',
      'USER 0:0',
      'SHELL ["/bin/sh", "-c", "echo shell:\\"$0\\" > /shell.txt; eval \\"$0\\""]',
      'RUN true',
      'SHELL ["/bin/sh", "-c"]',
      'RUN <<EOF',
      'echo heredoc > /heredoc.txt',
      'EOF',
      'RUN <<EOF',
      '#!/bin/sh',
      'echo "shebang $0" > /shebang.txt',
      'EOF',
      "RUN <<'EOF' sh -s arg1",
      'echo "interp $1" > /interp.txt',
      'EOF',
      'RUN ["/bin/sh", "-c", "echo exec > /exec.txt"]',
    ].join('\n');
    const r = await build(opts(dockerfile + '\n'));
    const layers = r.images[0]!.layers;
    const find = async (name: string) => {
      for (const l of [...layers].reverse()) {
        const t = await layerFile(store, l.digest, name);
        if (t !== undefined) return t;
      }
      return undefined;
    };
    expect(await find('env.txt')).toBe('hello world /root\n');
    // Supplementary groups: the primary group, then the groups listing the user (runc's GetExecUser, then
    // BuildKit's and containerd's ensureAdditionalGids); busybox's id lists getgroups(), which the kernel sorts.
    expect(await find('home/app/work/id.txt')).toBe('uid=1000(app) gid=1000(app) groups=29(audio),1000(app)\n');
    expect(await find('home/app/work/pwd.txt')).toBe('/home/app/work\n');
    expect(await find('home/app/work/home.txt')).toBe('/home/app\n');
    expect(await find('shell.txt')).toBe('shell:true\n');
    expect(await find('heredoc.txt')).toBe('heredoc\n');
    expect(await find('shebang.txt')).toBe('shebang /dev/pipes/EOF\n');
    expect(await find('interp.txt')).toBe('interp arg1\n');
    expect(await find('exec.txt')).toBe('exec\n');
    // ARGs are never persisted in the image.
    expect(r.images[0]!.configValue.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello']);
  }, 120_000);

  it('fails at the instruction with the exit code and the last lines of the output; the store stays clean', async () => {
    if (unavailable()) return;
    let error: unknown;
    try {
      await build(opts(`FROM busybox:test\nRUN echo building\nRUN echo first line && echo "something broke" >&2 && exit 3 # ${isolation}\n`, { file: 'Dockerfile.fail' }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OcibuildError);
    const e = error as OcibuildError;
    expect(e.code).toBe('RUN_FAILED');
    expect(e.file).toBe('Dockerfile.fail');
    expect(e.range?.start.line).toBe(3);
    expect(e.message).toContain(`process "/bin/sh -c echo first line && echo \\"something broke\\" >&2 && exit 3 # ${isolation}" did not complete successfully: exit code: 3`.replace(/\\"/g, '"'));
    expect(e.message).toContain('first line');
    expect(e.message).toContain('something broke');
    expect(await readdir(path.join(store.root, 'tmp'))).toEqual([]);
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(store.root);
  }, 120_000);

  it('is cached on rebuild; a changed ARG misses only the RUN steps that see it', async () => {
    if (unavailable()) return;
    const stamp = Date.now();
    const dockerfile = `FROM busybox:test\nRUN echo one ${isolation} ${stamp} > /one\nARG B=1\nRUN echo $B > /two\n`;
    const ran = async (b: string) => {
      const names = new Map<string, string>();
      const ran: string[] = [];
      const r = await build(
        opts(dockerfile, {
          buildArgs: { B: b },
          onProgress: (e) => {
            if (e.type === 'vertex.started') names.set(e.vertex, e.name);
            if (e.type === 'vertex.completed' && !e.cached && names.get(e.vertex)?.includes('RUN')) ran.push(names.get(e.vertex)!.replace(/^.*RUN /, ''));
          },
        }),
      );
      return { steps: ran, digest: r.descriptor.digest };
    };
    const first = await ran('1');
    expect(first.steps).toEqual([`echo one ${isolation} ${stamp} > /one`, 'echo $B > /two']);
    const again = await ran('1');
    expect(again.steps).toEqual([]);
    expect(again.digest).toBe(first.digest);
    const changed = await ran('2');
    expect(changed.steps).toEqual(['echo $B > /two']);
  }, 120_000);

  it('--network=none gives a loopback-only namespace; the default is the host network', async () => {
    if (unavailable()) return;
    const r = await build(opts(`FROM busybox:test\nRUN --network=none ls /sys/class/net > /none.txt # ${isolation}\nRUN cat /proc/net/dev | wc -l > /host.txt\n`));
    const layers = r.images[0]!.layers;
    expect(await layerFile(store, layers[1]!.digest, 'none.txt')).toBe('lo\n');
    const { stdout } = await exec('sh', ['-c', 'cat /proc/net/dev | wc -l']);
    expect((await layerFile(store, layers[2]!.digest, 'host.txt'))!.trim()).toBe(stdout.trim());
  }, 120_000);

  it('an abort kills the whole process tree and leaves no mount, no process and no temp', async () => {
    if (unavailable()) return;
    const ac = new AbortController();
    const marker = `${Date.now() % 100000 + 1000}`;
    const started = new Promise<void>((resolve) => {
      void build(
        opts(`FROM busybox:test\nRUN echo started; sh -c "sleep ${marker}" & sleep ${marker}; echo never # ${isolation}\n`, {
          signal: ac.signal,
          onProgress: (e) => e.type === 'log' && e.data.includes('started') && resolve(),
        }),
      ).catch((e) => {
        aborted = e;
      });
    });
    let aborted: unknown;
    await started;
    const t0 = Date.now();
    ac.abort(new Error('stop'));
    for (let i = 0; i < 100 && aborted === undefined; i++) await new Promise((r) => setTimeout(r, 50));
    expect(aborted).toBeDefined();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(store.root);
    const { stdout } = await exec('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(`sleep ${marker}`);
    expect(await readdir(path.join(store.root, 'tmp'))).toEqual([]);
  }, 120_000);

  it('--add-host, --shm-size and --ulimit reach the process', async () => {
    if (unavailable()) return;
    const r = await build(
      opts(`FROM busybox:test\nRUN grep -w db /etc/hosts > /hosts.txt && df -k /dev/shm | tail -1 | awk '{print $2}' > /shm.txt && ulimit -n > /nofile.txt # ${isolation}\n`, {
        run: { isolation, addHosts: [{ host: 'db', ip: '10.1.2.3' }], shmSize: 32 * 1024 * 1024, ulimits: [{ type: 'RLIMIT_NOFILE', soft: 1000, hard: 1000 }] },
      }),
    );
    const layer = r.images[0]!.layers[1]!;
    expect(await layerFile(store, layer.digest, 'hosts.txt')).toBe('10.1.2.3\tdb\n');
    expect(await layerFile(store, layer.digest, 'shm.txt')).toBe('32768\n');
    expect(await layerFile(store, layer.digest, 'nofile.txt')).toBe('1000\n');
  }, 120_000);

  it('a working directory replaced by a symlink out of the image creates nothing outside it', async () => {
    if (unavailable()) return;
    const outside = path.join(tmp, `outside-${isolation}`);
    // A runtime creates the missing cwd inside the container's root (fine); chroot creates nothing and fails.
    await build(opts(`FROM busybox:test\nWORKDIR /w\nRUN cd / && rmdir /w && ln -s ${outside} /w\nRUN true\n`)).catch((e: unknown) => {
      expect(e).toBeInstanceOf(OcibuildError);
    });
    await expect(readdir(outside)).rejects.toThrow(/ENOENT/);
  }, 120_000);

  it('mounts more lower layers than one page of overlay options holds (short symlinked names)', async () => {
    if (unavailable()) return;
    // 120 layers (WORKDIR makes one each): their store paths alone would be ~14 KB of lowerdir=.
    const dirs = Array.from({ length: 120 }, (_, i) => `WORKDIR /deep/d${i}`).join('\n');
    const r = await build(opts(`FROM busybox:test\n${dirs}\nRUN ls /deep | wc -l > /count # ${isolation}\n`));
    const layers = r.images[0]!.layers;
    expect(layers).toHaveLength(122);
    expect((await layerFile(store, layers[121]!.digest, 'count'))!.trim()).toBe('120');
  }, 300_000);
});

describe('RUN with the fuse-overlayfs snapshot', () => {
  it('writes a file, deletes a base file, removes a directory of a lower layer', async () => {
    if (skip) return;
    if (!probe!.fuseOverlayfs.ok) {
      if (process.env.CI) throw new Error(`fuse-overlayfs unavailable on CI: ${probe!.fuseOverlayfs.detail}`);
      console.warn(`SKIPPED (loudly): ${probe!.fuseOverlayfs.detail}`);
      return;
    }
    const r = await build({
      context: tmp,
      dockerfile: 'FROM busybox:test\nRUN echo fuse > /hello && rm /etc/group && mkdir -p /data/sub && touch /data/a /data/sub/b\nRUN rm -rf /data && mkdir /data && echo x > /data/new\n',
      store,
      env: {},
      platforms: ['linux/amd64'],
      sourceDateEpoch: 0,
      run: { snapshot: 'fuse-overlayfs' },
    });
    const layers = r.images[0]!.layers;
    expect(await layerNames(store, layers[1]!.digest)).toEqual(['directory data', 'file data/a', 'directory data/sub', 'file data/sub/b', 'directory etc', 'whiteout etc/group', 'file hello']);
    expect(await layerNames(store, layers[2]!.digest)).toEqual(['directory data', 'opaque data', 'file data/new']);
    expect(await readdir(path.join(store.root, 'tmp'))).toEqual([]);
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(store.root);
  }, 120_000);
});

describe('RUN with the copy snapshot (a copied tree, a stat-based diff)', () => {
  it('gives the same layers as the overlay snapshot: writes, a deleted base file, rm -rf of a lower dir, a replaced dir, chmod, symlinks, hardlinks', async () => {
    if (skip) return;
    if (!probe!.overlay.ok) {
      if (process.env.CI) throw new Error(`overlay unavailable on CI: ${probe!.overlay.detail}`);
      console.warn(`SKIPPED (loudly): ${probe!.overlay.detail}`);
      return;
    }
    const dockerfile = [
      'FROM busybox:test',
      'RUN mkdir -p /data/sub /keep/sub && echo a > /data/a && echo b > /data/sub/b && echo k > /keep/sub/k && ln -s /data/a /link',
      'RUN echo hi > /hello && ln /hello /hard && rm /etc/group && rm -rf /data && rm -rf /keep && mkdir /keep && echo new > /keep/new && chmod 600 /etc/passwd && chmod 4755 /hello && ln -sf /etc/passwd /link && ln -s hello /rel',
      '',
    ].join('\n');
    const layersWith = async (snapshot: 'overlay' | 'copy', isolation: 'auto' | 'chroot' = 'auto') => {
      const s = await Store.open(path.join(tmp, `store-${snapshot}-${isolation}`));
      await makeBusyboxImage(s, 'busybox:test');
      const warnings: string[] = [];
      const r = await build({
        context: tmp,
        dockerfile,
        store: s,
        env: {},
        platforms: ['linux/amd64'],
        sourceDateEpoch: 0,
        run: { snapshot, isolation },
        onProgress: (e) => e.type === 'warning' && warnings.push(e.message),
      });
      const layers = r.images[0]!.layers;
      const listings = await Promise.all(layers.slice(1).map((l) => layerNames(s, l.digest)));
      expect(await readdir(path.join(s.root, 'tmp'))).toEqual([]);
      return { digests: layers.map((l) => l.digest), listings, warnings };
    };
    const overlay = await layersWith('overlay');
    const copy = await layersWith('copy');
    expect(copy.listings[0]).toEqual(['directory data', 'file data/a', 'directory data/sub', 'file data/sub/b', 'directory keep', 'directory keep/sub', 'file keep/sub/k', 'symlink link']);
    expect(copy.listings[1]).toEqual(['whiteout data', 'directory etc', 'whiteout etc/group', 'file etc/passwd', 'file hard', 'hardlink hello', 'directory keep', 'opaque keep', 'file keep/new', 'symlink link', 'symlink rel']);
    expect(copy.listings).toEqual(overlay.listings);
    // Same entries, owners, modes, link targets and bytes (mtimes clamped to SOURCE_DATE_EPOCH): same digests.
    expect(copy.digests).toEqual(overlay.digests);
    // The same under chroot isolation (its mount stubs are made in the copied tree itself).
    expect((await layersWith('copy', 'chroot')).digests).toEqual(overlay.digests);
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(tmp);
  }, 240_000);
});
