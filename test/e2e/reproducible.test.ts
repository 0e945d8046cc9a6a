/**
 * Same inputs, same digests: two fresh stores agree; with SOURCE_DATE_EPOCH,
 * two copies of the context made at different times agree too; several
 * platforms make an OCI index.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { readImage } from '../../src/image/read.js';

const exec = promisify(execFile);
const FIXTURE = path.resolve('fixtures/builds/copy-basics');

async function setTimes(dir: string, seconds: number): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (!e.isSymbolicLink()) await utimes(p, seconds, seconds);
  }
  await utimes(dir, seconds, seconds);
}

describe('reproducible images', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-repro-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function buildIn(name: string, context: string, env: Record<string, string>, platforms = ['linux/amd64']) {
    const store = await Store.open(path.join(tmp, name));
    const result = await build({ context, file: path.join(FIXTURE, 'Dockerfile'), store, env, platforms });
    return { store, result };
  }

  it('gives the same manifest digest in two fresh stores', async () => {
    const a = await buildIn('a', path.join(FIXTURE, 'context'), {});
    const b = await buildIn('b', path.join(FIXTURE, 'context'), {});
    expect(a.result.descriptor.digest).toBe(b.result.descriptor.digest);
    // without SOURCE_DATE_EPOCH, `created` is the epoch: nothing time-dependent enters the image
    expect(a.result.images[0]!.configValue.created).toBe('1970-01-01T00:00:00Z');
  });

  it('with SOURCE_DATE_EPOCH, copies of the context made at different times give the same digest', async () => {
    const one = path.join(tmp, 'clone1');
    const two = path.join(tmp, 'clone2');
    await cp(path.join(FIXTURE, 'context'), one, { recursive: true, verbatimSymlinks: true });
    await cp(path.join(FIXTURE, 'context'), two, { recursive: true, verbatimSymlinks: true });
    await setTimes(one, 1_750_000_000);
    await setTimes(two, 1_760_000_000);
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const a = await buildIn('c1', one, env);
    const b = await buildIn('c2', two, env);
    expect(a.result.descriptor.digest).toBe(b.result.descriptor.digest);
    expect(a.result.images[0]!.configValue.created).toBe('2023-11-14T22:13:20Z');
    // and the mtimes do matter without it (COPY keeps source mtimes, as Docker does)
    const c = await buildIn('c3', one, {});
    const d = await buildIn('c4', two, {});
    expect(c.result.descriptor.digest).not.toBe(d.result.descriptor.digest);
  });

  it('--platform with two platforms writes an OCI index that skopeo reads', async () => {
    const { store, result } = await buildIn('multi', path.join(FIXTURE, 'context'), {}, ['linux/amd64', 'linux/arm64']);
    expect(result.descriptor.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(result.images.map((i) => `${i.platform.os}/${i.platform.architecture}`)).toEqual(['linux/amd64', 'linux/arm64']);
    const arm = await readImage(store, result.descriptor, { os: 'linux', architecture: 'arm64' });
    expect(arm.config.architecture).toBe('arm64');
    expect(arm.config.variant).toBeUndefined(); // containerd normalizes arm64/v8 to arm64
    const oci = path.join(tmp, 'multi.oci');
    const { outputs } = await build({ context: path.join(FIXTURE, 'context'), file: path.join(FIXTURE, 'Dockerfile'), store, env: {}, platforms: ['linux/amd64', 'linux/arm64'], outputs: [`type=oci,dest=${oci}`], tags: ['multi:1'] });
    expect(outputs.map((o) => o.type)).toEqual(['image', 'oci']);
    const raw = JSON.parse((await exec('skopeo', ['inspect', '--raw', `oci:${oci}:1`])).stdout);
    expect(raw.manifests).toHaveLength(2);
    const armInfo = JSON.parse((await exec('skopeo', ['inspect', '--override-arch', 'arm64', `oci:${oci}:1`])).stdout);
    expect(armInfo.Architecture).toBe('arm64');
  });
});
