/**
 * The order of a pull's requests (issue 8), against the real registry behind the fault proxy:
 * the layers are fetched while the config is (a round trip less before the longest download);
 * a config that fails its checks stops the downloads still running and leaves no partial file;
 * a single-platform image pulled for another platform fetches no layer. And the registry is
 * pinged ahead (RegistryClient.prepare): `ocibuild pull` opens its store while the ping is out.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Store } from '../../src/cache/store.js';
import { OcibuildError } from '../../src/errors.js';
import type { Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { normalizeReference } from '../../src/oci/reference.js';
import type { BlobInfo } from '../../src/oci/types.js';
import { pushImage } from '../../src/push/push.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pullImage } from '../../src/registry/pull.js';
import { runCli } from '../cli-io.js';
import { ensureDist, repoRoot } from '../dist.js';
import { useProxiedRegistry, type FaultProxy } from './fault-proxy.js';
import type { TestRegistry } from './harness.js';

const MB = 1024 * 1024;
const execFileP = promisify(execFile);

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
useProxiedRegistry('ocibuild-pull-order-', (r) => ({ registry, proxy, tmp } = r));

afterEach(() => proxy.setDecide(undefined));

/** Push an image of random layers whose config says `config` (our push: it does not read configs). */
async function pushRandomImage(repo: string, layerSizes: number[], config: (layers: BlobInfo[]) => object): Promise<{ layers: BlobInfo[]; config: BlobInfo }> {
  const src = await Store.open(path.join(tmp, `src-${repo}`));
  const layers: BlobInfo[] = [];
  for (const size of layerSizes) layers.push(await src.writeBlob(randomBytes(size)));
  const cfg = await src.writeBlob(JSON.stringify(config(layers)));
  const manifest = await src.writeBlob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, ...cfg },
      layers: layers.map((l) => ({ mediaType: MediaType.ociLayerGzip, ...l })),
    }),
  );
  const client = await RegistryClient.create({});
  try {
    await pushImage(client, src, { reference: normalizeReference(`${registry.host}/${repo}`), descriptor: { mediaType: MediaType.ociManifest, ...manifest }, tags: ['1'] });
  } finally {
    await client.close();
  }
  return { layers, config: cfg };
}

const linuxAmd64 = (layers: BlobInfo[]) => ({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } });

const blobGets = (digest: Digest) => proxy.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${digest}`));

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(OcibuildError);
    return (e as OcibuildError).code;
  }
  throw new Error('expected the pull to fail');
}

it('asks for the layers while the config is still on its way', async () => {
  const img = await pushRandomImage('order/parallel', [2 * MB, 1 * MB], linuxAmd64);
  // The config is never answered: the layers must be asked for all the same.
  proxy.setDecide(({ method, url }) => (method === 'GET' && url.endsWith(`/blobs/${img.config.digest}`) ? { type: 'hang' } : undefined));
  const store = await Store.open(path.join(tmp, 'store-parallel'));
  const client = await RegistryClient.create({});
  const ac = new AbortController();
  try {
    const pulling = pullImage(client, `${proxy.host}/order/parallel:1`, { sink: store, signal: ac.signal });
    pulling.catch(() => undefined);
    await until('both layers were asked for', () => img.layers.every((l) => blobGets(l.digest).length > 0));
    ac.abort(new Error('test: stop'));
    await expect(pulling).rejects.toThrow();
  } finally {
    await client.close();
  }
  expect(await readdir(path.join(store.root, 'tmp'))).toEqual([]);
});

it('stops the layer downloads when the config fails its checks, and leaves no partial file', async () => {
  // Two layers for a config listing one diff_id: MANIFEST_INVALID once the config is read.
  const img = await pushRandomImage('order/bad-config', [8 * MB, 8 * MB], (layers) => linuxAmd64(layers.slice(1)));
  proxy.setDecide(({ method, url }) => {
    if (method !== 'GET') return undefined;
    // The config comes late, and the layers stop after 1 MiB: they are mid-download when it does.
    if (url.endsWith(`/blobs/${img.config.digest}`)) return { type: 'delay', ms: 400 };
    if (img.layers.some((l) => url.endsWith(`/blobs/${l.digest}`))) return { type: 'stall-body', at: MB };
    return undefined;
  });
  const store = await Store.open(path.join(tmp, 'store-bad-config'));
  const client = await RegistryClient.create({});
  const t0 = Date.now();
  try {
    expect(await code(pullImage(client, `${proxy.host}/order/bad-config:1`, { sink: store }))).toBe('MANIFEST_INVALID');
  } finally {
    await client.close();
  }
  // Stopped, not timed out: the stalled bodies would hold the pull for the client's idle timeout.
  expect(Date.now() - t0).toBeLessThan(client.timeouts.idleMs);
  for (const l of img.layers) {
    expect(blobGets(l.digest).length).toBe(1); // asked for while the config was on its way
    expect(await store.has(l.digest)).toBe(false);
  }
  expect(await readdir(path.join(store.root, 'tmp'))).toEqual([]);
});

it('fetches no layer of a single-platform image that is not the platform asked for', async () => {
  const img = await pushRandomImage('order/platform', [1 * MB], linuxAmd64);
  const store = await Store.open(path.join(tmp, 'store-platform'));
  const client = await RegistryClient.create({});
  try {
    const got = await code(pullImage(client, `${proxy.host}/order/platform:1`, { sink: store, platform: { os: 'linux', architecture: 'arm64' } }));
    expect(got).toBe('PLATFORM_NOT_FOUND');
  } finally {
    await client.close();
  }
  expect(blobGets(img.config.digest).length).toBe(1);
  expect(blobGets(img.layers[0]!.digest)).toEqual([]);
});

it('prepare() pings ahead; the first request then does not ping again; a failed ping is that request\'s error', async () => {
  const before = proxy.requests.length;
  const client = await RegistryClient.create({ retry: { retries: 0 } });
  try {
    client.prepare(proxy.host);
    await until('the ping arrived', () => proxy.requests.length > before);
    const res = await client.request({ registry: proxy.host, method: 'HEAD', path: '/v2/order/parallel/manifests/1', accept: [404], what: 'check' });
    await res.body.dump();
    expect(proxy.requests.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual(['GET /v2/', 'HEAD /v2/order/parallel/manifests/1']);
    // Nothing listens on port 1: no unhandled rejection from prepare (it would fail this test
    // file), and the request that needs the endpoint says why.
    client.prepare('127.0.0.1:1');
    await new Promise((r) => setTimeout(r, 200));
    const e = await client.request({ registry: '127.0.0.1:1', method: 'GET', path: '/v2/x/manifests/1', what: 'check' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(OcibuildError);
    expect((e as OcibuildError).code).toBe('REGISTRY_UNREACHABLE');
  } finally {
    await client.close();
  }
});

it('ocibuild pull completes when its ping is answered late', async () => {
  await pushRandomImage('order/cli', [1 * MB], linuxAmd64);
  proxy.setDecide(({ method, url }) => (method === 'GET' && url === '/v2/' ? { type: 'delay', ms: 1000 } : undefined));
  const before = proxy.requests.length;
  const res = await runCli(['pull', '-q', '--store', path.join(tmp, 'store-cli'), `${proxy.host}/order/cli:1`]);
  expect([res.code, res.stderr]).toEqual([0, '']);
  // One ping, then the manifest, the config and the layer: the late ping was waited for, not repeated.
  const seen = proxy.requests.slice(before).map((r) => `${r.method} ${r.url === '/v2/' ? 'ping' : r.url.split('/').slice(-2, -1)[0]}`);
  expect(seen).toEqual(['GET ping', 'GET manifests', 'GET blobs', 'GET blobs']);
});

it('ocibuild pull and push send the ping before their store is open', async () => {
  for (const cmd of ['pull', 'push'] as const) {
    // The store's oci-layout is a FIFO: opening the store waits on it until the test writes it,
    // which the test does only once the ping has arrived (the old order never sends it).
    const storeDir = path.join(tmp, `store-blocked-${cmd}`);
    await mkdir(storeDir);
    await execFileP('mkfifo', [path.join(storeDir, 'oci-layout')]);
    const before = proxy.requests.length;
    const running = runCli(cmd === 'pull' ? ['pull', '-q', '--store', storeDir, `${proxy.host}/order/cli:1`] : ['push', '--store', storeDir, 'order/cli:1', `${proxy.host}/order/cli:2`]);
    try {
      await until(`${cmd}'s ping arrived while its store was not open`, () => proxy.requests.slice(before).some((r) => r.method === 'GET' && r.url === '/v2/'));
    } finally {
      await writeFile(path.join(storeDir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    }
    const res = await running;
    if (cmd === 'pull') expect([res.code, res.stderr]).toEqual([0, '']);
    else expect(res.stderr).toContain('[IMAGE_NOT_FOUND]'); // an empty store: nothing to push
  }
});

it('a push or pull that fails before its first request does not wait on its unanswered ping', async () => {
  // As a user runs it (bin/ocibuild): the process must end, not only the command.
  await ensureDist();
  // A registry that takes the connection and never answers.
  const silent = net.createServer((c) => c.resume());
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  const notAStore = path.join(tmp, 'a-file');
  await writeFile(notAStore, 'x');
  try {
    for (const [argv, code] of [
      [['push', '--store', path.join(tmp, 'empty-store'), 'nosuch:1', `${host}/x:1`], 'IMAGE_NOT_FOUND'],
      [['pull', '-q', '--store', notAStore, `${host}/x:1`], 'STORE_IO'],
      [['pull', '-q', '--platform', 'linux/', '--store', path.join(tmp, 'never-made'), `${host}/x:1`], 'USAGE'],
    ] as const) {
      const t0 = Date.now();
      const res = await execFileP(process.execPath, [path.join(repoRoot, 'bin/ocibuild'), ...argv], { timeout: 30_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? '' }),
      );
      expect([argv[0], res.code, res.stderr.includes(`[${code}]`)]).toEqual([argv[0], code === 'USAGE' ? 2 : 1, true]);
      expect(res.stderr).not.toContain('waiting'); // no notice of the ping
      expect(Date.now() - t0).toBeLessThan(4000); // the ping's connect limit is 10 s, its notices start at 5 s
    }
    expect(existsSync(path.join(tmp, 'never-made'))).toBe(false); // a usage error makes no store
  } finally {
    silent.close();
  }
}, 60_000);
