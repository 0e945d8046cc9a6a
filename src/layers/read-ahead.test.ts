import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ReadAhead, type ReadRequest } from './read-ahead.js';

describe('ReadAhead', () => {
  let dir: string;
  let reads: ReadRequest[];
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-read-ahead-'));
    reads = [];
    for (let i = 0; i < 2000; i++) {
      const f = path.join(dir, `f${i}`);
      fs.writeFileSync(f, `file ${i}\n`.repeat(1 + (i % 7)));
      reads.push({ path: f, position: 0, length: fs.statSync(f).size, last: true });
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function readAll(ra: ReadAhead, list = reads): Promise<void> {
    try {
      for (let i = 0; i < list.length; i++) {
        const r = await ra.take(i);
        if (!r.ok) throw new Error(`read ${i} failed`);
        expect(r.data.toString()).toBe(fs.readFileSync(list[i]!.path, 'utf8'));
      }
    } finally {
      await ra.close();
    }
  }

  it('starts with two readers (issue 8: each is ~10 MB of the peak)', async () => {
    const ra = new ReadAhead(reads);
    expect(ra.readers).toBe(2);
    await readAll(ra);
  });

  it('adds readers, up to four, when the consumer keeps waiting for reads (a cold page cache), with the same bytes in order', async () => {
    // Every wait counts as slow here.
    const ra = new ReadAhead(reads, { slowWaitMs: -1 });
    await readAll(ra);
    expect(ra.readers).toBe(4);
  });

  it('one reader for a handful of files', async () => {
    const ra = new ReadAhead(reads.slice(0, 10));
    expect(ra.readers).toBe(1);
    await readAll(ra, reads.slice(0, 10));
  });
});
