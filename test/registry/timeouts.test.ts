/**
 * Bounded waits (issue 7): a registry that accepts the connection and never
 * answers, a request that never gets its response, and a blob body that
 * stalls after a few bytes must each fail in seconds with REGISTRY_TIMEOUT
 * naming the request, after retries, and be reported while waiting.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/cache/store.js';
import { OcibuildError } from '../../src/errors.js';
import { RegistryClient, type RegistryClientOptions, type RegistryWait } from '../../src/registry/client.js';
import { pullImage, type PullProgress } from '../../src/registry/pull.js';
import { normalizeReference } from '../../src/oci/reference.js';
import { pushImage, type PushProgress } from '../../src/push/push.js';
import { OciLayoutSource } from '../../src/push/oci-layout.js';
import { runCli } from '../cli-io.js';
import { makeRandomImage } from './base-image.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startRegistry, type TestRegistry } from './harness.js';

const MB = 1024 * 1024;
const FAST: RegistryClientOptions = {
  timeouts: { connectMs: 1000, responseMs: 800, idleMs: 800, noticeMs: 250 },
  retry: { retries: 2, minDelayMs: 10, maxDelayMs: 50 },
};

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let layout: OciLayoutSource;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-timeouts-'));
  registry = await startRegistry({ auth: 'none' });
  proxy = await startFaultProxy({ upstream: registry.host });
  await makeRandomImage(path.join(tmp, 'img'), [3 * MB]);
  layout = new OciLayoutSource(path.join(tmp, 'img'));
  const client = await RegistryClient.create();
  try {
    await pushImage(client, layout, { reference: normalizeReference(`${registry.host}/timeouts/img`), descriptor: await layout.resolve(), tags: ['1'] });
  } finally {
    await client.close();
  }
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

afterEach(() => proxy.setDecide(undefined));

async function failure(p: Promise<unknown>): Promise<OcibuildError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(OcibuildError);
    return e as OcibuildError;
  }
  throw new Error('expected a failure');
}

test('issue 7: a manifest request that never gets an answer fails in seconds, naming the request', async () => {
  proxy.setDecide(({ method, url }) => (method === 'GET' && url.includes('/manifests/') ? { type: 'hang' } : undefined));
  const waits: RegistryWait[] = [];
  const client = await RegistryClient.create({ ...FAST, onWait: (w) => waits.push(w) });
  const t0 = Date.now();
  const err = await failure(pullImage(client, `${proxy.host}/timeouts/img:1`, { sink: await Store.open(path.join(tmp, 's1')) }).finally(() => client.close()));
  const elapsed = Date.now() - t0;
  expect(err.code).toBe('REGISTRY_TIMEOUT');
  expect(err.message).toBe(`pull manifest ${proxy.host}/timeouts/img:1: GET http://${proxy.host}/v2/timeouts/img/manifests/1: no response within 0.8 s (3 attempts)`);
  expect(err.hint).toContain('--registry-timeout');
  expect(err.details).toMatchObject({ timeout: 'response', attempts: 3 });
  expect(elapsed).toBeLessThan(10_000);
  // Three tries reached the proxy; the user was told which request waited, and for how long.
  expect(proxy.requests.filter((r) => r.fault?.type === 'hang')).toHaveLength(3);
  const notice = waits.find((w) => !w.timedOut);
  expect(notice).toMatchObject({ what: `pull manifest ${proxy.host}/timeouts/img:1`, method: 'GET', stage: 'response', timeoutMs: 800 });
  expect(notice!.url).toBe(`http://${proxy.host}/v2/timeouts/img/manifests/1`);
  expect(notice!.waitedMs).toBeGreaterThanOrEqual(250);
  expect(waits.filter((w) => w.timedOut === 'response').map((w) => w.attempt)).toEqual([0, 1, 2]);
});

test('issue 7: a blob body that stalls after a few bytes fails in seconds; progress says it is waiting', async () => {
  proxy.setDecide(({ method, url }) => (method === 'GET' && url.includes('/blobs/sha256:') ? { type: 'stall-body', at: 1000 } : undefined));
  const events: PullProgress[] = [];
  const client = await RegistryClient.create(FAST);
  const t0 = Date.now();
  const err = await failure(
    pullImage(client, `${proxy.host}/timeouts/img:1`, { sink: await Store.open(path.join(tmp, 's2')), onProgress: (e) => events.push(e) }).finally(() => client.close()),
  );
  expect(Date.now() - t0).toBeLessThan(15_000);
  expect(err.code).toBe('REGISTRY_TIMEOUT');
  expect(err.message).toMatch(new RegExp(`^pull blob sha256:[0-9a-f]{64} of ${proxy.host}/timeouts/img: GET http://${proxy.host.replace(/\./g, '\\.')}/v2/timeouts/img/blobs/sha256:[0-9a-f]{64}: the response stalled: no data for 0\\.8 s \\(3 attempts\\)$`));
  expect(err.details).toMatchObject({ timeout: 'body', attempts: 3 });
  const waiting = events.filter((e) => e.phase === 'waiting');
  expect(waiting.some((e) => e.wait?.stage === 'body' && !e.wait.timedOut && e.wait.waitedMs >= 250)).toBe(true);
  expect(waiting.some((e) => e.wait?.timedOut === 'body')).toBe(true);
});

test('issue 7: a registry that accepts connections and never answers: REGISTRY_TIMEOUT for its ping', async () => {
  const held = new Set<net.Socket>();
  const server = net.createServer((s) => {
    held.add(s);
    s.on('error', () => undefined);
    s.on('close', () => held.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const client = await RegistryClient.create(FAST);
  const t0 = Date.now();
  try {
    const err = await failure(pullImage(client, `${host}/silent/img:1`, { sink: await Store.open(path.join(tmp, 's3')) }));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err.code).toBe('REGISTRY_TIMEOUT');
    expect(err.message).toBe(`registry ${host} ping: GET http://${host}/v2/: no response within 0.8 s (3 attempts)`);
  } finally {
    await client.close();
    for (const s of held) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('issue 7: an upload whose commit never gets an answer fails in seconds and moves no tag', async () => {
  proxy.setDecide(({ method, url }) => (method === 'PUT' && url.includes('/blobs/uploads/') ? { type: 'hang' } : undefined));
  const events: PushProgress[] = [];
  const client = await RegistryClient.create(FAST);
  const t0 = Date.now();
  const dir = path.join(tmp, 'push');
  await makeRandomImage(dir, [1 * MB]);
  const src = new OciLayoutSource(dir);
  const err = await failure(
    pushImage(client, src, { reference: normalizeReference(`${proxy.host}/timeouts/push`), descriptor: await src.resolve(), tags: ['1'], concurrency: 1, onProgress: (e) => events.push(e) }).finally(() =>
      client.close(),
    ),
  );
  expect(Date.now() - t0).toBeLessThan(15_000);
  expect(err.code).toBe('REGISTRY_TIMEOUT');
  expect(err.message).toMatch(/^upload blob sha256:[0-9a-f]{64}: PUT http:\/\/127\.0\.0\.1:\d+\/v2\/timeouts\/push\/blobs\/uploads\/[^ ]*: no response within 0\.8 s \(3 attempts\)$/);
  expect(err.details).toMatchObject({ timeout: 'response', attempts: 3 });
  expect(events.some((e) => e.phase === 'waiting' && e.wait?.method === 'PUT' && e.wait.waitedMs >= 250)).toBe(true);
  expect(proxy.requests.some((r) => r.method === 'PUT' && r.url.includes('/manifests/'))).toBe(false);
});

test('issue 7: a chunk upload that never gets an answer fails in seconds, naming the chunk and every try', async () => {
  proxy.setDecide(({ method }) => (method === 'PATCH' ? { type: 'hang' } : undefined));
  const client = await RegistryClient.create(FAST);
  const t0 = Date.now();
  const dir = path.join(tmp, 'push-chunked');
  await makeRandomImage(dir, [1 * MB]);
  const src = new OciLayoutSource(dir);
  const before = proxy.requests.length;
  const err = await failure(
    pushImage(client, src, {
      reference: normalizeReference(`${proxy.host}/timeouts/chunked`),
      descriptor: await src.resolve(),
      tags: ['1'],
      concurrency: 1,
      monolithicThreshold: 64 * 1024,
      chunkSize: 512 * 1024,
    }).finally(() => client.close()),
  );
  expect(Date.now() - t0).toBeLessThan(25_000);
  expect(err.code).toBe('REGISTRY_TIMEOUT');
  expect(err.message).toMatch(/^upload chunk 0-524287 of blob sha256:[0-9a-f]{64}: PATCH http:\/\/127\.0\.0\.1:\d+\/v2\/timeouts\/chunked\/blobs\/uploads\/[^ ]*: no response within 0\.8 s \(9 attempts\)$/);
  expect(proxy.requests.slice(before).filter((r) => r.method === 'PATCH')).toHaveLength(9);
}, 30_000);

test('issue 7: --registry-timeout bounds the waits of ocibuild pull, which says what it waits for', async () => {
  proxy.setDecide(({ method, url }) => (method === 'GET' && url.includes('/manifests/') ? { type: 'hang' } : undefined));
  const t0 = Date.now();
  const res = await runCli(['pull', `${proxy.host}/timeouts/img:1`, '--store', path.join(tmp, 's4'), '--registry-timeout', '1']);
  expect(Date.now() - t0).toBeLessThan(30_000);
  expect(res.code).toBe(1);
  expect(res.stderr).toContain(`pull manifest ${proxy.host}/timeouts/img:1: GET http://${proxy.host}/v2/timeouts/img/manifests/1: no response within 1 s`);
  expect(res.stderr).toContain('[REGISTRY_TIMEOUT]');
  expect(res.stderr).toMatch(/waiting \d+(\.\d)? s for GET http:\/\/127\.0\.0\.1:\d+\/v2\/timeouts\/img\/manifests\/1 \(pull manifest/);
  // A bad value is a usage error, before any request.
  const before = proxy.requests.length;
  const bad = await runCli(['pull', `${proxy.host}/timeouts/img:1`, '--store', path.join(tmp, 's4'), '--registry-timeout', 'soon']);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('--registry-timeout');
  expect(proxy.requests.length).toBe(before);
}, 40_000);
