import { describe, expect, it } from '@jest/globals';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildContextsFromFlags, contextName, loadBuildContexts, namedContextLookup, parseBuildContexts } from './build-contexts.js';
import { OcibuildError } from './errors.js';

const D = 'sha256:' + 'a'.repeat(64);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof OcibuildError ? e.code : 'not an OcibuildError';
  }
  return undefined;
}

describe('--build-context values', () => {
  it('names compare as BuildKit spells them: familiar, without :latest', () => {
    expect(contextName('alpine')).toBe('alpine');
    expect(contextName('alpine:latest')).toBe('alpine');
    expect(contextName('docker.io/library/alpine:3')).toBe('alpine:3');
    expect(contextName('ghcr.io/o/app')).toBe('ghcr.io/o/app');
  });

  it('parses every form', () => {
    const m = parseBuildContexts(
      { a: 'dir/x', b: 'docker-image://alpine:3', c: 'docker-image://scratch', d: `oci-layout://lay:v1@${D}`, e: 'oci-layout:///abs', f: 'target:Build' },
      '/work',
    );
    expect(m.get('a')!.source).toEqual({ kind: 'dir', dir: '/work/dir/x' });
    expect(m.get('b')!.source).toEqual({ kind: 'image', ref: 'alpine:3' });
    expect(m.get('c')!.source).toEqual({ kind: 'scratch' });
    expect(m.get('d')!.source).toEqual({ kind: 'oci-layout', dir: '/work/lay', tag: 'v1', digest: D });
    expect(m.get('e')!.source).toEqual({ kind: 'oci-layout', dir: '/abs', tag: 'latest' });
    expect(m.get('f')!.source).toEqual({ kind: 'target', stage: 'build' });
  });

  it('refuses what it cannot honour, naming the flag value', () => {
    expect(() => parseBuildContexts({ x: 's3://bucket/key' }, '/')).toThrow('--build-context x=s3://bucket/key: unknown scheme "s3://"');
    expect(code(() => parseBuildContexts({ x: 's3://bucket/key' }, '/'))).toBe('USAGE');
    expect(code(() => parseBuildContexts({ x: 'https://github.com/o/r.git' }, '/'))).toBe('UNSUPPORTED');
    expect(code(() => parseBuildContexts({ x: 'git@github.com:o/r.git' }, '/'))).toBe('UNSUPPORTED');
    expect(() => parseBuildContexts({ Bad: 'dir' }, '/')).toThrow(/--build-context Bad=dir: invalid context name "Bad"/);
    expect(() => parseBuildContexts({ scratch: 'dir' }, '/')).toThrow(/reserved/);
    expect(() => parseBuildContexts({ alpine: 'a', 'alpine:latest': 'b' }, '/')).toThrow(/given twice/);
    expect(() => parseBuildContexts({ x: 'docker-image://UPPER' }, '/')).toThrow(/--build-context x=docker-image:\/\/UPPER: invalid reference/);
    expect(() => parseBuildContexts({ x: '' }, '/')).toThrow(/empty value/);
    expect(() => parseBuildContexts({ x: 'target:' }, '/')).toThrow(/no stage name/);
    expect(() => buildContextsFromFlags(['noequals'], '/')).toThrow(/expected NAME=VALUE/);
    expect(() => buildContextsFromFlags(['a=x', 'a=y'], '/')).toThrow(/given twice/);
  });

  it('flags make relative paths absolute against the working directory', () => {
    expect(buildContextsFromFlags(['a=sub', `b=oci-layout://lay:v2@${D}`, 'c=docker-image://busybox'], '/w')).toEqual({
      a: '/w/sub',
      b: `oci-layout:///w/lay:v2@${D}`,
      c: 'docker-image://busybox',
    });
  });

  it('a missing directory and a layout without the image are clear errors', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-ctx-'));
    try {
      await expect(loadBuildContexts(parseBuildContexts({ x: path.join(tmp, 'nope') }, tmp))).rejects.toThrow(`--build-context x=${path.join(tmp, 'nope')}: cannot read directory`);
      await writeFile(path.join(tmp, 'file'), '');
      await expect(loadBuildContexts(parseBuildContexts({ x: path.join(tmp, 'file') }, tmp))).rejects.toThrow(/is not a directory/);
      const lay = path.join(tmp, 'lay');
      await mkdir(path.join(lay, 'blobs', 'sha256'), { recursive: true });
      await writeFile(path.join(lay, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      await writeFile(path.join(lay, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
      await expect(loadBuildContexts(parseBuildContexts({ x: `oci-layout://${lay}@${D}` }, tmp))).rejects.toThrow(`--build-context x=oci-layout://${lay}@${D}: the OCI layout ${lay} has no blob ${D}`);
      await expect(loadBuildContexts(parseBuildContexts({ x: `oci-layout://${lay}:v1` }, tmp))).rejects.toThrow(/has no image tagged "v1"/);
      await expect(loadBuildContexts(parseBuildContexts({ x: `oci-layout://${path.join(tmp, 'none')}` }, tmp))).rejects.toThrow(/is not an OCI layout/);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('the compiler lookup normalizes the Dockerfile name the same way', async () => {
    const contexts = await loadBuildContexts(parseBuildContexts({ 'docker.io/library/alpine:3': 'docker-image://busybox:1', app: 'target:build' }, '/'));
    const lookup = namedContextLookup(contexts);
    expect(lookup('alpine:3')).toMatchObject({ kind: 'image', ref: 'busybox:1' });
    expect(lookup('index.docker.io/library/alpine:3')).toMatchObject({ kind: 'image', ref: 'busybox:1' });
    expect(lookup('alpine')).toBeUndefined();
    expect(lookup('app:latest')).toMatchObject({ kind: 'target', stage: 'build' });
    expect(lookup('Not A Name')).toBeUndefined();
  });
});
