/**
 * FROM <a local image>: the base's layers, config (Env, WorkingDir, Shell)
 * and ONBUILD triggers carry into the new image, as Docker does.
 */
import { jest } from '@jest/globals';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { build } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { readImage } from '../../src/image/read.js';
import { listLayer } from '../../src/layers/index.js';

describe('FROM a local image', () => {
  let tmp: string;
  let store: Store;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-base-'));
    store = await Store.open(path.join(tmp, 'store'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('holds the blobs of its bases fresh for prune while it runs, and lets them go after', async () => {
    const baseCtx = path.join(tmp, 'held-base');
    await mkdir(baseCtx, { recursive: true });
    await writeFile(path.join(baseCtx, 'f.txt'), 'f\n');
    const base = await build({ context: baseCtx, dockerfile: 'FROM scratch\nCOPY f.txt /\n', store, tags: ['held/base:1'], env: {}, platforms: ['linux/amd64'] });
    const img = await readImage(store, base.descriptor);
    const want = [base.descriptor.digest, img.descriptor.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)].map((d) => store.blobPath(d));
    const held = new Map<string, number>();
    const holdFresh = store.holdFresh.bind(store);
    const spy = jest.spyOn(store, 'holdFresh').mockImplementation((p: string) => {
      held.set(p, (held.get(p) ?? 0) + 1);
      const release = holdFresh(p);
      return () => {
        held.set(p, held.get(p)! - 1);
        release();
      };
    });
    let during: string[] = [];
    try {
      await build({
        context: baseCtx,
        dockerfile: 'FROM held/base:1\nCOPY f.txt /g.txt\n',
        store,
        env: {},
        platforms: ['linux/amd64'],
        onProgress: (e) => {
          if (e.type === 'vertex.started' && during.length === 0) during = [...held.entries()].filter(([, n]) => n > 0).map(([p]) => p);
        },
      });
    } finally {
      spy.mockRestore();
    }
    for (const p of new Set(want)) expect(during).toContain(p);
    expect([...held.values()].every((n) => n === 0)).toBe(true);
  });

  it('inherits layers and config, runs the base ONBUILD triggers once, expands with the base Env', async () => {
    const baseCtx = path.join(tmp, 'base');
    await mkdir(baseCtx, { recursive: true });
    await writeFile(path.join(baseCtx, 'lib.txt'), 'lib\n');
    await build({
      context: baseCtx,
      dockerfile: 'FROM scratch\nENV APP_HOME=/srv/app\nWORKDIR $APP_HOME\nCOPY lib.txt .\nONBUILD COPY app.txt ${APP_HOME}/\nONBUILD LABEL from-trigger=yes\n',
      store,
      tags: ['local/base:1'],
      env: {},
      platforms: ['linux/amd64'],
    });
    const ctx = path.join(tmp, 'child');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'app.txt'), 'app\n');
    const result = await build({
      context: ctx,
      dockerfile: 'FROM local/base:1\nCOPY app.txt $APP_HOME/copied.txt\n',
      store,
      env: {},
      platforms: ['linux/amd64'],
    });
    const img = await readImage(store, result.descriptor);
    expect(img.config.config?.Env).toContain('APP_HOME=/srv/app');
    expect(img.config.config?.WorkingDir).toBe('/srv/app');
    expect(img.config.config?.Labels).toEqual({ 'from-trigger': 'yes' });
    expect(img.config.config?.OnBuild ?? []).toEqual([]);
    // base: WORKDIR + COPY; child: the trigger's COPY, then its own COPY
    expect(img.manifest.layers).toHaveLength(4);
    const trigger = await listLayer(await store.open(img.manifest.layers[2]!.digest));
    expect(trigger.map((e) => e.path)).toContain('srv/app/app.txt');
    const own = await listLayer(await store.open(img.manifest.layers[3]!.digest));
    expect(own.map((e) => e.path)).toContain('srv/app/copied.txt');
    expect(result.bases).toEqual([expect.stringMatching(/@sha256:[0-9a-f]{64}$/)]);
    expect(img.config.history?.length).toBeGreaterThanOrEqual(6);
  });

  it('a missing base image is a clear error at the FROM line', async () => {
    // build() asks the image's registry (issue 9): one that knows no such manifest, on loopback.
    const registry = http.createServer((req, res) => {
      const found = req.url === '/v2/';
      res.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
      res.end(found ? '{}' : JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
    try {
      await expect(
        build({ context: tmp, dockerfile: `FROM ${host}/nosuch/image:1\n`, store, env: {}, platforms: ['linux/amd64'] }),
      ).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND', message: expect.stringMatching(/nosuch\/image:1/), range: { start: { line: 1, column: 1 } } });
    } finally {
      registry.closeAllConnections();
      registry.close();
    }
  });
});
