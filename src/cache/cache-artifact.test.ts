import { sha256 } from '../oci/digest.js';
import { CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE, makeCacheArtifact, readCacheArtifact, type CacheEntry } from './cache-artifact.js';
import { parseCacheExport, parseCacheImport } from './cache-spec.js';
import type { ImageManifest } from '../oci/types.js';

const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
const layer = (n: number) => ({ mediaType: GZ, digest: sha256(`layer-${n}`), size: 100 + n, diffId: sha256(`diff-${n}`) });
const key = (n: number) => sha256(`key-${n}`).slice(7);
const entries: CacheEntry[] = [
  { key: key(2), record: { layer: layer(2), configChange: null, created: '2026-01-01T00:00:00Z' } },
  { key: key(1), record: { layer: layer(1), configChange: null, created: '2026-01-01T00:00:00Z' } },
  { key: key(3), record: { configChange: null, created: '2026-01-01T00:00:00Z' } },
  // The same layer from two steps is listed once.
  { key: key(4), record: { layer: layer(1), configChange: null, created: '2026-01-01T00:00:00Z' } },
];

describe('cache artifact (issue 12)', () => {
  it('is an OCI manifest with our artifactType and config media type, the step layers, reproducible', () => {
    const a = makeCacheArtifact(entries);
    const m = JSON.parse(a.manifest.bytes.toString()) as ImageManifest;
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(m.artifactType).toBe(CACHE_ARTIFACT_TYPE);
    expect(m.config).toEqual(a.config.descriptor);
    expect(m.config.mediaType).toBe(CACHE_CONFIG_MEDIA_TYPE);
    expect(m.layers.map((l) => l.digest).sort()).toEqual([layer(1).digest, layer(2).digest].sort());
    expect(a.manifest.descriptor.digest).toBe(sha256(a.manifest.bytes));
    expect(makeCacheArtifact([...entries].reverse()).manifest.descriptor.digest).toBe(a.manifest.descriptor.digest);
  });

  it('round trips: every record read back', () => {
    const a = makeCacheArtifact(entries);
    const m = JSON.parse(a.manifest.bytes.toString()) as ImageManifest;
    const r = readCacheArtifact(m, a.config.bytes, 'cache x');
    expect(r.warnings).toEqual([]);
    expect(r.records.size).toBe(4);
    expect(r.records.get(key(1))?.layer).toEqual(layer(1));
    expect(r.records.get(key(3))?.layer).toBeUndefined();
  });

  it('skips, with a warning, records that lie about their layer (size, digest, media type)', () => {
    const a = makeCacheArtifact(entries);
    const m = JSON.parse(a.manifest.bytes.toString()) as ImageManifest;
    const doc = JSON.parse(a.config.bytes.toString());
    const byKey = (k: string) => doc.steps.find((s: { key: string }) => s.key === k);
    byKey(key(1)).layer.size += 1;
    byKey(key(2)).layer.digest = sha256('not listed');
    byKey(key(4)).layer.mediaType = 'application/vnd.oci.image.layer.v1.tar';
    doc.steps.push({ key: 'not-a-key', configChange: null, created: 'x' });
    const r = readCacheArtifact(m, Buffer.from(JSON.stringify(doc)), 'cache x');
    expect([...r.records.keys()]).toEqual([key(3)]);
    expect(r.warnings).toHaveLength(4);
    expect(r.warnings.join('\n')).toMatch(/says layer .* has 102 bytes .* the manifest 101/);
    expect(r.warnings.join('\n')).toMatch(/which the cache manifest does not list/);
  });

  it('refuses what is not a cache', () => {
    const m: ImageManifest = { schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('c'), size: 1 }, layers: [] };
    expect(() => readCacheArtifact(m, Buffer.from('{}'), 'x')).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID' }));
  });
});

describe('--cache-from / --cache-to values', () => {
  it('parses buildx syntax, a bare ref meaning type=registry', () => {
    expect(parseCacheImport('reg:5000/app:cache')).toEqual({ type: 'registry', ref: 'reg:5000/app:cache' });
    expect(parseCacheImport('type=registry,ref=reg/app:c')).toEqual({ type: 'registry', ref: 'reg/app:c' });
    expect(parseCacheImport('type=local,src=dir')).toEqual({ type: 'local', src: 'dir' });
    expect(parseCacheExport('type=registry,ref=reg/app:c,mode=max,ignore-error=false')).toEqual({ type: 'registry', ref: 'reg/app:c', mode: 'max', ignoreError: false, compression: 'gzip' });
    expect(parseCacheExport('type=local,dest=d')).toEqual({ type: 'local', dest: 'd', mode: 'min', ignoreError: true, compression: 'gzip' });
    expect(parseCacheExport('type=inline')).toEqual({ type: 'inline', mode: 'min', ignoreError: true, compression: 'gzip' });
    expect(parseCacheExport('type=local,dest=d,compression=zstd,compression-level=9')).toEqual({ type: 'local', dest: 'd', mode: 'min', ignoreError: true, compression: 'zstd', compressionLevel: 9 });
  });

  it('refuses what it does not honour, naming it', () => {
    expect(() => parseCacheExport('type=registry,ref=r/a,compression=estargz')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringContaining('compression=estargz') }));
    expect(() => parseCacheExport('type=registry,ref=r/a,compression=zstd,compression-level=42')).toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('compression-level') }));
    expect(() => parseCacheExport('type=registry,ref=r/a,compression=uncompressed,compression-level=1')).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => parseCacheExport('type=registry,ref=r/a,mode=all')).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => parseCacheExport('type=registry,ref=r/a,oci-mediatypes=true')).toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('oci-mediatypes') }));
    expect(() => parseCacheExport('type=inline,mode=max')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    expect(() => parseCacheExport('type=gha')).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => parseCacheImport('type=registry')).toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('ref=') }));
    expect(() => parseCacheImport('type=inline')).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});
