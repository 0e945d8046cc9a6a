import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { listCacheMounts, openCacheMount, pruneCacheMounts } from './cache-mounts.js';
import { Store } from './store.js';

let tmp: string;
let store: Store;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-cachemounts-'));
  store = await Store.open(path.join(tmp, 'store'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const base = { mode: 0o755, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

describe('cache mounts in the store', () => {
  it('shared: every user gets the same directory, content persists, mode applied to a new one', async () => {
    const a = await openCacheMount(store, 'npm', { ...base, sharing: 'shared', mode: 0o750 });
    const b = await openCacheMount(store, 'npm', { ...base, sharing: 'shared' });
    expect(a.path).toBe(b.path);
    expect((await stat(a.path)).mode & 0o777).toBe(0o750);
    await writeFile(path.join(a.path, 'f'), 'kept');
    await a.release();
    await b.release();
    const c = await openCacheMount(store, 'npm', { ...base, sharing: 'shared' });
    expect(await readFile(path.join(c.path, 'f'), 'utf8')).toBe('kept');
    await c.release();
  });

  it('private: a second user while the first holds it gets a fresh directory of its own, dropped on release', async () => {
    const a = await openCacheMount(store, 'p', { ...base, sharing: 'private' });
    await writeFile(path.join(a.path, 'f'), 'mine');
    const b = await openCacheMount(store, 'p', { ...base, sharing: 'private' });
    expect(b.path).not.toBe(a.path);
    await expect(stat(path.join(b.path, 'f'))).rejects.toThrow();
    await b.release();
    await expect(stat(b.path)).rejects.toThrow();
    await a.release();
    const c = await openCacheMount(store, 'p', { ...base, sharing: 'private' });
    expect(c.path).toBe(a.path);
    await c.release();
  });

  it('locked: a second user waits for the first to release', async () => {
    const a = await openCacheMount(store, 'l', { ...base, sharing: 'locked' });
    let bOpened = 0;
    const bp = openCacheMount(store, 'l', { ...base, sharing: 'locked' }).then((b) => {
      bOpened = Date.now();
      return b;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(bOpened).toBe(0);
    const released = Date.now();
    await a.release();
    const b = await bp;
    expect(bOpened).toBeGreaterThanOrEqual(released);
    await b.release();
  });

  it('seeds a new directory once, lists and prunes, keeping a held one', async () => {
    let seeded = 0;
    const seed = async (dir: string) => {
      seeded++;
      await writeFile(path.join(dir, 'seed'), 's');
    };
    const a = await openCacheMount(store, 'seeded', { ...base, sharing: 'shared', seed });
    await a.release();
    const again = await openCacheMount(store, 'seeded', { ...base, sharing: 'shared', seed });
    await again.release();
    expect(seeded).toBe(1);
    expect(await readFile(path.join(a.path, 'seed'), 'utf8')).toBe('s');
    const held = await openCacheMount(store, 'held', { ...base, sharing: 'locked' });
    expect((await listCacheMounts(store)).map((c) => c.id).sort()).toEqual(['held', 'seeded']);
    expect((await pruneCacheMounts(store, { olderThan: 3600_000 })).removed).toBe(0);
    expect(await pruneCacheMounts(store)).toEqual({ removed: 1, freedBytes: 1 });
    expect((await listCacheMounts(store)).map((c) => c.id)).toEqual(['held']);
    await held.release();
  });
});
