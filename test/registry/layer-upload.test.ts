/**
 * Issue 8: a layer uploaded while it is written (src/push/layer-upload.ts),
 * against the real registry behind the fault proxy. Pinned by what the proxy
 * and the registry's storage see, never by time: the PATCH carries the
 * layer's bytes before the writer has written its end (so before its digest
 * exists); a commit names only the digest of the bytes sent; a failed build,
 * a registry error mid-stream, a layer the registry has or the image does not
 * name leave no session and nothing committed, and the push then sends the
 * layer itself; token auth works as for a push.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/cache/store.js';
import type { BlobWriter } from '../../src/cache/blobs.js';
import type { ProgressEvent } from '../../src/engine/progress.js';
import { createConfigBlob, createManifest } from '../../src/image/manifest.js';
import { sha256, type Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { normalizeReference } from '../../src/oci/reference.js';
import type { Descriptor } from '../../src/oci/types.js';
import { LayerUploads } from '../../src/push/layer-upload.js';
import { pushImage } from '../../src/push/push.js';
import { RegistryClient } from '../../src/registry/client.js';
import { startFaultProxy, type FaultProxy, type ProxyRequest } from './fault-proxy.js';
import { openUploadSessions, startRegistry, type TestRegistry } from './harness.js';

const MiB = 1024 * 1024;

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let store: Store;
let client: RegistryClient;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-layer-upload-'));
  registry = await startRegistry({ auth: 'none' });
  proxy = await startFaultProxy({ upstream: registry.host });
  store = await Store.open(path.join(tmp, 'store'));
  client = new RegistryClient({ retry: { retries: 2, minDelayMs: 10, maxDelayMs: 50 } });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await proxy?.stop();
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => proxy.setDecide(undefined));

/** Waits (polling) until `cond` holds; a condition that never comes fails the test, at the deadline. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function write(w: BlobWriter, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => w.stream.write(b, (e) => (e ? reject(e) : resolve())));
}

const openSessions = (repo: string): Promise<string[]> => openUploadSessions(registry, repo);

/** The registry's answer to `GET` of the upload sessions `repo`'s requests since `from` named (404: gone). */
async function sessionStatuses(from: number, repo: string): Promise<number[]> {
  const urls = new Set(requestsOf(from, repo).filter((r) => r.url.includes('/blobs/uploads/') && r.method !== 'POST').map((r) => r.url.split('?')[0]!));
  const out: number[] = [];
  for (const u of urls) {
    const res = await client.request({ registry: registry.host, method: 'GET', path: u, accept: [404], what: 'upload status' });
    await res.body.dump();
    out.push(res.status);
  }
  return out;
}

/** Whether the registry stores a blob with this digest at all (in any repository). */
async function stored(digest: Digest): Promise<boolean> {
  const hex = digest.slice(7);
  return stat(path.join(registry.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')).then(
    () => true,
    () => false,
  );
}

function requestsOf(from: number, repo: string): ProxyRequest[] {
  return proxy.requests.slice(from).filter((r) => r.url.startsWith(`/v2/${repo}/`));
}

const shape = (r: ProxyRequest) => `${r.method} ${r.url.split('?')[0]!.replace(/uploads\/[^/]+$/, 'uploads/<id>').replace(/sha256:[0-9a-f]{64}/, '<digest>')}${r.url.includes('digest=') ? '?digest' : ''}`;

function uploadsTo(repo: string, events?: ProgressEvent[], threshold = MiB): LayerUploads {
  return new LayerUploads(client, { reference: normalizeReference(`${proxy.host}/${repo}`), threshold, ...(events ? { onProgress: (e) => events.push(e) } : {}) });
}

/** A store image with one layer (`layer`), its manifest written to the store. */
async function imageWith(layer: Descriptor): Promise<Descriptor> {
  const config = createConfigBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(randomBytes(16))] } });
  await store.writeBlob(config.bytes);
  const manifest = createManifest(config.descriptor, [layer]);
  await store.writeBlob(manifest.bytes);
  return manifest.descriptor;
}

const layerOf = (info: { digest: Digest; size: number }): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: info.digest, size: info.size });

test('the layer goes out while it is written: the PATCH carries its bytes before its end exists, the commit follows the build, the push finds it', async () => {
  const repo = 'early/streamed';
  const from = proxy.requests.length;
  const events: ProgressEvent[] = [];
  const uploads = uploadsTo(repo, events);
  const w = await store.createWriter();
  uploads.follow(await w.follow(), 'step:1');
  const head = randomBytes(3 * MiB);
  await write(w, head);
  // The registry receives the layer's first bytes while the writer still holds the pen: its digest does not exist yet.
  await until(() => requestsOf(from, repo).some((r) => r.method === 'PATCH' && r.received >= 2 * MiB), 'the PATCH carrying 2 MiB');
  expect(requestsOf(from, repo).some((r) => r.method === 'PUT')).toBe(false);
  const tail = randomBytes(2 * MiB + 123);
  w.stream.end(tail);
  const info = await w.commit();
  expect(info).toEqual({ digest: sha256(Buffer.concat([head, tail])), size: 5 * MiB + 123 });
  await uploads.finish([layerOf(info)]);
  expect(uploads.records()).toEqual([{ step: 'step:1', outcome: 'committed', sent: info.size, digest: info.digest }]);
  const reqs = requestsOf(from, repo);
  expect(reqs.map(shape)).toEqual([`POST /v2/${repo}/blobs/uploads/`, `PATCH /v2/${repo}/blobs/uploads/<id>`, `HEAD /v2/${repo}/blobs/<digest>`, `PUT /v2/${repo}/blobs/uploads/<id>?digest`]);
  // One streamed PATCH (chunked, no Content-Range), carrying exactly the layer; no digest before the commit.
  const patch = reqs[1]!;
  expect(patch.headers['content-range']).toBeUndefined();
  expect(patch.headers['transfer-encoding']).toBe('chunked');
  expect(patch.forwarded).toEqual({ bytes: info.size, sha256: info.digest.slice(7) });
  expect(reqs[0]!.url).not.toContain('digest');
  expect(reqs[3]!.url).toContain(`digest=${encodeURIComponent(info.digest)}`);
  expect(reqs[3]!.status).toBe(201);
  expect(await openSessions(repo)).toEqual([]);
  // Progress: one vertex for the upload, its bytes, and the commit.
  expect(events.filter((e) => e.type === 'vertex.started').map((e) => e.type === 'vertex.started' && e.kind)).toEqual(['push']);
  expect(events.some((e) => e.type === 'status' && e.current === info.size && e.total === info.size)).toBe(true);
  expect(events.at(-1)).toMatchObject({ type: 'vertex.completed', vertex: 'upload:step:1' });

  // The push that follows sends config and manifest only.
  const image = await imageWith(layerOf(info));
  const before = proxy.requests.length;
  const r = await pushImage(client, store, { reference: normalizeReference(`${proxy.host}/${repo}`), descriptor: image, tags: ['1'] });
  expect([r.existing, r.uploaded]).toEqual([1, 1]);
  const pushed = requestsOf(before, repo);
  expect(pushed.filter((x) => x.url.includes(info.digest.slice(7))).map(shape)).toEqual([`HEAD /v2/${repo}/blobs/<digest>`]);
  expect(pushed.filter((x) => x.method === 'PATCH')).toEqual([]);
  expect(pushed.reduce((n, x) => n + (x.forwarded?.bytes ?? 0), 0)).toBeLessThan(4096);
}, 60_000);

test('a failed build drops its session, mid-stream or after the layer: nothing committed, no session left', async () => {
  const repo = 'early/failed';
  // Mid-stream: the writer fails while the PATCH is going out.
  let from = proxy.requests.length;
  const uploads = uploadsTo(repo);
  const w = await store.createWriter();
  uploads.follow(await w.follow(), 'step:1');
  const head = randomBytes(3 * MiB);
  await write(w, head);
  await until(() => requestsOf(from, repo).some((r) => r.method === 'PATCH' && r.received >= 2 * MiB), 'the PATCH carrying 2 MiB');
  await w.abort();
  await uploads.cancel();
  expect(uploads.records()).toEqual([expect.objectContaining({ step: 'step:1', outcome: 'dropped', reason: 'the build did not finish' })]);
  expect(requestsOf(from, repo).map(shape)).toEqual([`POST /v2/${repo}/blobs/uploads/`, `PATCH /v2/${repo}/blobs/uploads/<id>`, `DELETE /v2/${repo}/blobs/uploads/<id>`]);
  // The PATCH ended cleanly at the writer's failure (a cut one would leave distribution unable to cancel the session).
  expect(requestsOf(from, repo)[1]!.status).toBe(202);
  expect(requestsOf(from, repo).at(-1)!.status).toBe(204);
  expect(await openSessions(repo)).toEqual([]);
  expect(await sessionStatuses(from, repo)).toEqual([404]);
  expect(await stored(sha256(head))).toBe(false);

  // After the layer: it was written and streamed whole, then a later step failed.
  from = proxy.requests.length;
  const again = uploadsTo(repo);
  const w2 = await store.createWriter();
  again.follow(await w2.follow(), 'step:2');
  const bytes = randomBytes(2 * MiB);
  w2.stream.end(bytes);
  const info = await w2.commit();
  await until(() => requestsOf(from, repo).some((r) => r.method === 'PATCH' && r.forwarded?.bytes === info.size), 'the whole layer sent');
  await again.cancel();
  // Once the PATCH is answered the upload asks whether the registry has the layer (a HEAD, off the
  // build's path); whether that comes before the cancel is timing. Never a commit (PUT).
  const shapes = requestsOf(from, repo).map(shape);
  expect(shapes.filter((x) => x !== `HEAD /v2/${repo}/blobs/<digest>`)).toEqual([`POST /v2/${repo}/blobs/uploads/`, `PATCH /v2/${repo}/blobs/uploads/<id>`, `DELETE /v2/${repo}/blobs/uploads/<id>`]);
  expect(shapes.indexOf(`HEAD /v2/${repo}/blobs/<digest>`)).toBeLessThan(shapes.length - 1);
  expect(requestsOf(from, repo).at(-1)!.status).toBe(204);
  expect(await openSessions(repo)).toEqual([]);
  expect(await sessionStatuses(from, repo)).toEqual([404]);
  expect(await stored(info.digest)).toBe(false);
  // cancel() after finish() or twice is a no-op.
  await again.cancel();
  expect(requestsOf(from, repo)).toHaveLength(3);
}, 60_000);

test('a registry failure mid-stream is reported with its own error and leaves the layer to the push, which lands it intact', async () => {
  for (const [repo, fault] of [
    ['early/reset', { type: 'reset-after-upload', bytes: MiB }],
    ['early/error', { type: 'status', status: 500, body: JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'disk on fire' }] }) }],
  ] as const) {
    const from = proxy.requests.length;
    proxy.setDecide(({ method }) => (method === 'PATCH' ? fault : undefined));
    const events: ProgressEvent[] = [];
    const uploads = uploadsTo(repo, events);
    const w = await store.createWriter();
    uploads.follow(await w.follow(), 'step:1');
    w.stream.end(randomBytes(3 * MiB));
    const info = await w.commit();
    await uploads.finish([layerOf(info)]);
    proxy.setDecide(undefined);
    const [rec] = uploads.records();
    expect(rec).toMatchObject({ outcome: 'dropped' });
    expect(rec!.reason).toMatch(/^the upload failed, the push sends the layer: /);
    const logged = events.filter((e) => e.type === 'log').map((e) => (e.type === 'log' ? e.data : ''));
    if (fault.type === 'status') {
      expect(rec!.reason).toMatch(/disk on fire/);
      expect(logged.join('')).toMatch(/disk on fire/);
    }
    expect(requestsOf(from, repo).some((r) => r.method === 'PUT')).toBe(false);
    expect(await stored(info.digest)).toBe(false);
    expect(requestsOf(from, repo).at(-1)!.method).toBe('DELETE');
    // A session whose PATCH the network cut cannot be cancelled on distribution (its state token no
    // longer matches what it holds: 404 BLOB_UPLOAD_INVALID); it is purged with the registry's stale
    // uploads, as after a normal push cut the same way. One answered with an error is cancelled.
    if (fault.type === 'status') expect(await openSessions(repo)).toEqual([]);
    // The normal push sends the layer and the registry holds exactly it.
    const image = await imageWith(layerOf(info));
    const r = await pushImage(client, store, { reference: normalizeReference(`${proxy.host}/${repo}`), descriptor: image, tags: ['1'] });
    expect(r.uploaded).toBe(2);
    expect(await stored(info.digest)).toBe(true);
  }
}, 60_000);

test('a commit names only the bytes sent: a layer file changed under the upload is dropped, not committed', async () => {
  const repo = 'early/tampered';
  const from = proxy.requests.length;
  const uploads = uploadsTo(repo);
  const w = await store.createWriter();
  const blob = await w.follow();
  uploads.follow(blob, 'step:1');
  // 3.5 MiB written: the upload reads whole MiBs until the end, so it sends 3 MiB and waits.
  await write(w, randomBytes(3 * MiB + MiB / 2));
  await until(() => requestsOf(from, repo).some((r) => r.method === 'PATCH' && r.received >= 3 * MiB), 'the PATCH carrying 3 MiB');
  // Someone else writes into the temp file where the upload reads next (the writer's hash never sees it).
  const [tmpName] = (await readdir(path.join(store.root, 'tmp'))).filter((n) => n.startsWith('blob-'));
  const fh = await open(path.join(store.root, 'tmp', tmpName!), 'r+');
  await fh.write(Buffer.alloc(4096, 0xee), 0, 4096, 3 * MiB + 100);
  await fh.close();
  w.stream.end(randomBytes(MiB));
  const info = await w.commit();
  await uploads.finish([layerOf(info)]);
  // The bytes sent are not the layer the writer hashed: no PUT names a digest, the session is dropped.
  const [rec] = uploads.records();
  expect(rec).toMatchObject({ outcome: 'dropped', sent: info.size });
  expect(rec!.reason).toMatch(/^the bytes sent \(\d+, sha256:[0-9a-f]{64}\) are not the layer stored/);
  expect(requestsOf(from, repo).map(shape)).toEqual([`POST /v2/${repo}/blobs/uploads/`, `PATCH /v2/${repo}/blobs/uploads/<id>`, `DELETE /v2/${repo}/blobs/uploads/<id>`]);
  expect(await stored(info.digest)).toBe(false);
  expect(await openSessions(repo)).toEqual([]);
}, 60_000);

test('no session for a small layer; a layer the registry has, or the image does not name, or a second upload of the same layer is dropped', async () => {
  const repo = 'early/dropped';
  let from = proxy.requests.length;
  const uploads = uploadsTo(repo, undefined, MiB);
  const layers: Array<{ digest: Digest; size: number }> = [];
  const same = randomBytes(2 * MiB);
  for (const bytes of [randomBytes(100_000), same, same, randomBytes(2 * MiB)]) {
    const w = await store.createWriter();
    uploads.follow(await w.follow(), `step:${layers.length}`);
    w.stream.end(bytes);
    layers.push(await w.commit());
  }
  // The image names the first three (the last was a stage's layer that is not pushed).
  await uploads.finish(layers.slice(0, 3).map(layerOf));
  expect(uploads.records().map((r) => [r.outcome, r.reason ?? ''])).toEqual([
    ['small', ''],
    ['committed', ''],
    ['dropped', 'another upload of this build sent the same layer'],
    ['dropped', 'the layer is not in the pushed image'],
  ]);
  expect(requestsOf(from, repo).filter((r) => r.method === 'POST')).toHaveLength(3);
  expect(await openSessions(repo)).toEqual([]);
  expect(await stored(layers[3]!.digest)).toBe(false);

  // Built again: the registry has it now.
  from = proxy.requests.length;
  const again = uploadsTo(repo);
  const w = await store.createWriter();
  again.follow(await w.follow(), 'step:9');
  w.stream.end(same);
  await w.commit();
  await again.finish([layerOf(layers[1]!)]);
  expect(again.records()).toEqual([expect.objectContaining({ outcome: 'dropped', reason: 'the registry has the layer already' })]);
  expect(requestsOf(from, repo).map(shape)).toEqual([`POST /v2/${repo}/blobs/uploads/`, `PATCH /v2/${repo}/blobs/uploads/<id>`, `HEAD /v2/${repo}/blobs/<digest>`, `DELETE /v2/${repo}/blobs/uploads/<id>`]);
  expect(await openSessions(repo)).toEqual([]);
}, 60_000);

test('token auth: the session, the stream and the commit carry the push token, as a push does', async () => {
  const reg = await startRegistry({ auth: 'token' });
  const c = new RegistryClient({ creds: { [reg.host]: { username: 'alice', password: reg.users.alice! } } });
  try {
    const uploads = new LayerUploads(c, { reference: normalizeReference(`${reg.host}/team/app`), threshold: MiB });
    const w = await store.createWriter();
    uploads.follow(await w.follow(), 'step:1');
    w.stream.end(randomBytes(2 * MiB));
    const info = await w.commit();
    await uploads.finish([layerOf(info)]);
    expect(uploads.records()).toEqual([expect.objectContaining({ outcome: 'committed', digest: info.digest })]);
    expect(reg.tokenServer!.requests.map((r) => r.scopes)).toContainEqual(['repository:team/app:pull,push']);
    const res = await c.request({ registry: reg.host, method: 'HEAD', path: `/v2/team/app/blobs/${info.digest}`, scopes: [{ repository: 'team/app', actions: ['pull'] }], what: 'check' });
    await res.body.dump();
    expect(res.status).toBe(200);
  } finally {
    await c.close();
    await reg.stop();
  }
}, 60_000);

test('a layer still being streamed is no wait: no waiting notice and no timeout while its bytes go out, however long the build writes', async () => {
  const waits: string[] = [];
  const c = new RegistryClient({ timeouts: { connectMs: 1000, responseMs: 2000, idleMs: 2000, noticeMs: 1000 }, onWait: (w) => waits.push(`${w.method} ${w.waitedMs}`) });
  try {
    const uploads = new LayerUploads(c, { reference: normalizeReference(`${proxy.host}/early/slow`), threshold: MiB });
    const w = await store.createWriter();
    uploads.follow(await w.follow(), 'step:1');
    // A writer that takes longer than the response timeout (2 s) and twice the notice (1 s): 128 KiB
    // every 10 ms, so the upload sends a MiB about every 80 ms (it reads whole MiBs until the end).
    for (let i = 0; i < 320; i++) {
      await write(w, randomBytes(MiB / 8));
      await new Promise((r) => setTimeout(r, 10));
    }
    w.stream.end();
    const info = await w.commit();
    await uploads.finish([layerOf(info)]);
    expect(uploads.records()).toEqual([expect.objectContaining({ outcome: 'committed', digest: info.digest })]);
    expect(waits).toEqual([]);
  } finally {
    await c.close();
  }
}, 60_000);
