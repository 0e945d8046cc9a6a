/**
 * Round trips with real clients against the real distribution registry:
 * skopeo pushes (OCI, Docker schema2, single and multi-platform), we pull;
 * we push, skopeo inspects and copies back; digests must be equal.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os, { networkInterfaces } from 'node:os';
import path from 'node:path';
import { Store } from '../../src/cache/store.js';
import { OcibuildError } from '../../src/errors.js';
import type { Digest } from '../../src/oci/digest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pullImage } from '../../src/registry/pull.js';
import { normalizeReference } from '../../src/oci/reference.js';
import { pushImage } from '../../src/push/push.js';
import { OciLayoutSource } from '../../src/push/oci-layout.js';
import { pull } from '../../src/registry/index.js';
import { push } from '../../src/push/index.js';
import { makeBusyboxImage, makeMultiPlatformImage, pushBaseImage } from './base-image.js';
import { run, skopeoRawManifest, startRegistry, type TestRegistry } from './harness.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let registry: TestRegistry;
let tmp: string;
let busyboxDir: string;
let multiDir: string;
let client: RegistryClient;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-rt-'));
  registry = await startRegistry({ auth: 'none' });
  busyboxDir = path.join(tmp, 'busybox');
  multiDir = path.join(tmp, 'multi');
  await makeBusyboxImage(busyboxDir);
  await makeMultiPlatformImage(multiDir, [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ]);
  client = await RegistryClient.create();
});

afterAll(async () => {
  await client?.close();
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

async function freshStore(): Promise<Store> {
  return Store.open(await mkdtemp(path.join(tmp, 'store-')));
}

describe('we pull what skopeo pushed', () => {
  test.each([['oci'], ['v2s2']] as const)('single platform, %s', async (format) => {
    await pushBaseImage(registry, busyboxDir, `pull/${format}:1`, { format });
    const raw = await skopeoRawManifest(registry, `pull/${format}:1`);
    const store = await freshStore();
    const res = await pullImage(client, `${registry.host}/pull/${format}:1`, { sink: store, platform: { os: 'linux', architecture: 'amd64' } });
    expect(res.descriptor.digest).toBe(sha(raw));
    expect(res.reference.digest).toBe(sha(raw));
    expect(res.descriptor.mediaType).toBe(format === 'oci' ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json');
    expect(res.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    // Everything is in the store and verifies.
    for (const d of [res.descriptor, res.manifest.config, ...res.manifest.layers]) {
      expect(await store.has(d.digest)).toBe(true);
      expect(sha(await store.readBlob(d.digest))).toBe(d.digest);
    }
    // A second pull downloads nothing.
    const events: string[] = [];
    await pullImage(client, `${registry.host}/pull/${format}:1`, { sink: store, onProgress: (e) => events.push(`${e.kind}:${e.phase}`) });
    expect(events.filter((e) => e === 'layer:exists')).toHaveLength(1);
    expect(events.filter((e) => e === 'layer:done')).toHaveLength(0);
  });

  test.each([['oci'], ['v2s2']] as const)('multi-platform index, %s', async (format) => {
    await pushBaseImage(registry, multiDir, `pull/multi-${format}:1`, { format, all: true });
    const raw = await skopeoRawManifest(registry, `pull/multi-${format}:1`);
    const index = JSON.parse(raw.toString()) as { manifests: Array<{ digest: string; platform: { architecture: string } }> };
    const store = await freshStore();
    const arm = await pullImage(client, `${registry.host}/pull/multi-${format}:1`, { sink: store, platform: { os: 'linux', architecture: 'aarch64' } });
    expect(arm.descriptor.digest).toBe(sha(raw));
    expect(arm.index).toBeDefined();
    expect(arm.manifestDescriptor.digest).toBe(index.manifests.find((m) => m.platform.architecture === 'arm64')!.digest);
    expect(arm.platform).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(await store.has(arm.descriptor.digest)).toBe(true);
    expect(await store.has(arm.manifestDescriptor.digest)).toBe(true);
    // By digest, too.
    const byDigest = await pullImage(client, `${registry.host}/pull/multi-${format}@${arm.manifestDescriptor.digest}`, { sink: store });
    expect(byDigest.manifestDescriptor.digest).toBe(arm.manifestDescriptor.digest);

    let err: unknown;
    try {
      await pullImage(client, `${registry.host}/pull/multi-${format}:1`, { sink: store, platform: { os: 'linux', architecture: 's390x' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OcibuildError);
    expect((err as OcibuildError).code).toBe('PLATFORM_NOT_FOUND');
    expect((err as OcibuildError).message).toContain('linux/s390x');
    expect((err as OcibuildError).message).toContain('offers: linux/amd64, linux/arm64');
  });

  test('tag and digest together: the digest wins', async () => {
    await pushBaseImage(registry, busyboxDir, 'pull/both:1');
    const raw = await skopeoRawManifest(registry, 'pull/both:1');
    const res = await pullImage(client, `${registry.host}/pull/both:nonexistent@${sha(raw)}`, { sink: await freshStore() });
    expect(res.descriptor.digest).toBe(sha(raw));
  });

  test('missing tag is REGISTRY_NOT_FOUND with the Distribution code', async () => {
    let err: unknown;
    try {
      await pullImage(client, `${registry.host}/pull/oci:missing`, { sink: await freshStore() });
    } catch (e) {
      err = e;
    }
    expect((err as OcibuildError).code).toBe('REGISTRY_NOT_FOUND');
    expect((err as OcibuildError).details?.errors).toEqual([expect.objectContaining({ code: 'MANIFEST_UNKNOWN' })]);
    expect((err as OcibuildError).details?.status).toBe(404);
  });

  test('mirrors rewrite pulls: content comes from the mirror', async () => {
    const mirror = await startRegistry({ auth: 'none' });
    try {
      await pushBaseImage(mirror, busyboxDir, 'pull/only-on-mirror:1');
      const raw = await skopeoRawManifest(mirror, 'pull/only-on-mirror:1');
      const res = await pull(`${registry.host}/pull/only-on-mirror:1`, { sink: await freshStore(), mirrors: { [registry.host]: [mirror.host] } });
      expect(res.source).toBe(mirror.host);
      expect(res.descriptor.digest).toBe(sha(raw));
      expect(res.reference.domain).toBe(registry.host);
    } finally {
      await mirror.stop();
    }
  });

  test('pull() with mirrors falls back to the origin when the mirror is down', async () => {
    await pushBaseImage(registry, busyboxDir, 'pull/mirrored:1');
    const lines: string[] = [];
    const res = await pull(`${registry.host}/pull/mirrored:1`, {
      sink: await freshStore(),
      mirrors: { [registry.host]: '127.0.0.1:1' },
      retry: { retries: 0 },
      debug: (l) => lines.push(l),
    });
    expect(res.source).toBe(registry.host);
    expect(lines.some((l) => l.includes('mirror 127.0.0.1:1 failed'))).toBe(true);
  });
});

describe('skopeo reads back what we push', () => {
  test('single image: skopeo inspect and copy give equal digests; several tags', async () => {
    const src = new OciLayoutSource(busyboxDir);
    const descriptor = await src.resolve('latest');
    const ref = normalizeReference(`${registry.host}/push/single`);
    const res = await pushImage(client, src, { reference: ref, descriptor, tags: ['a', 'b'] });
    expect(res.digest).toBe(descriptor.digest);
    expect(res.uploaded).toBe(2);
    for (const t of ['a', 'b']) expect(sha(await skopeoRawManifest(registry, `push/single:${t}`))).toBe(descriptor.digest);
    const out = path.join(tmp, 'copied');
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/push/single:a`, `oci:${out}:x`]);
    const idx = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(idx.manifests[0]!.digest).toBe(descriptor.digest);
    // Pushing again skips every blob.
    const again = await pushImage(client, src, { reference: ref, descriptor, tags: ['c'] });
    expect(again.existing).toBe(2);
    expect(again.uploaded).toBe(0);
  });

  test('multi-platform index: children first, then the index; skopeo copy --all', async () => {
    const src = new OciLayoutSource(multiDir);
    const descriptor = await src.resolve('latest');
    const res = await push({ source: src, descriptor }, `${registry.host}/push/multi:1`);
    expect(res.digest).toBe(descriptor.digest);
    expect(sha(await skopeoRawManifest(registry, 'push/multi:1'))).toBe(descriptor.digest);
    const out = path.join(tmp, 'copied-multi');
    await run('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${registry.host}/push/multi:1`, `oci:${out}:x`]);
    const idx = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(idx.manifests[0]!.digest).toBe(descriptor.digest);
  });

  test('chunked upload with a tiny chunk size, from a generic (non-range) source', async () => {
    const layout = new OciLayoutSource(busyboxDir);
    let bytesRead = 0;
    let opens = 0;
    const generic = {
      open: async (d: Digest, s?: number) => {
        opens++;
        const stream = await layout.open(d, s);
        stream.on('data', (c: Buffer) => (bytesRead += c.length));
        return stream;
      },
      has: (d: Digest) => layout.has(d),
    };
    const descriptor = await layout.resolve();
    const manifest = JSON.parse((await readFile(path.join(busyboxDir, 'blobs', 'sha256', descriptor.digest.slice(7)))).toString()) as {
      config: { size: number };
      layers: Array<{ size: number }>;
    };
    const blobBytes = manifest.config.size + manifest.layers[0]!.size;
    const res = await pushImage(client, generic, {
      reference: normalizeReference(`${registry.host}/push/chunked`),
      descriptor,
      tags: ['1'],
      monolithicThreshold: 0,
      chunkSize: 300 * 1024,
    });
    expect(res.uploaded).toBe(2);
    // Without range reads, each blob is still read once (plus the manifest), not once per chunk.
    expect(manifest.layers[0]!.size).toBeGreaterThan(3 * 300 * 1024);
    expect(bytesRead).toBeLessThanOrEqual(blobBytes + descriptor.size);
    expect(opens).toBe(3);
    const out = path.join(tmp, 'copied-chunked');
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/push/chunked:1`, `oci:${out}:x`]);
    const store = await freshStore();
    const back = await pullImage(client, `${registry.host}/push/chunked:1`, { sink: store });
    expect(back.descriptor.digest).toBe(descriptor.digest);
  });

  test('cross-repository mount from provenance', async () => {
    const src = new OciLayoutSource(busyboxDir);
    const descriptor = await src.resolve();
    await pushImage(client, src, { reference: normalizeReference(`${registry.host}/mount/origin`), descriptor, tags: ['1'] });
    const res = await pushImage(client, src, {
      reference: normalizeReference(`${registry.host}/mount/target`),
      descriptor,
      tags: ['1'],
      mountFrom: ['mount/origin'],
    });
    expect(res.mounted).toBe(2);
    expect(res.uploaded).toBe(0);
    expect(sha(await skopeoRawManifest(registry, 'mount/target:1'))).toBe(descriptor.digest);
    // A repository that does not hold the blobs: the registry opens an upload session instead.
    const fallback = await pushImage(client, src, {
      reference: normalizeReference(`${registry.host}/mount/target2`),
      descriptor,
      tags: ['1'],
      mountFrom: [`${registry.host}/mount/nothing-here`, 'other.example/mount/origin'],
    });
    expect(fallback.mounted).toBe(0);
    expect(fallback.uploaded).toBe(2);
    expect(sha(await skopeoRawManifest(registry, 'mount/target2:1'))).toBe(descriptor.digest);
  });

  test('origins answered later: asked only for a missing blob, awaited before its upload', async () => {
    const src = new OciLayoutSource(busyboxDir);
    const descriptor = await src.resolve();
    await pushImage(client, src, { reference: normalizeReference(`${registry.host}/late/origin`), descriptor, tags: ['1'] });
    // Every blob is there: the push ends without an answer about origins (it never asks).
    const asked: string[] = [];
    const never = await pushImage(client, src, {
      reference: normalizeReference(`${registry.host}/late/origin`),
      descriptor,
      tags: ['2'],
      origins: (d) => {
        asked.push(d);
        return new Promise(() => undefined);
      },
    });
    expect([never.existing, asked]).toEqual([2, []]);
    // Missing blobs wait for the answer, which names where to mount them from.
    let answer!: (repos: string[]) => void;
    const later = new Promise<string[]>((resolve) => (answer = resolve));
    const pushing = pushImage(client, src, { reference: normalizeReference(`${registry.host}/late/target`), descriptor, tags: ['1'], origins: () => later });
    await new Promise((r) => setTimeout(r, 200));
    answer([`${registry.host}/late/origin`]);
    const res = await pushing;
    expect([res.mounted, res.uploaded]).toEqual([2, 0]);
  });

  test('push() of an OCI layout dir:ref', async () => {
    const res = await push(`${busyboxDir}:latest`, `${registry.host}/push/fromdir:v1`);
    expect(sha(await skopeoRawManifest(registry, 'push/fromdir:v1'))).toBe(res.digest);
  });
});

describe('plain HTTP outside loopback', () => {
  // A non-loopback IPv4 address of this machine; without one the case cannot be set up.
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!address) {
    if (process.env.CI) throw new Error('plain HTTP outside loopback: this machine has no non-loopback IPv4 address to bind a registry to');
    console.warn('SKIPPED (loudly): plain HTTP outside loopback needs a non-loopback IPv4 address, and this machine has none');
  }
  const maybe = address ? test : test.skip;
  maybe('needs insecureRegistries; the error says so', async () => {
    const plain = await startRegistry({ auth: 'none', bindAddress: address });
    try {
      await pushBaseImage(plain, busyboxDir, 'insecure/img:1');
      let err: OcibuildError | undefined;
      try {
        await pull(`${plain.host}/insecure/img:1`, { sink: await freshStore(), retry: { retries: 0 } });
      } catch (e) {
        err = e as OcibuildError;
      }
      expect(err?.code).toBe('REGISTRY_UNREACHABLE');
      expect(err?.hint).toContain(`--insecure-registry ${plain.host}`);
      const res = await pull(`${plain.host}/insecure/img:1`, { sink: await freshStore(), insecureRegistries: [plain.host] });
      expect(res.descriptor.digest).toBe(sha(await skopeoRawManifest(plain, 'insecure/img:1')));
    } finally {
      await plain.stop();
    }
  });
});
