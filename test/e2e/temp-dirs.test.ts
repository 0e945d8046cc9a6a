/**
 * Issue 7: every temp dir of a build lives under the store (so a killed
 * build's leftovers are removed when the store is next opened), never in the
 * system temp dir.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { run } from '../registry/harness.js';

describe('issue 7: build temp dirs', () => {
  let tmp: string;
  const savedTmpdir = process.env.TMPDIR;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-tempdirs-'));
  });
  afterAll(async () => {
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    await rm(tmp, { recursive: true, force: true });
  });

  it('ADD of a local archive works in a temp dir under the store; the system temp dir is not used', async () => {
    const ctx = path.join(tmp, 'ctx');
    await mkdir(path.join(ctx, 'src'), { recursive: true });
    await writeFile(path.join(ctx, 'src', 'a'), 'a');
    await run('tar', ['-C', path.join(ctx, 'src'), '-cf', path.join(ctx, 'a.tar'), 'a']);
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nADD a.tar /x/\n');
    const store = await Store.open(path.join(tmp, 'store'));
    const made: string[] = [];
    const tempDir = store.tempDir.bind(store);
    store.tempDir = async (prefix?: string) => {
      const d = await tempDir(prefix);
      made.push(d);
      return d;
    };
    // A private system temp dir: nothing of the build may appear there.
    const systemTmp = path.join(tmp, 'system-tmp');
    await mkdir(systemTmp);
    process.env.TMPDIR = systemTmp;
    await build({ context: ctx, file: path.join(ctx, 'Dockerfile'), store, env: {}, platforms: ['linux/amd64'] });
    expect(made.length).toBeGreaterThan(0);
    for (const d of made) expect(d.startsWith(path.join(store.root, 'tmp') + path.sep)).toBe(true);
    expect(await readdir(systemTmp)).toEqual([]);
    // Cleaned up afterwards.
    const left = new Set(await readdir(path.join(store.root, 'tmp')));
    expect(made.filter((d) => left.has(path.basename(d)))).toEqual([]);
  });
});
