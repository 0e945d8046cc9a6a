import { Readable } from 'node:stream';
import { OcibuildError } from '../errors.js';
import { sha256, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { normalizeReference } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import { blobOrigins, type TaggedBlobSource } from './origins.js';

/** An in-memory store: blobs by digest, tags, and which blobs were opened. */
class Memory implements TaggedBlobSource {
  readonly blobs = new Map<string, Buffer>();
  readonly tags: Array<{ name: string; descriptor: Descriptor }> = [];
  readonly opened: string[] = [];
  put(bytes: Buffer | string, mediaType: string): Descriptor {
    const b = Buffer.from(bytes);
    const digest = sha256(b);
    this.blobs.set(digest, b);
    return { mediaType, digest, size: b.length };
  }
  async open(digest: Digest): Promise<Readable> {
    this.opened.push(digest);
    const b = this.blobs.get(digest);
    if (!b) throw new OcibuildError('BLOB_NOT_FOUND', `no blob ${digest}`);
    return Readable.from([b]);
  }
  async has(digest: Digest): Promise<boolean> {
    return this.blobs.has(digest);
  }
  async listTags() {
    return this.tags;
  }
}

/** A manifest (stored) naming a config and layers made from `seed` (only their digests matter here). */
function image(m: Memory, seed: string, store = true): { manifest: Descriptor; config: Digest; layers: Digest[] } {
  const config = { mediaType: MediaType.ociConfig, digest: sha256(Buffer.from(`${seed}-config`)), size: 10 };
  const layers = [1, 2].map((i) => ({ mediaType: MediaType.ociLayerGzip, digest: sha256(Buffer.from(`${seed}-layer${i}`)), size: 10 }));
  const bytes = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers });
  const manifest = store ? m.put(bytes, MediaType.ociManifest) : { mediaType: MediaType.ociManifest, digest: sha256(Buffer.from(bytes)), size: bytes.length };
  return { manifest, config: config.digest, layers: layers.map((l) => l.digest) };
}

const target = normalizeReference('reg.example:5000/team/app:2');

test('only images tagged in the target registry, under another repository, are read', async () => {
  const m = new Memory();
  const same = image(m, 'same');
  const otherRegistry = image(m, 'docker-hub');
  const targetRepo = image(m, 'target-repo');
  m.tags.push(
    { name: 'reg.example:5000/base/busybox:1', descriptor: same.manifest },
    { name: 'busybox:latest', descriptor: otherRegistry.manifest },
    { name: 'reg.example:5000/team/app:1', descriptor: targetRepo.manifest },
    { name: 'Not A Reference!', descriptor: otherRegistry.manifest },
  );
  const origins = blobOrigins(m, target);
  expect(await origins(same.layers[1]!)).toEqual(['reg.example:5000/base/busybox']);
  expect(await origins(same.config)).toEqual(['reg.example:5000/base/busybox']);
  // Another registry's image, and the target repository's own, are never opened.
  expect(await origins(otherRegistry.layers[0]!)).toBeUndefined();
  expect(await origins(targetRepo.layers[0]!)).toBeUndefined();
  expect(m.opened).toEqual([same.manifest.digest]);
});

test('every platform of a tagged index the store has counts; a missing one is skipped, not fatal', async () => {
  const m = new Memory();
  const amd = image(m, 'amd64');
  const arm = image(m, 'arm64', false); // one platform pulled: its manifest is not in the store
  const index = m.put(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [arm.manifest, amd.manifest] }), MediaType.ociIndex);
  const single = image(m, 'amd64'); // the same blobs under a second repository
  m.tags.push({ name: 'reg.example:5000/multi/app:1', descriptor: index }, { name: 'reg.example:5000/copy/app:1', descriptor: single.manifest });
  const origins = blobOrigins(m, target);
  expect(await origins(amd.layers[0]!)).toEqual(['reg.example:5000/multi/app', 'reg.example:5000/copy/app']);
  expect(await origins(arm.layers[0]!)).toBeUndefined();
});

test('the reading starts at once and is shared; a store that fails to list gives no origins', async () => {
  const m = new Memory();
  const same = image(m, 'same');
  m.tags.push({ name: 'reg.example:5000/base/busybox:1', descriptor: same.manifest });
  const origins = blobOrigins(m, target);
  await new Promise((r) => setImmediate(r));
  expect(m.opened).toEqual([same.manifest.digest]); // read before anyone asked
  await Promise.all([origins(same.config), origins(same.layers[0]!)]);
  expect(m.opened).toHaveLength(1);
  const failing = Object.assign(new Memory(), { listTags: () => Promise.reject(new Error('store gone')) });
  expect(await blobOrigins(failing, target)(same.config)).toBeUndefined();
});

test('a corrupt manifest is skipped (its digest is checked)', async () => {
  const m = new Memory();
  const same = image(m, 'same');
  m.blobs.set(same.manifest.digest, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: sha256(Buffer.from('x')), size: 1 }, layers: [] })));
  m.tags.push({ name: 'reg.example:5000/base/busybox:1', descriptor: same.manifest });
  expect(await blobOrigins(m, target)(sha256(Buffer.from('x')))).toBeUndefined();
});
