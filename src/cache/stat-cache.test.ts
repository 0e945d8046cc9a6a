import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StatCache, statKey } from './stat-cache.js';
import { sha256 } from '../oci/digest.js';

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
});
