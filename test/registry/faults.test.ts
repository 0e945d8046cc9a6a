/**
 * Fault injection: a proxy in front of the real registry resets
 * connections, answers 500/503/429 (with Retry-After) and truncates bodies.
 * A 200 MB push of random data must still land intact; a pull must still
 * verify; a push that cannot succeed must not leave a tag behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../src/cache/store.js';
import { OcibuildError } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pullImage } from '../../src/registry/pull.js';
import { normalizeReference } from '../../src/oci/reference.js';
import { pushImage } from '../../src/push/push.js';
import { OciLayoutSource } from '../../src/push/oci-layout.js';
import { makeBusyboxImage, makeRandomImage } from './base-image.js';
import { useProxiedRegistry, type Fault, type FaultProxy } from './fault-proxy.js';
import { run, skopeoRawManifest, type TestRegistry } from './harness.js';

const MB = 1024 * 1024;

async function fileSha(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
useProxiedRegistry('ocibuild-faults-', (r) => ({ registry, proxy, tmp } = r));

/**
 * Fire each scripted fault once, at the first request that matches it;
 * `count` is the 1-based number of this request among those with its method.
 */
function script(faults: Array<{ match: (m: string, u: string, count: number) => boolean; fault: Fault }>) {
  const fired = new Set<number>();
  const counts = new Map<string, number>();
  return ({ method, url }: { method: string; url: string }): Fault | undefined => {
    const count = (counts.get(method) ?? 0) + 1;
    counts.set(method, count);
    for (const [i, f] of faults.entries()) {
      if (!fired.has(i) && f.match(method, url, count)) {
        fired.add(i);
        return f.fault;
      }
    }
    return undefined;
  };
}

/** A small seeded PRNG (mulberry32): the same seed, the same schedule and the same backoff jitter. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a request to the registry is, for a fault rule. */
interface UploadRequest {
  method: string;
  url: string;
  kind: 'head' | 'start' | 'chunk' | 'status' | 'commit' | 'manifest' | 'other';
  /** Upload session id (chunk, status, commit). */
  session?: string;
  /** 1-based number of this kind of request within its session. */
  nth: number;
  /** Content-Range of a chunk, and its length. */
  start?: number;
  end?: number;
  /** Blob digest named by the URL (HEAD, commit). */
  digest?: string;
}

/**
 * A deterministic fault schedule (issue 7): rules match what a request is
 * (its blob, its session, its byte range), never the global order of requests,
 * which varies with the parallel uploads. A rule with `perSession` fires once
 * in every upload session; otherwise once in the whole run.
 */
function schedule(rules: Array<{ match: (r: UploadRequest) => boolean; fault: Fault; perSession?: boolean }>) {
  const fired = new Set<string>();
  const counts = new Map<string, number>();
  return ({ method, url, headers }: { method: string; url: string; headers: Record<string, string | string[] | undefined> }): Fault | undefined => {
    const session = url.includes('/blobs/uploads/') ? url.split('/blobs/uploads/')[1]!.split('?')[0] || undefined : undefined;
    const digest = /sha256(?::|%3A)([0-9a-f]{64})/.exec(url)?.[1];
    const kind: UploadRequest['kind'] =
      method === 'HEAD' && url.includes('/blobs/') ? 'head'
      : method === 'POST' && url.includes('/blobs/uploads/') ? 'start'
      : method === 'PATCH' ? 'chunk'
      : method === 'GET' && session ? 'status'
      : method === 'PUT' && session ? 'commit'
      : method === 'PUT' && url.includes('/manifests/') ? 'manifest'
      : 'other';
    const key = `${kind}:${session ?? ''}`;
    const nth = (counts.get(key) ?? 0) + 1;
    counts.set(key, nth);
    const range = /^(\d+)-(\d+)$/.exec(String(headers['content-range'] ?? ''));
    const req: UploadRequest = {
      method, url, kind, nth,
      ...(session ? { session } : {}),
      ...(digest ? { digest: `sha256:${digest}` } : {}),
      ...(range ? { start: Number(range[1]), end: Number(range[2]) } : {}),
    };
    for (const [i, r] of rules.entries()) {
      const id = r.perSession ? `${i}:${session}` : `${i}`;
      if (!fired.has(id) && r.match(req)) {
        fired.add(id);
        return r.fault;
      }
    }
    return undefined;
  };
}

test('a 200 MB push through resets, 5xx, 429 and dropped uploads lands intact; a truncated pull still verifies', async () => {
  const dir = path.join(tmp, 'big');
  const img = await makeRandomImage(dir, [120 * MB, 60 * MB, 20 * MB]);
  const layout = new OciLayoutSource(dir);
  const descriptor = await layout.resolve();
  const [big, mid, small] = img.layers as [typeof img.layers[0], typeof img.layers[0], typeof img.layers[0]];
  const seed = Number(process.env.FAULT_SEED ?? 7);
  const random = seededRandom(seed);
  // Chunked on purpose (the default is one PATCH per blob since issue 8): the faults hit chunk offsets.
  const CHUNK = 16 * MB;
  const cut = 5 * MB + Math.floor(random() * MB);
  proxy.setDecide(
    schedule([
      { match: (r) => r.kind === 'head' && r.digest === small.digest, fault: { type: 'status', status: 503 } },
      // Timing only (which blob waits does not matter): Retry-After is honoured.
      { match: (r) => r.kind === 'start', fault: { type: 'status', status: 429, retryAfter: '1' } },
      // The first chunk of every session fails before a byte reaches the registry, which then
      // reports the empty upload as `Range: 0-0`: the upload must resume at byte 0, not 1.
      { match: (r) => r.kind === 'chunk' && r.nth === 1, fault: { type: 'status', status: 500 }, perSession: true },
      // Part of a chunk of the big layer lands, then the connection drops: the registry drops the session.
      { match: (r) => r.kind === 'chunk' && r.start === 6 * CHUNK, fault: { type: 'reset-after-upload', bytes: cut } },
      // The last chunk of the middle layer is reset before it is sent: resume in the same session.
      { match: (r) => r.kind === 'chunk' && r.start === 3 * CHUNK && r.end === mid.size - 1, fault: { type: 'reset' } },
      { match: (r) => r.kind === 'chunk' && r.start === 7 * CHUNK && r.end === big.size - 1, fault: { type: 'status', status: 500 } },
      // Retried inside the client (a GET).
      { match: (r) => r.kind === 'status', fault: { type: 'status', status: 503 } },
      // The commit of the small layer never reaches the registry: ask where it is, commit again.
      { match: (r) => r.kind === 'commit' && r.digest === small.digest, fault: { type: 'reset' } },
      { match: (r) => r.kind === 'manifest', fault: { type: 'status', status: 502 } },
    ]),
  );
  const before = proxy.requests.length;
  const client = await RegistryClient.create({ retry: { retries: 6, minDelayMs: 20, maxDelayMs: 2000 }, random });
  const t0 = Date.now();
  try {
    const res = await pushImage(client, layout, { reference: normalizeReference(`${proxy.host}/faults/big`), descriptor, tags: ['1'], chunkSize: CHUNK });
    expect(res.digest).toBe(descriptor.digest);
    expect(res.uploaded).toBe(4);
  } finally {
    await client.close();
  }
  const seen = proxy.requests.slice(before);
  const faults = seen
    .filter((r) => r.fault).map((r) => r.fault!.type + (r.fault!.type === 'status' ? `:${(r.fault as { status: number }).status}` : ''));
  // Every scripted fault fired, the first-chunk fault once per session (3 layers + 1 restarted session).
  expect(faults.sort()).toEqual(['reset', 'reset', 'reset-after-upload', 'status:429', 'status:500', 'status:500', 'status:500', 'status:500', 'status:500', 'status:502', 'status:503', 'status:503']);
  const uploadId = (u: string) => u.split('/blobs/uploads/')[1]?.split('?')[0] ?? '';
  const uploads = seen.filter((r) => r.url.includes('/blobs/uploads/'));
  // After every chunk the registry holds exactly the bytes up to the chunk's end: the client
  // never sent a chunk at an offset other than the registry's.
  for (const r of uploads.filter((x) => x.method === 'PATCH' && x.status === 202)) {
    expect(`${r.headers['content-range']} -> ${String(r.responseHeaders?.range)}`).toBe(`${r.headers['content-range']} -> 0-${String(r.headers['content-range']).split('-')[1]}`);
  }
  // After a failed first chunk the registry said `0-0` and the client resumed that session at 0.
  const resumedAt = (last: number | 'empty') =>
    uploads.filter((r, i) => {
      if (r.method !== 'GET' || r.status !== 204) return false;
      const m = /^0-(\d+)$/.exec(String(r.responseHeaders?.range));
      const next = uploads.slice(i + 1).find((x) => x.method === 'PATCH' && uploadId(x.url) === uploadId(r.url));
      if (!m || !next) return false;
      const want = last === 'empty' ? 0 : Number(m[1]) + 1;
      return (last === 'empty' ? m[1] === '0' : Number(m[1]) > 0) && String(next.headers['content-range']).startsWith(`${want}-`);
    }).length;
  expect(resumedAt('empty')).toBeGreaterThanOrEqual(3);
  expect(resumedAt(1)).toBeGreaterThanOrEqual(2);
  // The session the registry dropped (after the partial chunk) was given up for a new one.
  expect(uploads.some((r) => (r.method === 'GET' || r.method === 'PATCH') && (r.status === 404 || r.status === 416))).toBe(true);
  const elapsed = Date.now() - t0;
  expect(elapsed).toBeGreaterThanOrEqual(1000); // Retry-After: 1 was honoured

  // Read back straight from the registry with skopeo (which verifies every blob), then hash ourselves.
  expect(createHash('sha256').update(await skopeoRawManifest(registry, 'faults/big:1')).digest('hex')).toBe(descriptor.digest.slice(7));
  const out = path.join(tmp, 'big-copy');
  await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-oci-accept-uncompressed-layers', `docker://${registry.host}/faults/big:1`, `oci:${out}:x`]);
  const blobs = await readdir(path.join(out, 'blobs', 'sha256'));
  for (const l of img.layers) {
    expect(blobs).toContain(l.digest.slice(7));
    expect(await fileSha(path.join(out, 'blobs', 'sha256', l.digest.slice(7)))).toBe(l.digest);
  }

  // Pull it back through the proxy with truncated bodies and resets.
  proxy.setDecide(
    script([
      { match: (m, u) => m === 'GET' && u.includes('/manifests/'), fault: { type: 'truncate', at: 100 } },
      { match: (m, u) => m === 'GET' && u.includes('/blobs/sha256:'), fault: { type: 'truncate', at: 7 * MB + 5 } },
      { match: (m, u) => m === 'GET' && u.includes('/blobs/sha256:'), fault: { type: 'reset' } },
      { match: (m, u) => m === 'GET' && u.includes('/blobs/sha256:'), fault: { type: 'status', status: 503, retryAfter: '0' } },
    ]),
  );
  const store = await Store.open(path.join(tmp, 'pull-store'));
  const pullClient = await RegistryClient.create({ retry: { retries: 6, minDelayMs: 20, maxDelayMs: 1000 } });
  try {
    const pulled = await pullImage(pullClient, `${proxy.host}/faults/big:1`, { sink: store });
    expect(pulled.descriptor.digest).toBe(descriptor.digest);
  } finally {
    await pullClient.close();
  }
  for (const l of img.layers) expect(await store.has(l.digest as never)).toBe(true);
  const truncations = proxy.requests.filter((r) => r.fault?.type === 'truncate');
  expect(truncations.length).toBe(2);
});

test('a push that cannot succeed leaves no tag pointing at a missing blob', async () => {
  const dir = path.join(tmp, 'doomed');
  await makeBusyboxImage(dir, { created: '2020-02-02T00:00:00Z' });
  const layout = new OciLayoutSource(dir);
  const descriptor = await layout.resolve();
  const manifest = JSON.parse((await readFile(path.join(dir, 'blobs', 'sha256', descriptor.digest.slice(7)))).toString()) as { layers: Array<{ digest: string }> };
  const layerDigest = manifest.layers[0]!.digest;
  // Every upload of the layer fails with 500; the config uploads fine.
  proxy.setDecide(({ method, url }) =>
    (method === 'PUT' || method === 'PATCH') && url.includes('/blobs/uploads/') && url.includes(layerDigest.slice(7)) ? { type: 'status', status: 500 } : undefined,
  );
  const client = await RegistryClient.create({ retry: { retries: 2, minDelayMs: 5, maxDelayMs: 20 } });
  let err: unknown;
  try {
    await pushImage(client, layout, { reference: normalizeReference(`${proxy.host}/faults/doomed`), descriptor, tags: ['1', '2'] });
  } catch (e) {
    err = e;
  } finally {
    await client.close();
  }
  proxy.setDecide(undefined);
  expect(err).toBeInstanceOf(OcibuildError);
  expect((err as OcibuildError).code).toBe('REGISTRY_ERROR');
  expect((err as OcibuildError).details?.status).toBe(500);
  expect((err as OcibuildError).message).toContain('injected 500');
  // No manifest was ever sent, so no tag exists, and the registry has no such manifest.
  const mine = proxy.requests.filter((r) => r.url.includes('/faults/doomed/'));
  expect(mine.some((r) => r.url.includes('/blobs/uploads/'))).toBe(true);
  expect(mine.some((r) => r.method === 'PUT' && r.url.includes('/manifests/'))).toBe(false);
  for (const tag of ['1', '2']) {
    await expect(skopeoRawManifest(registry, `faults/doomed:${tag}`)).rejects.toThrow();
  }
});

test('4xx denials are not retried; the error carries the registry code', async () => {
  const dir = path.join(tmp, 'denied');
  await makeBusyboxImage(dir);
  const layout = new OciLayoutSource(dir);
  proxy.setDecide(({ method, url }) =>
    method === 'POST' && url.includes('/faults/denied/')
      ? { type: 'status', status: 403, body: JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }) }
      : undefined,
  );
  const before = proxy.requests.length;
  const client = await RegistryClient.create({ retry: { retries: 5, minDelayMs: 5, maxDelayMs: 10 } });
  let err: OcibuildError | undefined;
  try {
    await pushImage(client, layout, { reference: normalizeReference(`${proxy.host}/faults/denied`), descriptor: await layout.resolve(), tags: ['1'], concurrency: 1 });
  } catch (e) {
    err = e as OcibuildError;
  } finally {
    await client.close();
    proxy.setDecide(undefined);
  }
  expect(err?.code).toBe('REGISTRY_DENIED');
  expect(err?.message).toContain('DENIED: requested access to the resource is denied');
  expect(err?.details).toMatchObject({ status: 403, errors: [{ code: 'DENIED' }] });
  expect(String(err?.details?.url)).toContain('/v2/faults/denied/blobs/uploads/');
  const posts = proxy.requests.slice(before).filter((r) => r.method === 'POST');
  expect(posts).toHaveLength(1);
});

test('OCI-Chunk-Min-Length raises the chunk size', async () => {
  const dir = path.join(tmp, 'minchunk');
  const img = await makeRandomImage(dir, [3 * MB]);
  const layout = new OciLayoutSource(dir);
  proxy.setDecide(({ method, url }) =>
    method === 'POST' && url.includes('/faults/minchunk/') ? { type: 'add-headers', headers: { 'oci-chunk-min-length': String(2 * MB) } } : undefined,
  );
  const before = proxy.requests.length;
  const client = await RegistryClient.create();
  try {
    await pushImage(client, layout, { reference: normalizeReference(`${proxy.host}/faults/minchunk`), descriptor: await layout.resolve(), tags: ['1'], monolithicThreshold: 0, chunkSize: 512 * 1024 });
  } finally {
    await client.close();
    proxy.setDecide(undefined);
  }
  const layerPatches = proxy.requests.slice(before).filter((r) => r.method === 'PATCH' && Number(r.headers['content-length']) > 10_000);
  expect(layerPatches.map((r) => r.headers['content-range'])).toEqual([`0-${2 * MB - 1}`, `${2 * MB}-${img.layers[0]!.size - 1}`]);
});

test('an aborted pull stops promptly and stores nothing partial', async () => {
  const dir = path.join(tmp, 'abort');
  await makeRandomImage(dir, [40 * MB]);
  const layout = new OciLayoutSource(dir);
  const client = await RegistryClient.create();
  try {
    await pushImage(client, layout, { reference: normalizeReference(`${registry.host}/faults/abort`), descriptor: await layout.resolve(), tags: ['1'] });
    const store = await Store.open(path.join(tmp, 'abort-store'));
    const ac = new AbortController();
    const events: string[] = [];
    const p = pullImage(client, `${registry.host}/faults/abort:1`, {
      sink: store,
      signal: ac.signal,
      onProgress: (e) => {
        events.push(e.phase);
        if (e.phase === 'downloading') ac.abort(new Error('user abort'));
      },
    });
    await expect(p).rejects.toThrow();
    expect(events).toContain('downloading');
    expect(events).not.toContain('done');
    const manifest = JSON.parse((await readFile(path.join(dir, 'blobs', 'sha256', (await layout.resolve()).digest.slice(7)))).toString()) as { layers: Array<{ digest: string }> };
    expect(await store.has(manifest.layers[0]!.digest as never)).toBe(false);
  } finally {
    await client.close();
  }
});
