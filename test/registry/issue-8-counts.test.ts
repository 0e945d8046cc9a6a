/**
 * Issue 8 (push and pull at least as fast as skopeo), pinned by counts
 * instead of timings: a counting proxy in front of the real registry sees
 * exactly the requests a pull and a push need (no HEAD after a commit the
 * registry confirmed, no request twice, connections reused), a push reads
 * every blob from the store once, and the registry client does not load
 * undici (its load and WebAssembly parser cost ~0.35 s of CPU per process).
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform, pipeline, type Readable } from 'node:stream';
import { Store } from '../../src/cache/store.js';
import type { Digest } from '../../src/oci/digest.js';
import type { BlobSource } from '../../src/oci/types.js';
import { normalizeReference } from '../../src/oci/reference.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pullImage } from '../../src/registry/pull.js';
import { pushImage } from '../../src/push/push.js';
import { OciLayoutSource } from '../../src/push/oci-layout.js';
import { makeRandomImage } from './base-image.js';
import { startFaultProxy, type FaultProxy, type ProxyRequest } from './fault-proxy.js';
import { startRegistry, type TestRegistry } from './harness.js';

const KiB = 1024;
const MiB = 1024 * KiB;

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let store: Store;
let image: { manifestDigest: string; layers: Array<{ digest: string; size: number }> };
let configDigest: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-issue8-'));
  registry = await startRegistry({ auth: 'none' });
  proxy = await startFaultProxy({ upstream: registry.host });
  const layout = path.join(tmp, 'layout');
  image = await makeRandomImage(layout, [3 * MiB, 300 * KiB]);
  // The push source is a store, as for `ocibuild push` (no range reads: chunks come from one stream).
  store = await Store.open(path.join(tmp, 'store'));
  const src = new OciLayoutSource(layout);
  const manifest = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', image.manifestDigest.slice(7)), 'utf8')) as { config: { digest: string; size: number } };
  configDigest = manifest.config.digest;
  for (const d of [...image.layers, manifest.config]) await store.ingest(await src.open(d.digest as Digest, d.size), { digest: d.digest as Digest, size: d.size });
  await store.ingest(createReadStream(path.join(layout, 'blobs/sha256', image.manifestDigest.slice(7))), { digest: image.manifestDigest as Digest, size: (await readFile(path.join(layout, 'blobs/sha256', image.manifestDigest.slice(7)))).length });
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

/** Requests since `before`, as `METHOD kind` (kind: ping, manifest, blob:<digest>, upload). */
function summary(reqs: ProxyRequest[]): string[] {
  return reqs.map((r) => {
    const u = r.url.split('?')[0]!;
    if (u === '/v2/') return `${r.method} ping`;
    if (u.includes('/manifests/')) return `${r.method} manifest`;
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(u);
    if (blob) return `${r.method} blob:${blob[1]}`;
    if (u.includes('/blobs/uploads/')) return `${r.method} upload`;
    return `${r.method} ${u}`;
  });
}

function count(list: string[], item: string): number {
  return list.filter((x) => x === item).length;
}

describe('issue 8: requests and reads of a push and a pull, counted', () => {
  test('a push from the store: one HEAD and one upload per blob, no confirming HEAD, every blob read once', async () => {
    const bytesRead = new Map<string, number>();
    let opens = 0;
    // Counts what the push reads from the store (bytes handed out per blob).
    const counting: BlobSource = {
      has: (d) => store.has(d),
      open: async (d: Digest, size?: number): Promise<Readable> => {
        opens++;
        const s = await store.open(d, size);
        const counter = new Transform({
          transform(c: Buffer, _e, cb) {
            bytesRead.set(d, (bytesRead.get(d) ?? 0) + c.length);
            cb(null, c);
          },
        });
        return pipeline(s, counter, () => undefined);
      },
    };
    const manifestBytes = await store.readBlob(image.manifestDigest as Digest);
    const before = proxy.requests.length;
    const debug: string[] = [];
    const client = new RegistryClient({ debug: (l) => debug.push(l) });
    try {
      const res = await pushImage(client, counting, {
        reference: normalizeReference(`${proxy.host}/issue8/push`),
        descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest as Digest, size: manifestBytes.length },
        tags: ['1'],
        monolithicThreshold: 512 * KiB,
        chunkSize: 1 * MiB,
      });
      expect(res.uploaded).toBe(3);
    } finally {
      await client.close();
    }
    // A loopback registry is pinged over plain HTTP first: no TLS handshake is tried.
    expect(debug.filter((l) => l.includes('https://'))).toEqual([]);
    const seen = proxy.requests.slice(before);
    const s = summary(seen);
    const [big, small] = image.layers;
    // Ping once; per blob one HEAD (skip what exists) and one POST; the 3 MiB layer in
    // 1 MiB PATCHes and a commit PUT, the others in one PUT each; the manifest last.
    expect(count(s, 'GET ping')).toBe(1);
    for (const d of [big!.digest, small!.digest, configDigest]) expect(count(s, `HEAD blob:${d}`)).toBe(1);
    expect(count(s, 'POST upload')).toBe(3);
    const patches = Math.ceil(big!.size / MiB); // the tar is a little over 3 MiB: 4
    expect(count(s, 'PATCH upload')).toBe(patches);
    expect(count(s, 'PUT upload')).toBe(3);
    expect(count(s, 'PUT manifest')).toBe(1);
    expect(s).toHaveLength(1 + 3 + 3 + patches + 3 + 1);
    expect(s[s.length - 1]).toBe('PUT manifest');
    // Every blob read from the store exactly once (the manifest once, to load it).
    expect(bytesRead.get(big!.digest)).toBe(big!.size);
    expect(bytesRead.get(small!.digest)).toBe(small!.size);
    expect(bytesRead.get(image.manifestDigest)).toBe(manifestBytes.length);
    expect(opens).toBe(4);
    // Keep-alive: 15 requests over at most one connection per concurrent upload (4) plus the ping's.
    expect(new Set(seen.map((r) => r.remotePort)).size).toBeLessThanOrEqual(5);
  }, 120_000);

  test('by default a large blob goes in one streamed PATCH (no wait for the registry between chunks)', async () => {
    const manifestBytes = await store.readBlob(image.manifestDigest as Digest);
    const before = proxy.requests.length;
    const client = new RegistryClient();
    try {
      await pushImage(client, store, {
        reference: normalizeReference(`${proxy.host}/issue8/one-patch`),
        descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest as Digest, size: manifestBytes.length },
        tags: ['1'],
        monolithicThreshold: 512 * KiB,
      });
    } finally {
      await client.close();
    }
    const s = summary(proxy.requests.slice(before));
    expect(count(s, 'PATCH upload')).toBe(1);
    const patch = proxy.requests.slice(before).find((r) => r.method === 'PATCH')!;
    expect(Number(patch.headers['content-length'])).toBe(image.layers[0]!.size);
    expect(s).toHaveLength(1 + 3 + 3 + 1 + 3 + 1);
  }, 120_000);

  test('a blob that no longer verifies in the store is sent in reused buffers but never committed: STORE_CORRUPT, no blob, no tag', async () => {
    const bad = await Store.open(path.join(tmp, 'corrupt'));
    for (const d of [...image.layers, { digest: configDigest }]) {
      const info = await store.stat(d.digest as Digest);
      await bad.ingest(await store.open(d.digest as Digest, info!.size), info!);
    }
    const manifestBytes = await store.readBlob(image.manifestDigest as Digest);
    await bad.writeBlob(manifestBytes);
    // The big layer keeps its size; its last byte changes (found only at the end of the read).
    const big = image.layers[0]!;
    const bytes = await readFile(bad.blobPath(big.digest as Digest));
    bytes[bytes.length - 1] ^= 1;
    await writeFile(bad.blobPath(big.digest as Digest), bytes);
    const before = proxy.requests.length;
    const client = new RegistryClient();
    try {
      const push = pushImage(client, bad, {
        reference: normalizeReference(`${proxy.host}/issue8/corrupt`),
        descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest as Digest, size: manifestBytes.length },
        tags: ['1'],
        monolithicThreshold: 512 * KiB,
      });
      await expect(push).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
      const head = await client.request({ registry: proxy.host, method: 'HEAD', path: `/v2/issue8/corrupt/blobs/${big.digest}`, accept: [404], what: 'check' });
      await head.body.dump();
      expect(head.status).toBe(404);
    } finally {
      await client.close();
    }
    const seen = proxy.requests.slice(before);
    const s = summary(seen);
    // The big layer went out in its one PATCH, which was cut off: no commit of it.
    expect(count(s, 'PATCH upload')).toBe(1);
    expect(seen.filter((r) => r.method === 'PUT' && decodeURIComponent(r.url).includes(`digest=${big.digest}`))).toEqual([]);
    expect(s.filter((x) => x === 'PUT manifest')).toEqual([]);
    expect(await bad.has(big.digest as Digest)).toBe(false);
  }, 120_000);

  test('a pull into an empty store: ping, manifest, config and each layer once, nothing else', async () => {
    const sink = await Store.open(path.join(tmp, 'pulled'));
    const before = proxy.requests.length;
    const client = new RegistryClient();
    try {
      const res = await pullImage(client, `${proxy.host}/issue8/push:1`, { sink });
      expect(res.descriptor.digest).toBe(image.manifestDigest);
    } finally {
      await client.close();
    }
    const seen = proxy.requests.slice(before);
    const s = summary(seen);
    expect(s.slice(0, 3)).toEqual(['GET ping', 'GET manifest', `GET blob:${configDigest}`]);
    expect(s.slice(3).sort()).toEqual(image.layers.map((l) => `GET blob:${l.digest}`).sort());
    expect(s).toHaveLength(5);
    // Sequential requests share a connection; only the concurrent layer downloads open more.
    expect(new Set(seen.map((r) => r.remotePort)).size).toBeLessThanOrEqual(3);
    for (const l of image.layers) expect(await sink.stat(l.digest as Digest)).toEqual({ digest: l.digest, size: l.size });
  }, 120_000);

  test('the registry client and the push do not load undici', async () => {
    // Walk the relative imports from the entry points of pull and push; no bare import may be undici.
    const root = path.resolve('src');
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = await readFile(file, 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/gm)) {
        const spec = m[1] ?? m[2] ?? m[3]!;
        if (spec.startsWith('.')) await visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
        else bare.add(spec);
      }
    };
    await visit(path.join(root, 'registry/index.ts'));
    await visit(path.join(root, 'push/index.ts'));
    await visit(path.join(root, 'cache/store.ts'));
    expect([...bare].filter((b) => b === 'undici' || b.startsWith('undici/'))).toEqual([]);
    expect(seen.has(path.join(root, 'registry/transport.ts'))).toBe(true);
  });
});
