/**
 * RUN end to end through build(): a busybox base made offline, the command
 * run in the sandbox (whichever isolation the probe picks), the layer read
 * back from the store. Needs root or user namespaces and overlayfs: skipped
 * loudly without them, fails on CI.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build, type BuildOptions } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { OcibuildError } from '../../src/errors.js';
import { listLayer } from '../../src/layers/index.js';
import { probeHost } from '../../src/run/index.js';
import { makeBusyboxImage } from '../base-image.js';

const exec = promisify(execFile);

async function layerNames(store: Store, digest: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await listLayer(await store.open(digest as never))) out.push(`${e.type} ${e.path}`);
  return out;
}

describe('RUN in the sandbox', () => {
  let tmp: string;
  let store: Store;
  let skip: string | undefined;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-runsb-'));
    const probe = await probeHost();
    if (probe.unavailable) {
      skip = probe.unavailable;
      if (process.env.CI) throw new Error(`RUN cannot work on CI: ${skip}`);
      console.warn(`SKIPPED (loudly): RUN sandbox unavailable: ${skip}`);
      return;
    }
    store = await Store.open(path.join(tmp, 'store'));
    await makeBusyboxImage(store, 'busybox:test');
  }, 60_000);
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  const opts = (dockerfile: string, extra: Partial<BuildOptions> = {}): BuildOptions => ({
    context: tmp,
    dockerfile,
    store,
    env: {},
    platforms: ['linux/amd64'],
    sourceDateEpoch: 0,
    ...extra,
  });

  it('writes a file, deletes a base file (whiteout), removes a base directory (opaque)', async () => {
    if (skip) return;
    const logs: string[] = [];
    const r = await build(
      opts('FROM busybox:test\nRUN echo hi > /hello && rm /etc/group && mkdir -p /data/sub && touch /data/a /data/sub/b && echo out && echo err >&2\nRUN rm -rf /data && mkdir /data && echo x > /data/new\n', {
        onProgress: (e) => {
          if (e.type === 'log') logs.push(`${e.stream}:${e.data}`);
        },
      }),
    );
    const layers = r.images[0]!.layers;
    expect(layers).toHaveLength(3);
    expect(await layerNames(store, layers[1]!.digest)).toEqual(['directory data', 'file data/a', 'directory data/sub', 'file data/sub/b', 'directory etc', 'whiteout etc/group', 'file hello']);
    expect(await layerNames(store, layers[2]!.digest)).toEqual(['directory data', 'opaque data', 'file data/new']);
    expect(logs.join('')).toContain('stdout:out');
    expect(logs.join('')).toContain('stderr:err');
  }, 120_000);
});
