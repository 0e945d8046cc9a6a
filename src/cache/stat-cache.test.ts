import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { StatCache, statKey } from './stat-cache.js';
import { sha256, type Digest } from '../oci/digest.js';

describe('StatCache', () => {
  it('round-trips through its file, and a changed file no longer matches', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-statcache-'));
    try {
      const f = path.join(dir, 'f');
      fs.writeFileSync(f, 'x');
      const file = path.join(dir, 'cache.json');
      const c = await StatCache.load(file);
      const k = statKey(f)!;
      c.set(f, k, sha256('x'));
      await c.save();
      const again = await StatCache.load(file);
      expect(again.get(f, statKey(f))).toBe(sha256('x'));
      fs.writeFileSync(f, 'y');
      expect(again.get(f, statKey(f))).toBeUndefined();
      expect(statKey(path.join(dir, 'missing'))).toBeUndefined();
      fs.writeFileSync(file, '{not json');
      expect((await StatCache.load(file)).get(f, statKey(f))).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps a record set during the build in under 100 bytes of heap besides its path and stat key (issue 8: memory), and saves the same bytes', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-statcache-'));
    try {
      const N = 20_000;
      // The paths and stat keys exist before (the plan holds them); each digest is made for the
      // record (as the layer writer's table gives it), so what the cache keeps of it counts.
      // (Flat strings, as the planner makes them: a template literal is a rope V8 flattens later.)
      const files = Array.from({ length: N }, (_, i) => ['/context/some/dir-', i % 100, '/file-', i, '.js'].join(''));
      const keys = files.map((_, i) => [2049, 1_000_000 + i, i % 4096, `1700000000${String(i).padStart(9, '0')}`, `1765000000${String(i).padStart(9, '0')}`].join(':'));
      const cache = await StatCache.load(path.join(dir, 'statcache'));
      gc();
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < N; i++) cache.set(files[i]!, keys[i]!, sha256(files[i]!));
      gc();
      gc();
      const perRecord = (process.memoryUsage().heapUsed - before) / N;
      expect(perRecord).toBeLessThan(100);
      expect(cache.get(files[123]!, keys[123]!)).toBe(sha256(files[123]!));
      expect(cache.get(files[123]!, keys[124]!)).toBeUndefined();
      // Saved as `path NUL key SP hex NUL` records, loaded back the same.
      await cache.save();
      const text = fs.readFileSync(path.join(dir, 'statcache'), 'utf8');
      expect(text).toBe('ocibuild-statcache 2\n' + files.map((f, i) => `${f}\0${keys[i]} ${sha256(f).slice(7)}\0`).join(''));
      const again = await StatCache.load(path.join(dir, 'statcache'));
      expect(again.get(files[N - 1]!, keys[N - 1]!)).toBe(sha256(files[N - 1]!));
      // A record set again takes the new digest; setting the same one again changes nothing.
      again.set(files[0]!, keys[0]!, sha256('other') as Digest);
      expect(again.get(files[0]!, keys[0]!)).toBe(sha256('other'));
      cache.set(files[1]!, keys[1]!, sha256(files[1]!));
      cache.set(files[1]!, keys[1]!, sha256('changed'));
      expect(cache.get(files[1]!, keys[1]!)).toBe(sha256('changed'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('keeps records set all at once as the list given until they are needed, and saves and answers as if each was set (issue 8: memory)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-statcache-'));
    try {
      const N = 20_000;
      const files = Array.from({ length: N }, (_, i) => ['/context/dir-', i % 100, '/file-', i, '.js'].join(''));
      const keys = files.map((_, i) => [2049, 1_000_000 + i, i % 4096, '1700000000000000000', '1765000000000000000'].join(':'));
      const digests = files.map((f) => sha256(f));
      // Every third has no record; the last file is listed again with another digest (the later one counts).
      const at = (i: number) => (i % 3 === 0 ? undefined : i === N ? { file: files[1]!, key: keys[1]!, digest: sha256('again') } : { file: files[i]!, key: keys[i]!, digest: digests[i]! });
      const cache = await StatCache.load(path.join(dir, 'statcache'));
      gc();
      gc();
      const before = process.memoryUsage().heapUsed;
      cache.setAll({ length: N + 1, at });
      gc();
      gc();
      // Nothing of its own per record (a record set one by one keeps ~60 bytes, besides its path and key).
      expect((process.memoryUsage().heapUsed - before) / N).toBeLessThan(5);
      await cache.save();
      const each = await StatCache.load(path.join(dir, 'each'));
      for (let i = 0; i <= N; i++) {
        const r = at(i);
        if (r) each.set(r.file, r.key, r.digest);
      }
      await each.save();
      const loaded = await StatCache.load(path.join(dir, 'statcache'));
      const loadedEach = await StatCache.load(path.join(dir, 'each'));
      for (const c of [loaded, loadedEach, cache]) {
        expect(c.get(files[0]!, keys[0]!)).toBeUndefined();
        expect(c.get(files[1]!, keys[1]!)).toBe(sha256('again'));
        expect(c.get(files[2]!, keys[2]!)).toBe(digests[2]);
        expect(c.get(files[N - 1]!, keys[N - 1]!)).toBe(digests[N - 1]);
        expect(c.files().sort()).toEqual(files.filter((_, i) => i % 3 !== 0).sort());
      }
      // Once something else is known, a list is set record by record.
      const more = await StatCache.load(path.join(dir, 'statcache'));
      more.setAll({ length: 1, at: () => ({ file: files[0]!, key: keys[0]!, digest: digests[0]! }) });
      expect(more.get(files[0]!, keys[0]!)).toBe(digests[0]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
