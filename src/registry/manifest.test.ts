import { OcibuildError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import { isLoopbackHost, apiHost } from './client.js';
import { parseManifestBytes } from './manifest.js';

const D = `sha256:${'a'.repeat(64)}`;
const parse = (doc: unknown, ct?: string) => {
  const bytes = Buffer.from(JSON.stringify(doc));
  return parseManifestBytes(bytes, ct, sha256(bytes), 'test');
};
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as OcibuildError).code;
  }
  return undefined;
};

describe('parseManifestBytes', () => {
  const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D, size: 1 };
  test('media type from the document, the header, or the shape', () => {
    expect(parse({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: desc, layers: [] }).mediaType).toBe(
      'application/vnd.docker.distribution.manifest.v2+json',
    );
    expect(parse({ schemaVersion: 2, manifests: [] }, 'application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8').kind).toBe('index');
    expect(parse({ schemaVersion: 2, manifests: [] }).mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(parse({ schemaVersion: 2, config: desc, layers: [desc] }).mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  });
  test('schema 1, bad JSON, bad descriptors are MANIFEST_INVALID', () => {
    expect(code(() => parse({ schemaVersion: 1, fsLayers: [] }))).toBe('MANIFEST_INVALID');
    expect(code(() => parseManifestBytes(Buffer.from('{nope'), undefined, D as never, 't'))).toBe('MANIFEST_INVALID');
    expect(code(() => parse({ schemaVersion: 2, config: { ...desc, digest: 'sha256:xyz' }, layers: [] }))).toBe('MANIFEST_INVALID');
    expect(code(() => parse({ schemaVersion: 2, config: desc, layers: [{ ...desc, size: -1 }] }))).toBe('MANIFEST_INVALID');
    expect(code(() => parse({ schemaVersion: 2, mediaType: 'application/x-unknown', config: desc, layers: [] }))).toBe('MANIFEST_INVALID');
    expect(code(() => parse([1, 2]))).toBe('MANIFEST_INVALID');
  });
});

describe('hosts', () => {
  test('loopback detection', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000', '::1', 'registry.localhost:5000']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['docker.io', '10.0.0.1:5000', '[fe80::1]:5000', '128.0.0.1', 'localhost.example.com']) expect(isLoopbackHost(h)).toBe(false);
  });
  test('Docker Hub API host', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('ghcr.io')).toBe('ghcr.io');
  });
});
