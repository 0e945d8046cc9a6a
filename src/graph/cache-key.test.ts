import { createHash } from 'node:crypto';
import { baseChainKey, hashKey, nextChainKey, stepCacheKey } from './cache-key.js';
import { canonicalJson, canonicalStep } from './canonical.js';
import type { CopyStep, EnvStep } from './types.js';

const range = { start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 2, offset: 1 } };
const copy: CopyStep = {
  kind: 'copy', range, original: 'COPY a /', env: [], args: [], sources: ['a'], inline: [], dest: '/', from: { kind: 'context' },
  link: false, parents: false, exclude: [], keepGitDir: false, dependsOn: [],
};
const env: EnvStep = { kind: 'env', range, original: 'ENV A=1', env: [], args: [], pairs: [{ key: 'A', value: '1' }] };
const sha = (v: unknown) => createHash('sha256').update(canonicalJson(v as never)).digest('hex');

describe('cache keys', () => {
  it('are the first step cache keys, byte for byte (stores written before keep hitting)', () => {
    expect(baseChainKey('linux/amd64', { kind: 'scratch' })).toBe(sha({ v: 1, platform: 'linux/amd64', base: 'scratch' }));
    expect(baseChainKey('linux/amd64', { kind: 'image', manifest: 'sha256:ab' })).toBe(sha({ v: 1, platform: 'linux/amd64', base: 'sha256:ab' }));
    expect(baseChainKey('linux/amd64', { kind: 'stage', chain: 'c0' })).toBe(sha({ v: 1, platform: 'linux/amd64', base: 'c0' }));
    expect(nextChainKey('p', copy, 'sha256:d')).toBe(sha({ v: 1, parent: 'p', layer: 'sha256:d' }));
    expect(nextChainKey('p', env)).toBe(sha({ v: 1, parent: 'p', step: canonicalStep(env) }));
    expect(stepCacheKey('p', copy, { inputs: 'sha256:i', epoch: null })).toBe(sha({ v: 1, parent: 'p', step: canonicalStep(copy), inputs: 'sha256:i', epoch: null }));
    expect(stepCacheKey('p', copy, { source: 'c1', epoch: 5 })).toBe(sha({ v: 1, parent: 'p', step: canonicalStep(copy), source: 'c1', epoch: 5 }));
  });

  it('change with each part and ignore the line and the original text', () => {
    const k = stepCacheKey('p', copy, { inputs: 'i', epoch: null });
    expect(stepCacheKey('q', copy, { inputs: 'i', epoch: null })).not.toBe(k);
    expect(stepCacheKey('p', copy, { inputs: 'j', epoch: null })).not.toBe(k);
    expect(stepCacheKey('p', copy, { inputs: 'i', epoch: 1 })).not.toBe(k);
    expect(stepCacheKey('p', { ...copy, dest: '/x' }, { inputs: 'i', epoch: null })).not.toBe(k);
    const moved = { ...copy, original: 'copy  a /', range: { ...range, start: { line: 9, column: 1, offset: 90 } } };
    expect(stepCacheKey('p', moved, { inputs: 'i', epoch: null })).toBe(k);
    expect(nextChainKey('p', env)).not.toBe(nextChainKey('p', { ...env, pairs: [{ key: 'A', value: '2' }] }));
  });

  it('refuse reserved input names', () => {
    expect(() => stepCacheKey('p', copy, { parent: 'x' })).toThrow(/reserved/);
    expect(hashKey({})).toMatch(/^[0-9a-f]{64}$/);
  });
});
