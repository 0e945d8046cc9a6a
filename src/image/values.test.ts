import { OcibuildError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageConfig } from '../oci/types.js';
import { canonicalDescriptor, serializeJson } from './json.js';
import { createConfigBlob, createIndex, createManifest, parseConfig, parseIndex, parseManifest } from './manifest.js';
import { familiarImageName, normalizeImageName, parseImageName } from './names.js';
import { compatiblePlatforms, defaultPlatform, formatPlatform, normalizePlatform, parsePlatform, platformRank } from './platform.js';

const d = (c: string) => sha256(c);
const layer = (c: string, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: d(c), size: c.length, ...extra });
const config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [d('a')] } };

describe('serializeJson', () => {
  it('keeps key order, writes no whitespace, drops undefined', () => {
    expect(serializeJson({ b: 1, a: [1, 'x'], c: undefined, d: { z: null } }).toString()).toBe('{"b":1,"a":[1,"x"],"d":{"z":null}}');
  });
  it('refuses values JSON cannot hold faithfully', () => {
    expect(() => serializeJson({ a: NaN })).toThrow(OcibuildError);
    expect(() => serializeJson({ a: Infinity })).toThrow(/Infinity/);
    expect(() => serializeJson({ a: 1n })).toThrow(/bigint/);
    expect(() => serializeJson(undefined)).toThrow(OcibuildError);
  });
  it('canonicalDescriptor orders keys, sorts annotations and drops extras', () => {
    const x = { size: 3, annotations: { b: '2', a: '1' }, digest: d('x'), diffId: d('y'), mediaType: 'm' } as Descriptor;
    expect(JSON.stringify(canonicalDescriptor(x))).toBe(`{"mediaType":"m","digest":"${d('x')}","size":3,"annotations":{"a":"1","b":"2"}}`);
  });
});

describe('manifests', () => {
  it('createManifest: descriptor names exactly the bytes; round trip through parseManifest', () => {
    const cfg = createConfigBlob(config);
    expect(cfg.descriptor).toEqual({ mediaType: MediaType.ociConfig, digest: sha256(cfg.bytes), size: cfg.bytes.length });
    const m = createManifest(cfg.descriptor, [{ ...layer('a'), diffId: d('q') } as Descriptor], { 'org.opencontainers.image.title': 't' });
    expect(m.descriptor.digest).toBe(sha256(m.bytes));
    expect(m.descriptor.size).toBe(m.bytes.length);
    expect(m.bytes.toString()).toBe(
      `{"schemaVersion":2,"mediaType":"${MediaType.ociManifest}","config":${JSON.stringify(cfg.descriptor)},"layers":[{"mediaType":"${MediaType.ociLayerGzip}","digest":"${d('a')}","size":1}],"annotations":{"org.opencontainers.image.title":"t"}}`,
    );
    expect(parseManifest(m.bytes, MediaType.ociManifest)).toEqual(m.value);
    // Same inputs in another key order: same bytes.
    const again = createManifest({ size: cfg.descriptor.size, digest: cfg.descriptor.digest, mediaType: cfg.descriptor.mediaType }, [layer('a')], { 'org.opencontainers.image.title': 't' });
    expect(again.descriptor.digest).toBe(m.descriptor.digest);
  });

  it('createIndex requires distinct platforms', () => {
    const a = { ...layer('m1'), mediaType: MediaType.ociManifest, platform: { os: 'linux', architecture: 'amd64' } };
    const b = { ...layer('m2'), mediaType: MediaType.ociManifest, platform: { os: 'linux', architecture: 'arm64' } };
    const idx = createIndex([a, b]);
    expect(idx.descriptor.mediaType).toBe(MediaType.ociIndex);
    expect(parseIndex(idx.bytes).manifests).toHaveLength(2);
    expect(() => createIndex([a, { ...b, platform: a.platform }])).toThrow(/two index entries/);
    expect(() => createIndex([{ ...a, platform: undefined }])).toThrow(/no platform/);
  });

  it.each([
    ['not json', '{', /not valid JSON/],
    ['array', '[]', /not a JSON object/],
    ['schemaVersion', '{"schemaVersion":1,"config":{},"layers":[]}', /schemaVersion/],
    ['bad digest', `{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}`, /invalid digest/],
    ['negative size', `{"schemaVersion":2,"config":{"mediaType":"x","digest":"${d('c')}","size":-1},"layers":[]}`, /invalid size/],
    ['layers not array', `{"schemaVersion":2,"config":{"mediaType":"x","digest":"${d('c')}","size":1},"layers":{}}`, /layers must be an array/],
    ['index given', `{"schemaVersion":2,"manifests":[]}`, /is an index/],
  ])('parseManifest rejects %s', (_n, text, re) => {
    const err = (() => {
      try {
        parseManifest(Buffer.from(text));
      } catch (e) {
        return e as OcibuildError;
      }
      throw new Error('accepted');
    })();
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.message).toMatch(re);
  });

  it('parseManifest rejects a media type that disagrees with the descriptor', () => {
    const m = createManifest(createConfigBlob(config).descriptor, []);
    expect(() => parseManifest(m.bytes, MediaType.dockerManifest)).toThrow(/descriptor says/);
  });

  it('parseConfig requires os, architecture and rootfs', () => {
    expect(parseConfig(serializeJson(config)).rootfs.diff_ids).toEqual([d('a')]);
    expect(() => parseConfig(Buffer.from('{"os":"linux"}'))).toThrow(/os and architecture/);
    expect(() => parseConfig(Buffer.from('{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":["x"]}}'))).toThrow(/diff_id/);
  });
});

describe('platforms', () => {
  it.each([
    [{ os: 'linux', architecture: 'aarch64' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm64', variant: '8' }, 'linux/arm64'],
    [{ os: 'Linux', architecture: 'x86_64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v1' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v3' }, 'linux/amd64/v3'],
    [{ os: 'linux', architecture: 'i386' }, 'linux/386'],
    [{ os: 'linux', architecture: 'armhf' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'armel' }, 'linux/arm/v6'],
    [{ os: 'linux', architecture: 'arm' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'arm', variant: '6' }, 'linux/arm/v6'],
    [{ os: 'macos', architecture: 'arm64' }, 'darwin/arm64'],
    [{ os: 'linux', architecture: 's390x' }, 'linux/s390x'],
  ])('normalizes %j to %s', (p, want) => {
    expect(formatPlatform(normalizePlatform(p))).toBe(want);
  });

  it('parses specifiers, filling parts from the defaults', () => {
    const host = { os: 'linux', architecture: 'amd64' };
    expect(parsePlatform('linux/arm64/v8', host)).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/arm/v6', host)).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
    expect(parsePlatform('arm64', host)).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('windows', host)).toEqual({ os: 'windows', architecture: 'amd64' });
    for (const bad of ['', 'linux/', 'a/b/c/d', 'linux/am d64']) {
      expect(() => parsePlatform(bad, host)).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
  });

  it('defaultPlatform maps Node architectures', () => {
    expect(defaultPlatform('x64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(defaultPlatform('arm64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(defaultPlatform('arm')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(defaultPlatform('ia32')).toEqual({ os: 'linux', architecture: '386' });
  });

  it('orders compatible platforms best first', () => {
    expect(compatiblePlatforms({ os: 'linux', architecture: 'amd64', variant: 'v3' }).map(formatPlatform)).toEqual([
      'linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386',
    ]);
    expect(compatiblePlatforms({ os: 'linux', architecture: 'arm64' }).map(formatPlatform)).toEqual([
      'linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5',
    ]);
    expect(platformRank({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(-1);
    expect(platformRank({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(0);
  });
});

describe('image names', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['index.docker.io/library/x', 'docker.io/library/x:latest', 'x:latest'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/a/b:t', 'localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
    ['ghcr.io/o/r@sha256:' + 'a'.repeat(64), 'ghcr.io/o/r@sha256:' + 'a'.repeat(64), 'ghcr.io/o/r@sha256:' + 'a'.repeat(64)],
    ['127.0.0.1:5000/x:y', '127.0.0.1:5000/x:y', '127.0.0.1:5000/x:y'],
  ])('%s → %s', (name, full, familiar) => {
    expect(normalizeImageName(name)).toBe(full);
    expect(familiarImageName(parseImageName(name))).toBe(familiar);
  });
  it.each(['', 'UPPER', 'a:b:c', 'app:', 'a//b', '-x', 'x@sha256:short'])('rejects %j', (name) => {
    expect(() => parseImageName(name)).toThrow(expect.objectContaining({ code: 'REFERENCE_INVALID' }));
  });
});
