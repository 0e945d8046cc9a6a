/**
 * Named build contexts end to end (issue 12): `--build-context NAME=DIR`,
 * `docker-image://REF` (from the real distribution registry),
 * `oci-layout://DIR[:TAG][@DIGEST]` (made by `ocibuild build -o type=oci`) and
 * `target:STAGE`, through `build()` and the CLI; the step cache covers a named
 * context's files; errors name the flag value; `check` and `--dry-run` know the
 * names; RUN --mount=from=NAME in the sandbox (skipped loudly without a runtime).
 */
import { chown, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build, type BuildOptions, type ProgressEvent } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { OcibuildError } from '../../src/errors.js';
import { listLayer } from '../../src/layers/index.js';
import { probeHost } from '../../src/run/index.js';
import { makeBusyboxImage as makeStoreBusybox } from '../base-image.js';
import { runCli } from '../cli-io.js';
import { makeBusyboxImage as makeLayoutBusybox } from '../registry/base-image.js';
import { run, startRegistry, type TestRegistry } from '../registry/harness.js';
import { probeRuntime } from '../runtime.js';

let tmp: string;
let store: Store;
let storeDir: string;
let ctx: string;
let assets: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-named-ctx-'));
  storeDir = path.join(tmp, 'store');
  store = await Store.open(storeDir);
  ctx = path.join(tmp, 'ctx');
  assets = path.join(tmp, 'assets');
  await mkdir(ctx, { recursive: true });
  await mkdir(path.join(assets, 'sub'), { recursive: true });
  await writeFile(path.join(ctx, 'main.txt'), 'main\n');
  await writeFile(path.join(ctx, 'other.txt'), 'other\n');
  await writeFile(path.join(ctx, 'Dockerfile'), 'FROM base\n');
  await writeFile(path.join(assets, 'a.txt'), 'alpha\n');
  await writeFile(path.join(assets, 'sub/b.txt'), 'beta\n');
  await writeFile(path.join(assets, 'secret.key'), 'never copied\n');
  // The named context's own .dockerignore applies to it (BuildKit reads `.dockerignore` of a named context).
  await writeFile(path.join(assets, '.dockerignore'), '*.key\n');
}, 60_000);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const opts = (dockerfile: string, extra: Partial<BuildOptions> = {}): BuildOptions => ({
  context: ctx,
  dockerfile,
  store,
  env: {},
  platforms: ['linux/amd64'],
  sourceDateEpoch: 0,
  ...extra,
});

/** Each step's `cached` flag, in vertex order (the FROM of an image, vertex `...:0`, left out). */
function cachedSteps(events: ProgressEvent[]): boolean[] {
  const started = new Set(events.filter((e) => e.type === 'vertex.started' && e.kind === 'step' && !e.vertex.endsWith(':0')).map((e) => e.vertex));
  return events
    .filter((e): e is Extract<ProgressEvent, { type: 'vertex.completed' }> => e.type === 'vertex.completed' && started.has(e.vertex))
    .sort((a, b) => (a.vertex < b.vertex ? -1 : 1))
    .map((e) => e.cached);
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('a directory context', () => {
  it('COPY --from=NAME reads it with its own .dockerignore; the cache misses exactly when one of its selected files changes', async () => {
    const df = 'FROM scratch\nCOPY main.txt /main.txt\nCOPY other.txt /other.txt\nCOPY --from=assets . /assets/\n';
    const go = async () => {
      const events: ProgressEvent[] = [];
      const out = path.join(tmp, `out-${Math.random().toString(16).slice(2)}`);
      const r = await build(opts(df, { buildContexts: { assets }, outputs: [`type=local,dest=${out}`], onProgress: (e) => events.push(e) }));
      return { digest: r.descriptor.digest, cached: cachedSteps(events), out };
    };
    const first = await go();
    expect(first.cached).toEqual([false, false, false]);
    expect(await files(first.out)).toEqual(['assets', 'assets/.dockerignore', 'assets/a.txt', 'assets/sub', 'assets/sub/b.txt', 'main.txt', 'other.txt']);
    const second = await go();
    expect(second.cached).toEqual([true, true, true]);
    expect(second.digest).toBe(first.digest);
    // An excluded file of the named context changes nothing.
    await writeFile(path.join(assets, 'secret.key'), 'changed\n');
    expect((await go()).cached).toEqual([true, true, true]);
    // A selected file misses the step that copies it, and only that one.
    await writeFile(path.join(assets, 'sub/b.txt'), 'beta 2\n');
    const third = await go();
    expect(third.cached).toEqual([true, true, false]);
    expect(third.digest).not.toBe(first.digest);
    expect(await readFile(path.join(third.out, 'assets/sub/b.txt'), 'utf8')).toBe('beta 2\n');
    await writeFile(path.join(assets, 'sub/b.txt'), 'beta\n');
  });

  it('an excluded file of the named context cannot be copied', async () => {
    const e = await build(opts('FROM scratch\nCOPY --from=assets secret.key /\n', { buildContexts: { assets } })).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'CONTEXT_EXCLUDED', message: `"secret.key" is excluded by ${path.join(assets, '.dockerignore')}:1: *.key` });
  });

  it('FROM NAME starts the stage from the directory (owned by 0:0), as BuildKit does', async () => {
    const out = path.join(tmp, 'from-dir');
    if (process.getuid?.() === 0) await chown(path.join(assets, 'a.txt'), 1234, 1234);
    const r = await build(opts('FROM assets\nCOPY main.txt /\n', { buildContexts: { assets }, outputs: [`type=local,dest=${out}`] }));
    expect(await files(out)).toEqual(['.dockerignore', 'a.txt', 'main.txt', 'sub', 'sub/b.txt']);
    expect(r.images[0]!.layers).toHaveLength(2);
    expect(r.bases).toEqual([]);
    const first = await listLayer(await store.open(r.images[0]!.layers[0]!.digest));
    expect(first.map((e) => `${e.path} ${e.uid}:${e.gid}`).sort()).toEqual(['.dockerignore 0:0', 'a.txt 0:0', 'sub 0:0', 'sub/b.txt 0:0']);
    expect(r.images[0]!.configValue.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  it('a context named like a stage replaces the stage: its instructions do not run', async () => {
    const out = path.join(tmp, 'replaced-stage');
    // Without the context, stage "gen" would need an image that exists nowhere.
    const df = 'FROM nonexistent.invalid/tool:1 AS gen\nRUN exit 1\nFROM scratch\nCOPY --from=gen a.txt /gen.txt\n';
    await build(opts(df, { buildContexts: { gen: assets }, outputs: [`type=local,dest=${out}`] }));
    expect(await readFile(path.join(out, 'gen.txt'), 'utf8')).toBe('alpha\n');
  });

  it('target:STAGE names another stage; --dry-run and check know the names', async () => {
    const df = 'FROM scratch AS real\nCOPY main.txt /\nFROM scratch AS fake\nCOPY other.txt /\nFROM scratch\nCOPY --from=fake /main.txt /from-fake.txt\nCOPY --from=assets a.txt /\n';
    await writeFile(path.join(ctx, 'Dockerfile.target'), df);
    const out = path.join(tmp, 'target');
    const r = await runCli(['build', ctx, '-f', path.join(ctx, 'Dockerfile.target'), '--store', storeDir, '--build-context', 'fake=target:real', '--build-context', `assets=${path.relative(tmp, assets)}`, '-o', `type=local,dest=${out}`, '--progress=quiet'], { cwd: tmp, env: {} });
    if (r.code !== 0) throw new Error(r.stderr);
    expect(await files(out)).toEqual(['a.txt', 'from-fake.txt']);
    const plan = await runCli(['build', ctx, '-f', path.join(ctx, 'Dockerfile.target'), '--store', storeDir, '--build-context', 'fake=target:real', '--build-context', `assets=${assets}`, '--dry-run'], { env: {} });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('COPY a.txt / (from context assets)');
    expect(plan.stdout).toContain('stage #1 (fake) from stage #0 (real)');
    expect(plan.stdout).not.toContain('COPY other.txt');

    // `FROM assets`: without the flag check looks for an image "assets"; with it, nothing is missing.
    await writeFile(path.join(ctx, 'Dockerfile.check'), 'FROM assets\nCOPY --from=assets a.txt /b.txt\n');
    const without = await runCli(['check', ctx, '-f', path.join(ctx, 'Dockerfile.check'), '--store', storeDir, '--pull=false'], { env: {} });
    expect(without.stderr).toContain('checking without the config of base image assets');
    const withCtx = await runCli(['check', ctx, '-f', path.join(ctx, 'Dockerfile.check'), '--store', storeDir, '--pull=false', '--build-context', `assets=${assets}`], { env: {} });
    expect(withCtx.stderr).toBe('');
    expect(withCtx.stdout).toContain('Check complete, no warnings found.');
    expect(withCtx.code).toBe(0);
  });
});

describe('oci-layout:// contexts', () => {
  let layout: string;
  let digest: string;
  beforeAll(async () => {
    layout = path.join(tmp, 'base.oci');
    await writeFile(path.join(ctx, 'Dockerfile.base'), 'FROM scratch\nCOPY main.txt /base.txt\nENV FROM_LAYOUT=yes\n');
    const r = await runCli(['build', ctx, '-f', path.join(ctx, 'Dockerfile.base'), '--store', storeDir, '-o', `type=oci,dest=${layout},tar=false,name=base:v1`, '--progress=quiet'], { env: {} });
    if (r.code !== 0) throw new Error(r.stderr);
    digest = r.stdout.trim();
    // The layout's blobs leave the store: the build must read them from the layout.
    await rm(storeDir, { recursive: true, force: true });
    store = await Store.open(storeDir);
  }, 60_000);

  it('FROM NAME and COPY --from=NAME use the layout image, pinned by digest; :TAG and @DIGEST pick it', async () => {
    const hits: boolean[][] = [];
    for (const value of [`oci-layout://${layout}`, `oci-layout://${layout}:v1`, `oci-layout://${layout}@${digest}`]) {
      const out = path.join(tmp, `lay-${Math.random().toString(16).slice(2)}`);
      const events: ProgressEvent[] = [];
      const r = await build(opts('FROM base\nCOPY --from=base /base.txt /copy.txt\n', { buildContexts: { base: value }, outputs: [`type=local,dest=${out}`], onProgress: (e) => events.push(e) }));
      hits.push(cachedSteps(events));
      expect(await files(out)).toEqual(['base.txt', 'copy.txt']);
      expect(r.bases).toEqual([`oci-layout://${layout}@${digest}`]);
      expect(r.images[0]!.configValue.config?.Env).toContain('FROM_LAYOUT=yes');
    }
    // The same image (by digest) each time: the COPY is keyed by it and hits after the first build.
    expect(hits).toEqual([[false], [true], [true]]);
  });

  it('a layout without that digest or tag is a clear error naming the flag value', async () => {
    const missing = 'sha256:' + '0'.repeat(64);
    const r = await runCli(['build', ctx, '--store', storeDir, '--build-context', `base=oci-layout://${layout}@${missing}`], { env: {}, stdin: '' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--build-context base=oci-layout://${layout}@${missing}: the OCI layout ${layout} has no blob ${missing}`);
    // A digest that is in the layout but is no image (here the config) is refused, naming the value.
    const manifest = JSON.parse(await readFile(path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), 'utf8'));
    const config = manifest.config.digest as string;
    const notImage = await runCli(['build', ctx, '--store', storeDir, '--build-context', `base=oci-layout://${layout}@${config}`], { env: {} });
    expect(notImage.code).toBe(1);
    expect(notImage.stderr).toContain(`--build-context base=oci-layout://${layout}@${config}: manifest ${config}`);
    expect(notImage.stderr).toContain('[MANIFEST_INVALID]');
    // As buildx: a layout of one image is that image whatever the tag; of several, the tag must name one.
    const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
    const second = { ...index.manifests[0], annotations: { 'org.opencontainers.image.ref.name': 'v2' } };
    await writeFile(path.join(layout, 'index.json'), JSON.stringify({ ...index, manifests: [...index.manifests, second] }));
    const tag = await runCli(['build', ctx, '--store', storeDir, '--build-context', `base=oci-layout://${layout}:v9`], { env: {} });
    expect(tag.code).toBe(1);
    expect(tag.stderr).toContain(`--build-context base=oci-layout://${layout}:v9: the OCI layout ${layout} has no image tagged "v9" (2 images; tags: v1, v2)`);
    const v2 = await runCli(['build', ctx, '--store', storeDir, '--build-context', `base=oci-layout://${layout}:v2`, '--progress=quiet'], { env: {} });
    expect(v2.code).toBe(0);
  });
});

describe('CLI errors', () => {
  it('an unknown scheme is a usage error (exit 2) naming the value; a missing directory fails before the build', async () => {
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY --from=x a /\n');
    const scheme = await runCli(['build', ctx, '--store', storeDir, '--build-context', 'x=s3://bucket/dir'], { env: {} });
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toContain('--build-context x=s3://bucket/dir: unknown scheme "s3://"');
    const missing = await runCli(['build', ctx, '--store', storeDir, '--build-context', `x=${path.join(tmp, 'no-such-dir')}`], { env: {} });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`--build-context x=${path.join(tmp, 'no-such-dir')}: cannot read directory`);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    await expect(build(opts('FROM scratch\n', { buildContexts: { x: 'ftp://host/dir' } }))).rejects.toMatchObject({ code: 'USAGE' });
    await expect(build(opts('FROM scratch\n', { buildContexts: { x: 'https://example.com/repo.git' } }))).rejects.toBeInstanceOf(OcibuildError);
  });
});

describe('docker-image:// contexts (docker-registry on 127.0.0.1)', () => {
  let reg: TestRegistry;
  let ref: string;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none' });
    const layout = path.join(tmp, 'busybox-layout');
    await makeLayoutBusybox(layout);
    ref = `${reg.host}/lib/busybox:1`;
    await run('skopeo', ['copy', ...reg.skopeoFlags('dest'), `oci:${layout}:latest`, `docker://${ref}`]);
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('replaces an image name (FROM alpine) wherever it is used, pulled and pinned like any base', async () => {
    await writeFile(path.join(ctx, 'Dockerfile.alpine'), 'FROM alpine\nCOPY main.txt /\nFROM docker.io/library/alpine:latest AS again\nCOPY --from=alpine /bin/busybox /bb\n');
    const meta = path.join(tmp, 'meta.json');
    const r = await runCli(['build', ctx, '-f', path.join(ctx, 'Dockerfile.alpine'), '--store', storeDir, '--build-context', `alpine=docker-image://${ref}`, '--metadata-file', meta, '--progress=quiet'], { env: { PATH: process.env.PATH } });
    if (r.code !== 0) throw new Error(r.stderr);
    const m = JSON.parse(await readFile(meta, 'utf8'));
    expect(m.bases).toEqual([expect.stringMatching(new RegExp(`^${reg.host.replace(/[.]/g, '\\.')}/lib/busybox@sha256:[0-9a-f]{64}$`))]);
  });

  it('replaces a stage: the stage is the image, its RUN never runs', async () => {
    const out = path.join(tmp, 'img-stage');
    const df = 'FROM scratch AS tools\nRUN exit 1\nFROM scratch\nCOPY --from=tools /bin/busybox /bb\n';
    await build(opts(df, { buildContexts: { tools: `docker-image://${ref}` }, outputs: [`type=local,dest=${out}`] }));
    expect(await files(out)).toEqual(['bb']);
  });
});

describe('RUN --mount=from=NAME of a directory context (sandbox)', () => {
  let skip: string | undefined;
  beforeAll(async () => {
    await probeRuntime();
    const probe = await probeHost();
    if (probe.unavailable || !probe.runtime) {
      skip = probe.unavailable ?? 'no OCI runtime works here';
      if (process.env.CI) throw new Error(`RUN cannot work on CI: ${skip}`);
      console.warn(`SKIPPED (loudly): RUN --mount=from=NAME needs the sandbox and an OCI runtime: ${skip}`);
      return;
    }
    await makeStoreBusybox(store, 'busybox:test');
  }, 120_000);

  it('binds the named context (its .dockerignore applied); the step misses only when a bound file changes', async () => {
    if (skip) return;
    const df = 'FROM busybox:test\nRUN --mount=from=assets,target=/mnt cat /mnt/a.txt /mnt/sub/b.txt > /seen; ls /mnt > /listing\n';
    const go = async () => {
      const events: ProgressEvent[] = [];
      const out = path.join(tmp, `run-${Math.random().toString(16).slice(2)}`);
      await build(opts(df, { buildContexts: { assets }, outputs: [`type=local,dest=${out}`], run: { isolation: 'oci' }, onProgress: (e) => events.push(e) }));
      return { out, cached: cachedSteps(events) };
    };
    const first = await go();
    expect(first.cached).toEqual([false]);
    expect(await readFile(path.join(first.out, 'seen'), 'utf8')).toBe('alpha\nbeta\n');
    expect((await readFile(path.join(first.out, 'listing'), 'utf8')).split('\n')).not.toContain('secret.key');
    expect((await go()).cached).toEqual([true]);
    await writeFile(path.join(assets, 'a.txt'), 'alpha 2\n');
    const changed = await go();
    expect(changed.cached).toEqual([false]);
    expect(await readFile(path.join(changed.out, 'seen'), 'utf8')).toBe('alpha 2\nbeta\n');
    await writeFile(path.join(assets, 'a.txt'), 'alpha\n');
  }, 120_000);
});
