/**
 * Issue 8: memory per context file is small. Planning a COPY keeps one
 * record per file until the layer is written; this counts the bytes the plan
 * of 20,000 files retains (live heap after a full GC, with the plan held), per
 * file. Before issue 8 each planned file cost ~720-750 bytes (a hidden class of
 * its own per entry from an object spread, and paths and stat keys kept as
 * ropes of many small strings); then ~330-370 (an entry object, a source object,
 * the layer path, the source path and the stat key per file); now ~120-130, the
 * plan a table (src/copy/plan-entries.ts): typed-array columns, the name and
 * the stat key per file, paths kept once per directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { planCopy } from './copy.js';
import { contextSourceFs } from './source-fs.js';

const FILES = 20_000;

describe('issue 8: memory per planned context file', () => {
  let ctx: string;
  beforeAll(() => {
    ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-plan-mem-'));
    for (let d = 0; d < FILES / 100; d++) {
      const dir = path.join(ctx, `pkg-${String(d % 20).padStart(2, '0')}`, `mod-${String(d).padStart(3, '0')}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(dir, `file-${String(f).padStart(3, '0')}.js`), 'x');
    }
  });
  afterAll(() => fs.rmSync(ctx, { recursive: true, force: true }));

  it('a planned COPY of 20,000 files retains under 200 bytes per file', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const spec = { instruction: 'COPY' as const, sources: ['.'], dest: '/data', workdir: '/' };
    // A first plan warms up code and caches, so the count is about the records alone (in a
    // function of its own, so nothing on this frame holds its result).
    const warmUp = async (): Promise<number> => (await planCopy(spec, { source: contextSourceFs(ctx) })).entries.length;
    expect(await warmUp()).toBeGreaterThan(FILES);
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    const plan = await planCopy(spec, { source: contextSourceFs(ctx) });
    gc();
    gc();
    const perFile = (process.memoryUsage().heapUsed - before) / plan.entries.length;
    expect([...plan.entries].filter((e) => e.type === 'file')).toHaveLength(FILES);
    expect(perFile).toBeLessThan(200);
    // Every file carries its stat identity from the one lstat of the walk.
    expect([...plan.entries].every((e) => e.type !== 'file' || (e.source?.kind === 'path' && /^\d+:\d+:\d+:\d+:\d+$/.test(e.source.identity ?? '')))).toBe(true);
  }, 120_000);
});
