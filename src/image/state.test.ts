import type { Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { appendStep, emptyImage, finishImage, imageConfig, imageFromConfig, type Layer } from './state.js';

const d = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const layer = (c: string, mediaType: string = MediaType.ociLayerGzip): Layer => ({ mediaType, digest: d(c), size: 3, diffId: d(c === 'a' ? 'b' : 'c') });
const amd64 = { os: 'linux', architecture: 'amd64' };

describe('image state', () => {
  it('appends a step: layer, config, history (empty_layer without a layer), without changing the input', () => {
    const s0 = emptyImage(amd64, { WorkingDir: '/' });
    const s1 = appendStep(s0, { layer: layer('a'), config: { WorkingDir: '/' }, history: { created_by: 'COPY a /' } });
    const s2 = appendStep(s1, { config: { WorkingDir: '/', Env: ['A=1'] }, history: { created_by: 'ENV A=1' } });
    const s3 = appendStep(s2, { config: s2.config, author: 'me' });
    expect(s0.layers).toEqual([]);
    expect(s2.layers).toEqual([layer('a')]);
    expect(s2.history).toEqual([{ created_by: 'COPY a /' }, { created_by: 'ENV A=1', empty_layer: true }]);
    expect(s3.history).toBe(s2.history);
    expect(s3.author).toBe('me');
    expect(imageConfig(s3, '2020-01-01T00:00:00Z')).toEqual({
      created: '2020-01-01T00:00:00Z',
      author: 'me',
      architecture: 'amd64',
      os: 'linux',
      config: { WorkingDir: '/', Env: ['A=1'] },
      rootfs: { type: 'layers', diff_ids: [d('b')] },
      history: s2.history,
    });
  });

  it('starts from a base config with the platform it is built for', () => {
    const s = imageFromConfig({ architecture: 'arm64', os: 'linux', author: 'x', config: { User: 'u' }, rootfs: { type: 'layers', diff_ids: [d('b')] }, history: [{ created_by: 'base' }] }, [layer('a')], amd64);
    expect(s).toEqual({ platform: amd64, config: { User: 'u' }, author: 'x', layers: [layer('a')], history: [{ created_by: 'base' }] });
  });

  it('finishes config and manifest: sorted maps, extra labels after, Docker layer types in OCI terms', () => {
    let s = emptyImage({ ...amd64, variant: 'v2' }, { Labels: { b: '1', a: '2' } });
    s = appendStep(s, { layer: layer('a', MediaType.dockerLayerGzip), config: s.config });
    const f = finishImage(s, { created: '1970-01-01T00:00:00Z', labels: { z: '1', c: '2' }, annotations: { k: 'v' } });
    expect(Object.keys(f.config.value.config!.Labels!)).toEqual(['a', 'b', 'z', 'c']);
    expect(f.manifest.value.layers[0]!.mediaType).toBe(MediaType.ociLayerGzip);
    expect(f.manifest.value.layers[0]).not.toHaveProperty('diffId');
    expect(f.manifest.value.config).toEqual(f.config.descriptor);
    expect(f.manifest.value.annotations).toEqual({ k: 'v' });
    expect(f.manifest.descriptor.platform).toEqual({ architecture: 'amd64', os: 'linux', variant: 'v2' });
    expect(f.config.bytes.toString()).toContain('"variant":"v2"');
  });
});
