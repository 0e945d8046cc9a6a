/**
 * Differential check of RUN --mount against buildah 1.28 (vfs, chroot
 * isolation): the same Dockerfile, on the same busybox base, gives the same
 * final filesystem with both. Covered: bind (context, stage, rw), cache (id,
 * mode, uid, gid), tmpfs, secret (file, required, mode). Left out, because
 * buildah 1.28 lacks them: `secret,env=` (added in buildah 1.30),
 * `cache,sharing=` semantics across processes (buildah keeps caches under
 * its own run dir), `ssh` with key files (buildah loads keys too, but our
 * test base has no ssh client). Where the two differ and we follow BuildKit:
 * buildah 1.28 leaves /dev, /proc, /sys, /etc/hosts, /etc/resolv.conf,
 * /etc/hostname and the secret's /run/secrets in the layer; BuildKit and
 * ocibuild leave no trace, so exactly those are dropped from buildah's tree
 * before comparing. buildah 1.28 panics on a bare
 * `required` flag of a secret mount: the test writes `required=true`.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { probeHost } from '../../src/run/index.js';
import { makeBusyboxImage } from '../base-image.js';
import { probeRuntime } from '../runtime.js';
import { listTree } from '../image-listing.js';

const exec = promisify(execFile);

const DOCKERFILE = `FROM BASE AS seed
RUN mkdir /seed && echo seeded > /seed/f
FROM BASE
RUN --mount=type=bind,from=seed,source=/seed,target=/b cat /b/f > /from-stage
RUN --mount=type=bind,from=seed,source=/seed,target=/b,rw echo x > /b/new && ls /b > /rw-saw
RUN --mount=type=bind,source=data,target=/ctx cat /ctx/d.txt > /from-ctx
RUN --mount=type=cache,target=/cache,id=diffcache,mode=0700,uid=5,gid=6 stat -c '%a %u %g' /cache > /cache-stat && echo c > /cache/c
RUN --mount=type=cache,target=/cache,id=diffcache cat /cache/c > /from-cache
RUN --mount=type=tmpfs,target=/t ls -A /t | wc -l > /tmpfs-count && touch /t/x
RUN --mount=type=secret,id=s,required=true,mode=0440 stat -c '%a' /run/secrets/s > /secret-mode && wc -c < /run/secrets/s > /secret-len
`;

const tree = listTree;

describe('differential: RUN --mount with ocibuild and buildah', () => {
  let tmp: string;
  const lowerTmp = path.join(os.tmpdir(), `ocibuild-bbase-${process.pid}`);
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-buildah-mounts-'));
    await mkdir(lowerTmp, { recursive: true });
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
    await rm(lowerTmp, { recursive: true, force: true });
  });

  it('same filesystem tree', async () => {
    await probeRuntime();
    const probe = await probeHost();
    if (process.getuid?.() !== 0 || probe.unavailable || !probe.runtime) {
      const why = process.getuid?.() !== 0 ? 'buildah with vfs needs root here' : (probe.unavailable ?? 'no OCI runtime');
      if (process.env.CI) throw new Error(`the buildah RUN --mount differential test cannot run on CI: ${why}`);
      console.warn(`SKIPPED (loudly): ${why}`);
      return;
    }
    const store = await Store.open(path.join(tmp, 'store'));
    await makeBusyboxImage(store, 'busybox:test');
    // The same base for buildah: our busybox image as an OCI layout, pulled into buildah's storage.
    // buildah names a pulled layout after its path, which must be lower case.
    const baseLayout = path.join(lowerTmp, 'base.oci');
    await build({ context: tmp, dockerfile: 'FROM busybox:test\n', store, env: {}, platforms: ['linux/amd64'], outputs: [`type=oci,dest=${baseLayout}`], tags: ['busybox:latest'] });
    const b = ['--storage-driver', 'vfs', '--root', path.join(tmp, 'broot'), '--runroot', path.join(tmp, 'brun')];
    await exec('buildah', [...b, 'pull', '--quiet', `oci:${baseLayout}:latest`]);
    const { stdout: images } = await exec('buildah', [...b, 'images', '--format', '{{.Name}}:{{.Tag}}']);
    const buildahBase = images.trim().split('\n')[0]!;

    const ctx = path.join(tmp, 'ctx');
    await mkdir(path.join(ctx, 'data'), { recursive: true });
    await writeFile(path.join(ctx, 'data/d.txt'), 'from the context\n');
    const secret = path.join(tmp, 'secret.txt');
    await writeFile(secret, 'twelve bytes');

    await writeFile(path.join(ctx, 'Dockerfile.buildah'), DOCKERFILE.replaceAll('BASE', buildahBase));
    await exec('buildah', [...b, 'bud', '--isolation', 'chroot', '--secret', `id=s,src=${secret}`, '-f', path.join(ctx, 'Dockerfile.buildah'), '-t', 'diffm', ctx], {
      env: { ...process.env, BUILDAH_FORMAT: 'oci' },
    });
    const buildahOci = path.join(tmp, 'buildah.oci');
    await exec('buildah', [...b, 'push', 'diffm', `oci:${buildahOci}:latest`]);

    const ours = path.join(tmp, 'ours.oci');
    await build({
      context: ctx,
      dockerfile: DOCKERFILE.replaceAll('BASE', 'busybox:test'),
      store,
      env: {},
      platforms: ['linux/amd64'],
      outputs: [`type=oci,dest=${ours}`],
      tags: ['diffm:latest'],
      run: { isolation: 'oci', secrets: { s: { file: secret } } },
    });

    const unpack = async (layout: string, name: string) => {
      const bundle = path.join(tmp, name);
      await exec('umoci', ['unpack', '--image', `${layout}:latest`, bundle]);
      return path.join(bundle, 'rootfs');
    };
    const [bt, ot] = [await tree(await unpack(buildahOci, 'bundle-buildah')), await tree(await unpack(ours, 'bundle-ours'))];
    // buildah 1.28 leaves its own mount points and the secret's parent directories behind (BuildKit
    // does not): exactly these, dropped from its tree.
    const buildahTraces = ['dev', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'proc', 'run', 'run/secrets', 'sys'];
    const traces = new RegExp(`^(${[...buildahTraces, 'b', 'ctx', 'cache', 't', 'run/secrets/s'].map((t) => t.replace(/[./]/g, '\\$&')).join('|')}) `);
    expect(bt.filter((l) => traces.test(l)).map((l) => l.split(' ')[0])).toEqual(buildahTraces);
    const buildahTree = bt.filter((l) => !traces.test(l));
    expect(ot).toEqual(buildahTree);
    const contents = async (root: string, f: string) => readFile(path.join(root, f), 'utf8');
    const ourRoot = path.join(tmp, 'bundle-ours', 'rootfs');
    expect(await contents(ourRoot, 'from-stage')).toBe('seeded\n');
    expect(await contents(ourRoot, 'rw-saw')).toBe('f\nnew\n');
    expect(await contents(ourRoot, 'from-ctx')).toBe('from the context\n');
    expect(await contents(ourRoot, 'cache-stat')).toBe('700 5 6\n');
    expect(await contents(ourRoot, 'from-cache')).toBe('c\n');
    expect(await contents(ourRoot, 'tmpfs-count')).toBe('0\n');
    expect(await contents(ourRoot, 'secret-mode')).toBe('440\n');
    expect((await contents(ourRoot, 'secret-len')).trim()).toBe('12');
    // Our layers hold no mount point.
    expect(ot.filter((l) => traces.test(l))).toEqual([]);
  }, 300_000);
});
