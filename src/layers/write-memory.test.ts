/**
 * Issue 8: memory per context file is small and bounded. While a layer is
 * written, the writer's own share of the heap per file (besides the entries
 * the caller planned) is counted here: live heap after a full GC, halfway
 * through the write, minus the same before it, per file, for 10,000 and
 * 20,000 files (so it stays linear with a small constant). Before issue 8's
 * memory round it was ~320-330 bytes a file (a prepared copy of each entry,
 * a read request per file range, a map of digest strings); now ~35-40: the
 * write order, the read index and a digest slot (its 32 bytes are in a buffer).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { statIdentity } from '../stat-identity.js';
import type { LayerEntry } from './types.js';
import { writeLayer } from './write.js';

const MAX = 20_000;

describe('issue 8: the layer writer keeps little per file', () => {
  let dir: string;
  let all: LayerEntry[];
  let gc: () => void;
  beforeAll(() => {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-write-mem-'));
    all = [];
    for (let d = 0; d < MAX / 100; d++) {
      const sub = `d${String(d).padStart(3, '0')}`;
      fs.mkdirSync(path.join(dir, sub));
      for (let f = 0; f < 100; f++) {
        const name = `${sub}/f${String(f).padStart(3, '0')}.txt`;
        const file = path.join(dir, name);
        fs.writeFileSync(file, `file ${d}/${f}\n`);
        const st = fs.statSync(file, { bigint: true });
        all.push({ path: `data/${name}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: Number(st.size), source: { kind: 'path', path: file, identity: statIdentity(st) } });
      }
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The writer's live heap per file, halfway through writing `entries` (uncompressed, with file digests). */
  async function perFile(entries: LayerEntry[]): Promise<number> {
    const tarBytes = entries.length * 1024;
    let seen = 0;
    let mid: number | undefined;
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (mid === undefined && seen >= tarBytes / 2) {
          gc();
          gc();
          mid = process.memoryUsage().heapUsed;
        }
        cb();
      },
    });
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    const result = await writeLayer(entries, out, { compression: 'none', fileDigests: true });
    expect(result.fileDigests!.size).toBe(entries.length);
    expect(mid).toBeDefined();
    return (mid! - before) / entries.length;
  }

  it('halfway through a layer of 10,000 and of 20,000 files, under 120 bytes of heap a file', async () => {
    // Code and caches warmed up first, so the count is about the files alone.
    await perFile(all.slice(0, 1000));
    const small = await perFile(all.slice(0, MAX / 2));
    const large = await perFile(all);
    expect(small).toBeLessThan(120);
    expect(large).toBeLessThan(120);
  }, 120_000);
});
