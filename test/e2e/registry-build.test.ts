/**
 * Builds against the real distribution registry: FROM resolves through the
 * registry client (base pinned by digest), --push publishes what skopeo then
 * reads with the same digest, `ocibuild pull`/`push` move images between the
 * store and registries, and a push to another repository mounts the base
 * layers instead of uploading them.
 */
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../cli-io.js';
import { run, startRegistry, type TestRegistry } from '../registry/harness.js';
import { makeBusyboxImage, makeMultiPlatformImage } from '../registry/base-image.js';
import { Store } from '../../src/cache/store.js';
import { readImage } from '../../src/image/read.js';
import { build, type ProgressEvent } from '../../src/build.js';
import { RegistryClient, normalizeReference, pullImage } from '../../src/registry/index.js';
import { pushImage as pushImageTo } from '../../src/push/index.js';

describe('builds with a registry (docker-registry on 127.0.0.1)', () => {
  let tmp: string;
  let reg: TestRegistry;
  let env: NodeJS.ProcessEnv;
  const inspectFlags = () => ['--tls-verify=false', '--creds', `alice:${reg.users.alice}`];
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-regbuild-'));
    reg = await startRegistry({ auth: 'htpasswd' });
    const layout = path.join(tmp, 'busybox-layout');
    await makeBusyboxImage(layout);
    await run('skopeo', ['copy', ...reg.skopeoFlags('dest', 'alice'), `oci:${layout}:latest`, `docker://${reg.host}/base/busybox:1`]);
    // credentials come from a docker config.json, as a CI job would have them
    const dockerConfig = path.join(tmp, 'docker');
    await mkdir(dockerConfig, { recursive: true });
    const auth = Buffer.from(`alice:${reg.users.alice}`).toString('base64');
    await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth } } }));
    env = { PATH: process.env.PATH, HOME: tmp, DOCKER_CONFIG: dockerConfig, OCIBUILD_HOME: path.join(tmp, 'store') };
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('FROM a registry image, --push, then skopeo reads the same digest', async () => {
    const ctx = path.join(tmp, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${reg.host}/base/busybox:1\nCOPY msg /msg\nCMD ["cat", "/msg"]\n`);
    await writeFile(path.join(ctx, 'msg'), 'pushed by ocibuild\n');
    const meta = path.join(tmp, 'meta.json');
    const r = await runCli([ctx, '-t', `${reg.host}/team/app:1`, '--push', '--metadata-file', meta], { env });
    expect(r.stderr).not.toMatch(/internal error/);
    if (r.code !== 0) throw new Error(r.stderr);
    const digest = r.stdout.trim();
    const inspected = JSON.parse(await run('skopeo', ['inspect', ...inspectFlags(), `docker://${reg.host}/team/app:1`]));
    expect(inspected.Digest).toBe(digest);
    expect(inspected.Layers).toHaveLength(2);
    const m = JSON.parse(await readFile(meta, 'utf8'));
    expect(m.bases).toEqual([expect.stringMatching(new RegExp(`^${reg.host.replace(/[.]/g, '\\.')}/base/busybox@sha256:[0-9a-f]{64}$`))]);
    // the base layer came from base/busybox on the same registry: mounted, not uploaded
    const again = await runCli(['push', `${reg.host}/team/app:1`, `${reg.host}/other/app:2`], { env });
    if (again.code !== 0) throw new Error(again.stderr);
    expect(again.stdout.trim()).toBe(digest);
    // Nothing is uploaded: every blob (config, base layer, COPY layer) is mounted from team/app or
    // base/busybox. A mount retried after a lost answer finds the blob already linked, so it counts
    // as "already there"; the sum is what matters.
    const counts = /pushed (\d+) blobs \((\d+) bytes\), (\d+) already there, (\d+) mounted/.exec(again.stderr);
    expect(counts).not.toBeNull();
    const [, uploaded, bytes, existing, mounted] = counts!.map(Number);
    expect([uploaded, bytes]).toEqual([0, 0]);
    expect(existing! + mounted!).toBe(3);
    expect(mounted).toBeGreaterThanOrEqual(1);
  });

  it('build() reports pulls and pushes as progress events: bytes as they arrive, a vertex per pull, step, output and push (issue 9)', async () => {
    const client = await RegistryClient.create({ env: {}, creds: { [reg.host]: { username: 'alice', password: reg.users.alice } } });
    const store = await Store.open(path.join(tmp, 'progress-store'));
    const ctx = path.join(tmp, 'progress-ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'msg'), 'hello\n');
    const events: ProgressEvent[] = [];
    try {
      await build({
        context: ctx,
        dockerfile: `FROM ${reg.host}/base/busybox:1\nCOPY msg /msg\n`,
        store,
        env: {},
        platforms: ['linux/amd64'],
        tags: [`${reg.host}/team/progress:1`],
        push: true,
        onProgress: (e) => events.push(e),
        pullImage: async (ref, platform, o) => {
          const r = await pullImage(client, normalizeReference(ref), { sink: o.store, platform, ...(o.onProgress ? { onProgress: (e) => o.onProgress!({ digest: e.digest, kind: e.kind, current: e.bytes, total: e.total, done: e.phase === 'done' }) } : {}) });
          return { descriptor: r.descriptor, name: ref };
        },
        pushImage: async (s, descriptor, ref, o) => {
          const r = await pushImageTo(client, s, { reference: normalizeReference(ref), descriptor, tags: ['1'], ...(o.onProgress ? { onProgress: (e) => o.onProgress!({ digest: e.digest, current: e.bytes, total: e.total, done: e.phase === 'done' }) } : {}) });
          return { digest: r.digest };
        },
      });
    } finally {
      await client.close();
    }
    const started = events.filter((e): e is Extract<ProgressEvent, { type: 'vertex.started' }> => e.type === 'vertex.started');
    expect(started.map((e) => e.kind)).toEqual(['pull', 'step', 'step', 'output', 'push']);
    expect(started[2]).toMatchObject({ name: '[2/2] COPY msg /msg', location: { line: 2 } });
    // every vertex completes, after its statuses
    for (const v of started) {
      const done = events.findIndex((e) => e.type === 'vertex.completed' && e.vertex === v.vertex);
      expect(done).toBeGreaterThan(events.indexOf(v));
      expect(events.slice(done + 1).some((e) => e.type === 'status' && e.vertex === v.vertex)).toBe(false);
    }
    const pullBytes = events.filter((e): e is Extract<ProgressEvent, { type: 'status' }> => e.type === 'status' && e.vertex === started[0]!.vertex);
    expect(pullBytes.some((e) => e.completed && e.total !== undefined && e.current === e.total)).toBe(true);
    expect(events.some((e) => e.type === 'status' && e.vertex === started[2]!.vertex && e.completed)).toBe(true); // the COPY layer's bytes
    expect(events.some((e) => e.type === 'status' && e.vertex === started[4]!.vertex)).toBe(true); // the upload
    expect(events.every((e) => typeof e.time === 'number')).toBe(true);
  });

  it('ocibuild pull stores an image skopeo pushed, by the same digest; a wrong password is the registry\'s own error', async () => {
    const r = await runCli(['pull', `${reg.host}/base/busybox:1`], { env });
    if (r.code !== 0) throw new Error(r.stderr);
    const inspected = JSON.parse(await run('skopeo', ['inspect', ...inspectFlags(), `docker://${reg.host}/base/busybox:1`]));
    expect(r.stdout.trim()).toBe(inspected.Digest);
    const images = await runCli(['images', '--format', 'json'], { env });
    expect(JSON.parse(images.stdout).map((i: { name: string }) => i.name)).toContain(`${reg.host}/base/busybox:1`);
    const denied = await runCli(['pull', `${reg.host}/base/busybox:1`, '--creds', `${reg.host}=alice:wrong`, '--store', path.join(tmp, 'other-store')], { env });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/UNAUTHORIZED/);
    expect(denied.stderr).not.toMatch(/wrong/);
  });

  it('--platform picks each base platform from a multi-platform base; FROM @digest and COPY --from=<image> work', async () => {
    const layout = path.join(tmp, 'multi-layout');
    const multi = await makeMultiPlatformImage(layout, [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    await run('skopeo', ['copy', '--all', ...reg.skopeoFlags('dest', 'alice'), `oci:${layout}:latest`, `docker://${reg.host}/base/multi:1`]);
    const ctx = path.join(tmp, 'ctx-multi');
    await mkdir(ctx, { recursive: true });
    await writeFile(
      path.join(ctx, 'Dockerfile'),
      `FROM ${reg.host}/base/multi@${multi.indexDigest}\nCOPY --from=${reg.host}/base/busybox:1 /bin/busybox /opt/bb\n`,
    );
    const r = await runCli([ctx, '--platform', 'linux/amd64,linux/arm64', '-t', 'multi:built'], { env });
    if (r.code !== 0) throw new Error(r.stderr);
    const store = await Store.open(env.OCIBUILD_HOME!);
    const descriptor = (await store.resolve('multi:built'))!;
    expect(descriptor.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    for (const m of multi.manifests) {
      const img = await readImage(store, descriptor, m.platform);
      expect(img.config.architecture).toBe(m.platform.architecture);
      // the base layer of the platform's own manifest, then the COPY --from layer
      expect(img.manifest.layers).toHaveLength(2);
    }
  });

  it('a single-platform base of another platform is used with BuildKit\'s InvalidBaseImagePlatform warning', async () => {
    const ctx = path.join(tmp, 'ctx-arm');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${reg.host}/base/busybox:1\nLABEL x=y\n`);
    const r = await runCli([ctx, '--platform', 'linux/arm64'], { env });
    if (r.code !== 0) throw new Error(r.stderr);
    expect(r.stderr).toMatch(/InvalidBaseImagePlatform: Base image .*base\/busybox:1 was pulled with platform "linux\/amd64", expected "linux\/arm64"/);
  });
});
