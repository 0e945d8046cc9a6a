/**
 * Issue 12, registry cache: two (three, four) fresh stores as CI runners.
 * The first builds a multi-stage project with RUN steps and exports its step
 * cache (`--cache-to type=registry,mode=max`, `type=local`, `type=inline`);
 * the next, with `--cache-from`, hits every step and downloads only the
 * layers its output needs (blob GETs counted through a proxy); a changed
 * context file misses exactly the steps that depend on it. The artifact is
 * readable by skopeo and survives `skopeo copy` to another registry and back.
 * A registry refusing the export is a warning (an error with
 * ignore-error=false); a record that lies is skipped, never used.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expectOk, makeActor, ocibuild, runTestsUnavailable, skipLoudly, startWorld, writeContext, type Actor, type CliRun, type RunWorld } from './run-harness.js';
import { startFaultProxy, type FaultProxy } from '../registry/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../registry/harness.js';

const exec = promisify(execFile);

const dockerfile = (base: string) => `FROM ${base} AS build
COPY src/ /src/
RUN cat /src/a.txt /src/b.txt > /built.txt && echo built >> /built.txt
RUN echo tool > /tool.txt

FROM ${base}
COPY conf.txt /etc/conf.txt
COPY --from=build /built.txt /app/built.txt
RUN cat /app/built.txt /etc/conf.txt > /app/all.txt
`;

const STEPS = 6;

let world: RunWorld;
let proxy: FaultProxy;
let skip = false;
let n = 0;

/** A fresh store: a new CI runner. */
async function runner(): Promise<Actor> {
  const base = await makeActor('root', world.tmp);
  const store = path.join(world.tmp, `runner-${n++}`);
  // SOURCE_DATE_EPOCH: RUN layers are reproducible, so a stage run again on another runner has the same chain.
  return { ...base, store, env: { ...base.env, OCIBUILD_HOME: store, SOURCE_DATE_EPOCH: '1700000000' } };
}

async function context(name: string, b = 'b-1\n'): Promise<string> {
  const root = await makeActor('root', world.tmp);
  return writeContext(root, name, { Dockerfile: dockerfile(world.busybox), 'src/a.txt': 'a\n', 'src/b.txt': b, 'conf.txt': 'conf\n' });
}

function explainLines(r: CliRun): string[] {
  return r.stderr.split('\n').filter((l) => /^\[linux\/\S+ \S+\] line \d+: /.test(l));
}

/** Blob GETs the proxy forwarded for `repo`, by digest. */
function blobGets(repo: string, since: number): string[] {
  return proxy.requests.filter((r) => r.n >= since && r.method === 'GET' && r.url.startsWith(`/v2/${repo}/blobs/sha256:`)).map((r) => r.url.slice(r.url.lastIndexOf('/') + 1));
}

async function json(url: string, accept?: string): Promise<{ bytes: Buffer; value: any }> {
  const res = await fetch(url, accept ? { headers: { accept } } : {});
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  return { bytes, value: JSON.parse(bytes.toString('utf8')) };
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The cache manifest and record blob under `repo:tag` of the registry (read directly, not counted). */
async function cacheArtifact(repo: string, tag: string): Promise<{ manifest: any; manifestBytes: Buffer; records: any }> {
  const m = await json(`${world.registry.url}/v2/${repo}/manifests/${tag}`, OCI_MANIFEST);
  const c = await json(`${world.registry.url}/v2/${repo}/blobs/${m.value.config.digest}`);
  return { manifest: m.value, manifestBytes: m.bytes, records: c.value };
}

async function imageLayers(oci: string): Promise<string[]> {
  const index = JSON.parse(await readFile(path.join(oci, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(path.join(oci, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  return manifest.layers.map((l: { digest: string }) => l.digest);
}

async function storeBlobs(actor: Actor): Promise<Set<string>> {
  return new Set((await readdir(path.join(actor.store, 'blobs/sha256'))).map((h) => `sha256:${h}`));
}

async function putBlob(repo: string, bytes: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const start = await fetch(`${world.registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const loc = new URL(start.headers.get('location')!, world.registry.url);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status}`);
  return digest;
}

async function putManifest(repo: string, tag: string, bytes: Buffer): Promise<void> {
  const res = await fetch(`${world.registry.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': OCI_MANIFEST } });
  if (res.status !== 201) throw new Error(`manifest put: ${res.status} ${await res.text()}`);
}

beforeAll(async () => {
  skip = skipLoudly(await runTestsUnavailable());
  if (skip) return;
  world = await startWorld();
  proxy = await startFaultProxy({ upstream: world.registry.host });
}, 300_000);

afterAll(async () => {
  await proxy?.stop();
  await world?.stop();
});

describe('registry cache (issue 12)', () => {
  let first: { oci: string; layers: string[] };
  const cacheRef = () => `${proxy.host}/cache/app:main`;

  it('runner 1 builds and exports mode=max; runner 2 hits every step and downloads only the output layers', async () => {
    if (skip) return;
    const ctx = await context('ctx');
    const r1 = await runner();
    const oci1 = path.join(world.tmp, 'out-1');
    const b1 = await ocibuild(r1, world.tmp, ['build', ctx, '-t', 'app:1', '-o', `type=oci,dest=${oci1}`, '--cache-to', `type=registry,ref=${cacheRef()},mode=max`]);
    expectOk(b1);
    expect(b1.stderr).toMatch(/cache: exported 6 steps to .*cache\/app:main@sha256:/);
    first = { oci: oci1, layers: await imageLayers(oci1) };

    const art = await cacheArtifact('cache/app', 'main');
    expect(art.manifest.artifactType).toBe('application/vnd.ocibuild.cache.v1');
    expect(art.manifest.config.mediaType).toBe('application/vnd.ocibuild.cache.config.v1+json');
    expect(art.records.steps).toHaveLength(STEPS);
    const cacheLayers: string[] = art.manifest.layers.map((l: { digest: string }) => l.digest);
    // mode=max: the intermediate stage's layers are in the cache too.
    const buildStageLayers = cacheLayers.filter((d) => !first.layers.includes(d));
    expect(buildStageLayers).toHaveLength(3);

    const r2 = await runner();
    const oci2 = path.join(world.tmp, 'out-2');
    const since = proxy.requests.length;
    const b2 = await ocibuild(r2, world.tmp, ['build', ctx, '-t', 'app:1', '-o', `type=oci,dest=${oci2}`, '--explain', '--cache-from', `type=registry,ref=${cacheRef()}`]);
    expectOk(b2);
    const lines = explainLines(b2);
    expect(lines).toHaveLength(STEPS);
    for (const l of lines) expect(l).toContain(`CACHED (remote cache ${cacheRef()})`);
    // The same image, byte for byte.
    expect(await imageLayers(oci2)).toEqual(first.layers);
    expect(await readFile(path.join(oci2, 'index.json'), 'utf8')).toBe(await readFile(path.join(oci1, 'index.json'), 'utf8'));
    // Blob GETs: the record blob, and the final image's own layers (the base comes from its own repo); none of the build stage.
    const gets = blobGets('cache/app', since);
    const finalOwn = first.layers.filter((d) => cacheLayers.includes(d));
    expect(finalOwn).toHaveLength(3);
    expect(gets.sort()).toEqual([art.manifest.config.digest, ...finalOwn].sort());
    const blobs = await storeBlobs(r2);
    for (const d of buildStageLayers) expect(blobs.has(d)).toBe(false);

    // Written through: the same runner, with no remote cache now, hits the final stage's steps (whose
    // layers it downloaded) locally; the build stage's were never downloaded, so they run (and, being
    // reproducible, give the same chain).
    const b3 = await ocibuild(r2, world.tmp, ['build', ctx, '-t', 'app:1', '--explain']);
    expectOk(b3);
    const local = explainLines(b3);
    expect(local.slice(3).every((l) => l.endsWith(': CACHED'))).toBe(true);
    expect(local.slice(0, 3).every((l) => !l.includes('CACHED'))).toBe(true);
  }, 600_000);

  it('a hit only pushed again to the same registry is mounted from the cache repository, not downloaded', async () => {
    if (skip) return;
    const ctx = await context('ctx-mount');
    const r = await runner();
    const since = proxy.requests.length;
    const b = await ocibuild(r, world.tmp, ['build', ctx, '-o', `type=registry,name=${proxy.host}/pushed/app:1`, '--explain', '--cache-from', cacheRef()]);
    expectOk(b);
    expect(explainLines(b).every((l) => l.includes('CACHED (remote cache'))).toBe(true);
    const art = await cacheArtifact('cache/app', 'main');
    // Only the record blob was read from the cache repository; the final image's own layers were mounted.
    expect(blobGets('cache/app', since)).toEqual([art.manifest.config.digest]);
    const finalOwn = first.layers.filter((d) => art.manifest.layers.some((l: { digest: string }) => l.digest === d));
    const mounts = proxy.requests.filter((q) => q.n >= since && q.method === 'POST' && q.url.startsWith('/v2/pushed/app/blobs/uploads/?mount=') && q.status === 201);
    expect(mounts.map((q) => decodeURIComponent(/mount=([^&]+)/.exec(q.url)![1]!)).sort()).toEqual(finalOwn.sort());
    // The pushed image is the one runner 1 built.
    const pushed = await json(`${world.registry.url}/v2/pushed/app/manifests/1`, OCI_MANIFEST);
    expect(pushed.value.layers.map((l: { digest: string }) => l.digest)).toEqual(first.layers);
  }, 600_000);

  it('a changed context file misses exactly the steps after the COPY that selects it', async () => {
    if (skip) return;
    const ctx = await context('ctx-changed', 'b-2\n');
    const r = await runner();
    const b = await ocibuild(r, world.tmp, ['build', ctx, '-t', 'app:2', '--explain', '--cache-from', cacheRef()]);
    expectOk(b);
    const lines = explainLines(b);
    expect(lines).toHaveLength(STEPS);
    const status = lines.map((l) => (l.includes('CACHED (remote cache') ? 'hit' : l.endsWith('MISS') ? 'miss' : l));
    // build: COPY src/ (b.txt changed), RUN, RUN; final: COPY conf.txt (unchanged), COPY --from=build, RUN.
    expect(status).toEqual(['miss', 'miss', 'miss', 'hit', 'miss', 'miss']);
    expect(lines[0]).toContain('COPY src/ /src/');
    expect(lines[3]).toContain('COPY conf.txt /etc/conf.txt');
  }, 600_000);

  it('the artifact is readable by skopeo and survives skopeo copy to another registry and back', async () => {
    if (skip) return;
    const other: TestRegistry = await startRegistry({ auth: 'none' });
    try {
      const { manifestBytes } = await cacheArtifact('cache/app', 'main');
      const raw = (await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${world.registry.host}/cache/app:main`], { encoding: 'buffer' })).stdout as Buffer;
      expect(Buffer.compare(raw, manifestBytes)).toBe(0);
      expect(JSON.parse(raw.toString()).artifactType).toBe('application/vnd.ocibuild.cache.v1');
      await exec('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${world.registry.host}/cache/app:main`, `docker://${other.host}/elsewhere/cache:copy`]);
      await exec('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${other.host}/elsewhere/cache:copy`, `docker://${world.registry.host}/cache/back:main`]);
      const back = (await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${world.registry.host}/cache/back:main`], { encoding: 'buffer' })).stdout as Buffer;
      expect(Buffer.compare(back, manifestBytes)).toBe(0);
      // And it still works as a cache.
      const ctx = await context('ctx-skopeo');
      const r = await runner();
      const b = await ocibuild(r, world.tmp, ['build', ctx, '--explain', '--cache-from', `${world.registry.host}/cache/back:main`]);
      expectOk(b);
      expect(explainLines(b).every((l) => l.includes('CACHED (remote cache'))).toBe(true);
    } finally {
      await other.stop();
    }
  }, 600_000);

  it('type=local: export to an OCI layout, import from it on a fresh runner', async () => {
    if (skip) return;
    const ctx = await context('ctx-local');
    const dir = path.join(world.tmp, 'local-cache');
    const r1 = await runner();
    expectOk(await ocibuild(r1, world.tmp, ['build', ctx, '-t', 'app:1', '--cache-to', `type=local,dest=${dir},mode=max`]));
    const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
    expect(index.manifests[0].artifactType).toBe('application/vnd.ocibuild.cache.v1');
    const manifest = JSON.parse(await readFile(path.join(dir, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const r2 = await runner();
    const oci = path.join(world.tmp, 'out-local');
    const b = await ocibuild(r2, world.tmp, ['build', ctx, '-t', 'app:1', '-o', `type=oci,dest=${oci}`, '--explain', '--cache-from', `type=local,src=${dir}`]);
    expectOk(b);
    const lines = explainLines(b);
    expect(lines).toHaveLength(STEPS);
    for (const l of lines) expect(l).toContain(`CACHED (remote cache ${dir})`);
    const out = await imageLayers(oci);
    const blobs = await storeBlobs(r2);
    for (const l of manifest.layers as { digest: string }[]) expect(blobs.has(l.digest)).toBe(out.includes(l.digest));
    // A changed file: the same misses as through a registry.
    const changed = await context('ctx-local-changed', 'b-3\n');
    const b2 = await ocibuild(await runner(), world.tmp, ['build', changed, '--explain', '--cache-from', `type=local,src=${dir}`]);
    expectOk(b2);
    expect(explainLines(b2).map((l) => (l.includes('CACHED') ? 'hit' : 'miss'))).toEqual(['miss', 'miss', 'miss', 'hit', 'miss', 'miss']);
  }, 600_000);

  it('compression=zstd: the cache layers are exported as zstd, and a fresh runner hits every step on them', async () => {
    if (skip) return;
    const ctx = await context('ctx-zstd');
    const dir = path.join(world.tmp, 'zstd-cache');
    expectOk(await ocibuild(await runner(), world.tmp, ['build', ctx, '-t', 'app:1', '--cache-to', `type=local,dest=${dir},mode=max,compression=zstd,compression-level=5`]));
    const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse(await readFile(path.join(dir, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    expect(manifest.layers.length).toBeGreaterThan(0);
    for (const l of manifest.layers as { mediaType: string }[]) expect(l.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    const oci = path.join(world.tmp, 'out-zstd');
    const b = await ocibuild(await runner(), world.tmp, ['build', ctx, '-t', 'app:1', '-o', `type=oci,dest=${oci}`, '--explain', '--cache-from', `type=local,src=${dir}`]);
    expectOk(b);
    const lines = explainLines(b);
    expect(lines).toHaveLength(STEPS);
    for (const l of lines) expect(l).toContain(`CACHED (remote cache ${dir})`);
    // The image's own layers are the cache's zstd layers (its base's stay as pulled).
    const cached = new Set((manifest.layers as { digest: string }[]).map((l) => l.digest));
    expect((await imageLayers(oci)).filter((d) => cached.has(d)).length).toBeGreaterThan(0);
  }, 600_000);

  it('type=inline: the cache travels with the pushed image, and --cache-from names the image', async () => {
    if (skip) return;
    const ctx = await context('ctx-inline');
    const image = `${proxy.host}/inline/app:1`;
    const r1 = await runner();
    const b1 = await ocibuild(r1, world.tmp, ['build', ctx, '-t', image, '--push', '--cache-to', 'type=inline']);
    expectOk(b1);
    const r2 = await runner();
    const since = proxy.requests.length;
    const b2 = await ocibuild(r2, world.tmp, ['build', ctx, '-t', image, '--explain', '--cache-from', image]);
    expectOk(b2);
    const lines = explainLines(b2);
    // mode=min: the final stage's steps hit; the build stage (not exported) runs, and being reproducible
    // gives the same chain, so COPY --from=build hits too.
    expect(lines.slice(3).every((l) => l.includes(`CACHED (remote cache ${image})`))).toBe(true);
    expect(lines.slice(0, 3).every((l) => !l.includes('CACHED'))).toBe(true);
    expect(b2.stdout.trim()).toBe(b1.stdout.trim());
    expect(blobGets('inline/app', since).length).toBeGreaterThan(0);
  }, 600_000);

  it('a registry refusing the export: a warning, and a failed build only with ignore-error=false', async () => {
    if (skip) return;
    const ctx = await context('ctx-refused');
    proxy.setDecide(({ method, url }) =>
      method === 'PUT' && url.startsWith('/v2/refused/cache/manifests/') ? { type: 'status', status: 403, body: JSON.stringify({ errors: [{ code: 'DENIED', message: 'no cache here' }] }) } : undefined,
    );
    try {
      const r = await runner();
      const ok = await ocibuild(r, world.tmp, ['build', ctx, '-t', 'app:1', '--cache-to', `type=registry,ref=${proxy.host}/refused/cache:x`]);
      expectOk(ok);
      expect(ok.stderr).toMatch(/warning: cache export to .*refused\/cache:x failed: .*DENIED|denied/i);
      const bad = await ocibuild(r, world.tmp, ['build', ctx, '-t', 'app:1', '--cache-to', `type=registry,ref=${proxy.host}/refused/cache:x,ignore-error=false`]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/cache export to .*refused\/cache:x failed/);
      expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      proxy.setDecide(undefined);
    }
  }, 600_000);

  it('a cache that is not there is a warning: the build goes on without it', async () => {
    if (skip) return;
    const ctx = await context('ctx-absent');
    const b = await ocibuild(await runner(), world.tmp, ['build', ctx, '--explain', '--cache-from', `${proxy.host}/cache/none:x`, '--cache-from', `type=local,src=${path.join(world.tmp, 'no-such-dir')}`]);
    expectOk(b);
    expect(b.stderr).toMatch(/warning: cache .*cache\/none:x was not imported: not found/);
    expect(b.stderr).toMatch(/warning: cache .*no-such-dir was not imported/);
    expect(explainLines(b).some((l) => l.includes('CACHED'))).toBe(false);
  }, 600_000);

  it('a record that lies (wrong size, a digest the manifest does not list) is skipped with a warning, never used', async () => {
    if (skip) return;
    const art = await cacheArtifact('cache/app', 'main');
    const steps = art.records.steps as Array<{ key: string; layer?: { digest: string; size: number } }>;
    const withLayers = steps.filter((s) => s.layer);
    // One record says its layer is a byte longer than the manifest says; another names a layer the manifest does not list.
    withLayers[0]!.layer!.size += 1;
    withLayers[1]!.layer!.digest = `sha256:${'0'.repeat(64)}`;
    const configBytes = Buffer.from(JSON.stringify(art.records));
    const configDigest = await putBlob('cache/app', configBytes);
    const manifest = { ...art.manifest, config: { ...art.manifest.config, digest: configDigest, size: configBytes.length } };
    await putManifest('cache/app', 'lies', Buffer.from(JSON.stringify(manifest)));
    const ctx = await context('ctx-lies');
    const r = await runner();
    const oci = path.join(world.tmp, 'out-lies');
    const b = await ocibuild(r, world.tmp, ['build', ctx, '-t', 'app:1', '-o', `type=oci,dest=${oci}`, '--explain', '--cache-from', `${proxy.host}/cache/app:lies`]);
    expectOk(b);
    expect(b.stderr).toMatch(/warning: cache .*cache\/app:lies: the record of step [0-9a-f]{12} says layer .* has \d+ bytes/);
    expect(b.stderr).toMatch(/warning: cache .*cache\/app:lies: the record of step [0-9a-f]{12} names layer sha256:0{64}, which the cache manifest does not list/);
    const lines = explainLines(b);
    expect(lines.filter((l) => !l.includes('CACHED'))).not.toHaveLength(0);
    // The lies changed nothing: the image is the one runner 1 built.
    expect(await imageLayers(oci)).toEqual(first.layers);
  }, 600_000);
});
