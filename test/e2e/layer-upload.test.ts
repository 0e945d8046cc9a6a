/**
 * Issue 8: `build --push` uploads a big layer while it is written, against
 * the real registry behind the fault proxy. The image pushed is the image a
 * push after the build gives (same manifest digest); the upload session
 * opens before the layer's digest exists and the push only finds the layer;
 * a failed or interrupted build leaves no blob and no open session; a
 * registry failure mid-stream falls back to the push, with the registry's
 * error in the progress output. (The streaming itself is pinned byte by byte
 * in test/registry/layer-upload.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build, type BuildOptions, type ProgressEvent } from '../../src/build.js';
import { registryClientHooks } from '../../src/build-defaults.js';
import { Store } from '../../src/cache/store.js';
import type { Digest } from '../../src/oci/digest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli } from '../cli-io.js';
import { startFaultProxy, type FaultProxy, type ProxyRequest } from '../registry/fault-proxy.js';
import { openUploadSessions, startRegistry, type TestRegistry } from '../registry/harness.js';

const MiB = 1024 * 1024;

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let ctx: string;
/** The layer of `COPY big /big` and the image's manifest, as a build without a push makes them. */
let expected: { layer: Digest; size: number };

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-early-upload-'));
  registry = await startRegistry({ auth: 'none' });
  proxy = await startFaultProxy({ upstream: registry.host });
  ctx = path.join(tmp, 'ctx');
  await mkdir(ctx);
  // Random bytes: the gzip layer is as big as the file, well above the 8 MiB threshold.
  await writeFile(path.join(ctx, 'big'), randomBytes(20 * MiB));
  await writeFile(path.join(ctx, 'small'), 'small\n');
  const store = await Store.open(path.join(tmp, 'plain-store'));
  const r = await build({ context: ctx, dockerfile: 'FROM scratch\nCOPY big /big\n', store, env: {}, platforms: ['linux/amd64'] });
  const layer = r.images[0]!.layers[0]!;
  expected = { layer: layer.digest, size: layer.size };
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => proxy.setDecide(undefined));

let n = 0;
async function freshStore(): Promise<Store> {
  return Store.open(path.join(tmp, `store-${n++}`));
}

const openSessions = (repo: string): Promise<string[]> => openUploadSessions(registry, repo);

/** Whether `repo` has the blob committed (distribution's `_layers` link; the blob store itself is shared by every repository). */
async function committed(repo: string, digest: Digest): Promise<boolean> {
  return stat(path.join(registry.storage, 'docker/registry/v2/repositories', repo, '_layers/sha256', digest.slice(7), 'link')).then(() => true, () => false);
}

const of = (from: number, repo: string): ProxyRequest[] => proxy.requests.slice(from).filter((r) => r.url.startsWith(`/v2/${repo}/`));

/** Builds `dockerfile` and pushes it to `repo`:1 through the proxy, as `build --push` does by default. */
async function buildPush(repo: string, dockerfile: string, extra: Partial<BuildOptions> = {}) {
  const events: ProgressEvent[] = [];
  const result = build({
    context: ctx,
    dockerfile,
    store: await freshStore(),
    env: {},
    platforms: ['linux/amd64'],
    tags: [`${proxy.host}/${repo}:1`],
    push: true,
    onProgress: (e) => {
      events.push(e);
      extra.onProgress?.(e);
    },
    ...(extra.signal ? { signal: extra.signal } : {}),
    ...(extra.pushImage ? { pushImage: extra.pushImage } : {}),
  });
  return { events, result };
}

test('build --push: the layer goes out during the build, the push only finds it, and the image is the one a push after the build gives', async () => {
  const from = proxy.requests.length;
  const { events, result } = await buildPush('e2e/early', 'FROM scratch\nCOPY big /big\n');
  const r = await result;
  const layer = r.images[0]!.layers[0]!;
  expect({ layer: layer.digest, size: layer.size }).toEqual(expected);
  const reqs = of(from, 'e2e/early');
  // The session opened while the COPY step ran (before its layer had a digest), and carried the whole layer in one PATCH.
  const step = events.find((e) => e.type === 'vertex.started' && e.kind === 'step')!;
  const upload = events.findIndex((e) => e.type === 'vertex.started' && e.vertex === `upload:${(step as { vertex: string }).vertex}`);
  const stepDone = events.findIndex((e) => e.type === 'vertex.completed' && e.vertex === (step as { vertex: string }).vertex);
  expect(upload).toBeGreaterThan(-1);
  expect(upload).toBeLessThan(stepDone);
  const patches = reqs.filter((x) => x.method === 'PATCH');
  expect(patches).toHaveLength(1);
  expect(patches[0]!.forwarded).toEqual({ bytes: layer.size, sha256: layer.digest.slice(7) });
  expect(reqs.findIndex((x) => x.method === 'POST')).toBeLessThan(reqs.findIndex((x) => x.url.includes(layer.digest.slice(7))));
  // The commit, then the push: the layer's only other requests are HEADs (the commit's check: 404; the push's: 200).
  const forLayer = reqs.filter((x) => x.url.includes(layer.digest.slice(7)) || x.url.includes(encodeURIComponent(layer.digest)));
  expect(forLayer.map((x) => `${x.method} ${x.status}`)).toEqual(['HEAD 404', 'PUT 201', 'HEAD 200']);
  expect(await openSessions('e2e/early')).toEqual([]);
  expect(await committed('e2e/early', layer.digest)).toBe(true);
  const log = events.filter((e) => e.type === 'log' && e.vertex.startsWith('upload:')).map((e) => (e as { data: string }).data);
  expect(log.join('')).toMatch(/^committed sha256:/);

  // The same build pushed the old way (the layer uploaded by the push after the build): the same manifest.
  const client = new RegistryClient();
  try {
    const hooks = registryClientHooks(() => Promise.resolve(client));
    const before = proxy.requests.length;
    const old = await (await buildPush('e2e/after', 'FROM scratch\nCOPY big /big\n', { pushImage: hooks.pushImage })).result;
    expect(old.outputs.find((o) => o.type === 'registry')!.digest).toBe(r.outputs.find((o) => o.type === 'registry')!.digest);
    expect(old.descriptor.digest).toBe(r.descriptor.digest);
    // (That build had no early session: its layer went in the push's own PATCH.)
    expect(of(before, 'e2e/after').filter((x) => x.method === 'POST')).toHaveLength(2);
  } finally {
    await client.close();
  }
}, 120_000);

test('a build that fails after the layer, or is interrupted while writing it, leaves no blob and no open session', async () => {
  // A later step fails: the layer was written and streamed, then the session is cancelled.
  let from = proxy.requests.length;
  const failed = await buildPush('e2e/failed', 'FROM scratch\nCOPY big /big\nCOPY missing /missing\n');
  await expect(failed.result).rejects.toThrow(/missing/);
  let reqs = of(from, 'e2e/failed');
  // (The registry was asked whether it had the layer once the layer was stored, while the build went on.)
  expect(reqs.map((x) => x.method)).toEqual(['POST', 'PATCH', 'HEAD', 'DELETE']);
  expect(reqs.at(-1)!.status).toBe(204);
  expect(await committed('e2e/failed', expected.layer)).toBe(false);
  expect(await openSessions('e2e/failed')).toEqual([]);

  // Interrupted (the signal SIGINT aborts in the CLI) as soon as the upload started: the layer's writing stops.
  from = proxy.requests.length;
  const ac = new AbortController();
  const interrupted = await buildPush('e2e/interrupted', 'FROM scratch\nCOPY big /big\n', {
    signal: ac.signal,
    onProgress: (e) => {
      if (e.type === 'vertex.started' && e.vertex.startsWith('upload:')) ac.abort(new Error('interrupted by the test'));
    },
  });
  await expect(interrupted.result).rejects.toThrow(/interrupted by the test/);
  reqs = of(from, 'e2e/interrupted');
  expect(reqs.at(-1)!.method).toBe('DELETE');
  expect(reqs.at(-1)!.status).toBe(204);
  expect(reqs.some((x) => x.method === 'PUT')).toBe(false);
  expect(await committed('e2e/interrupted', expected.layer)).toBe(false);
  expect(await openSessions('e2e/interrupted')).toEqual([]);
}, 120_000);

test('a registry failure mid-stream falls back to the push: the same image, the registry\'s error in the progress output', async () => {
  const from = proxy.requests.length;
  // The registry answers the streamed PATCH with its own error (the push's own PATCH, later, goes through).
  let failedOnce = false;
  proxy.setDecide(({ method, url }) => {
    if (method !== 'PATCH' || failedOnce || !url.includes('e2e/fault')) return undefined;
    failedOnce = true;
    return { type: 'status', status: 503, body: JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'the storage is read-only today' }] }) };
  });
  const { events, result } = await buildPush('e2e/fault', 'FROM scratch\nCOPY big /big\n');
  const r = await result;
  const layer = r.images[0]!.layers[0]!;
  expect(layer.digest).toBe(expected.layer);
  const reqs = of(from, 'e2e/fault');
  // The early PATCH failed; the session was cancelled; the push uploaded the layer in a session of its own.
  expect(reqs.filter((x) => x.method === 'PATCH').map((x) => x.status)).toEqual([503, 202]);
  expect(reqs.filter((x) => x.method === 'DELETE').map((x) => x.status)).toEqual([204]);
  expect(await committed('e2e/fault', layer.digest)).toBe(true);
  expect(await openSessions('e2e/fault')).toEqual([]);
  const log = events.filter((e) => e.type === 'log' && e.vertex.startsWith('upload:')).map((e) => (e as { data: string }).data).join('');
  expect(log).toMatch(/the upload failed, the push sends the layer: .*the storage is read-only today/);
  // The CLI shows it too (plain progress) and pushes the same image.
  let cliFailed = false;
  proxy.setDecide(({ method, url }) => {
    if (method !== 'PATCH' || cliFailed || !url.includes('e2e/cli')) return undefined;
    cliFailed = true;
    return { type: 'status', status: 503, body: JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'the storage is read-only today' }] }) };
  });
  const home = path.join(tmp, 'cli-home');
  await mkdir(home);
  await writeFile(path.join(home, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
  const cli = await runCli(['build', ctx, '-f', path.join(home, 'Dockerfile'), '--progress=plain', '-t', `${proxy.host}/e2e/cli:1`, '--push'], {
    env: { PATH: process.env.PATH, HOME: home, OCIBUILD_HOME: path.join(home, 'store') },
  });
  if (cli.code !== 0) throw new Error(cli.stderr);
  expect(cli.stdout.trim()).toBe(r.descriptor.digest);
  expect(cli.stderr).toMatch(/^#\d+ uploading the layer to .*e2e\/cli as it is written$/m);
  expect(cli.stderr).toMatch(/^#\d+ [\d.]+ dropped: the upload failed, the push sends the layer: .*UNAVAILABLE: the storage is read-only today .*HTTP 503/m);
  expect(cli.stderr).not.toMatch(/^(warning|error):/m);
}, 120_000);
