import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { contextSourceFs, planCopy } from '../copy/index.js';
import { observedSourceFs, sameAnswers } from '../copy/observed.js';
import { copyMemoSlot, readCopyMemo, writeCopyMemo } from './copy-memo.js';
import { Store } from './store.js';

describe('copy memo file', () => {
  let tmp: string;
  let store: Store;
  let ctx: string;
  const memoKey = 'a'.repeat(64);
  const key = 'b'.repeat(64);
  const slot = copyMemoSlot(['copy', 'test']);

  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-copymemo-'));
    store = await Store.open(path.join(tmp, 'store'));
    ctx = path.join(tmp, 'ctx');
    for (let d = 0; d < 5; d++) {
      fs.mkdirSync(path.join(ctx, `d${d}`), { recursive: true });
      for (let f = 0; f < 20; f++) fs.writeFileSync(path.join(ctx, `d${d}`, `f${f}.txt`), `${d}/${f}\n`);
    }
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function recorded() {
    const o = observedSourceFs(contextSourceFs(ctx));
    await planCopy({ instruction: 'COPY', sources: ['.'], dest: '/data' }, { source: o.fs });
    return o.observations()!;
  }
  const file = () => path.join(store.root, 'copymemo', slot);

  it('round-trips: read back packed, the same tree answers the same, a changed one does not', async () => {
    const observations = await recorded();
    await writeCopyMemo(store, slot, { memoKey, key, observations });
    const memo = (await readCopyMemo(store, slot, memoKey))!;
    expect(memo.key).toBe(key);
    expect(memo.observations.digest).toBe(observations.digest);
    expect(memo.observations.packed).toBe(observations.questions.map((q) => `${q}\0`).join(''));
    expect(await sameAnswers(contextSourceFs(ctx), memo.observations)).toBe(true);
    fs.appendFileSync(path.join(ctx, 'd3/f7.txt'), 'changed\n');
    expect(await sameAnswers(contextSourceFs(ctx), memo.observations)).toBe(false);
  });

  it('a memo of another key, a foreign header or a torn file is no memo', async () => {
    await writeCopyMemo(store, slot, { memoKey, key, observations: await recorded() });
    expect(await readCopyMemo(store, slot, 'c'.repeat(64))).toBeUndefined();
    const whole = fs.readFileSync(file());
    // Cut inside the last question, after its NUL is gone, and inside the header fields.
    for (const cut of [whole.length - 1, whole.length - 5, 30, 100, 200]) {
      fs.writeFileSync(file(), whole.subarray(0, cut));
      expect(await readCopyMemo(store, slot, memoKey)).toBeUndefined();
    }
    fs.writeFileSync(file(), Buffer.concat([Buffer.from('ocibuild-copymemo 1\n'), whole.subarray(20)]));
    expect(await readCopyMemo(store, slot, memoKey)).toBeUndefined();
    fs.writeFileSync(file(), whole);
    expect(await readCopyMemo(store, slot, memoKey)).toBeDefined();
  });

  it('packed questions without their last NUL, or a question of an unknown kind, never answer the same', async () => {
    const { questions, digest } = await recorded();
    const packed = questions.map((q) => `${q}\0`).join('');
    expect(await sameAnswers(contextSourceFs(ctx), { packed, digest })).toBe(true);
    expect(await sameAnswers(contextSourceFs(ctx), { packed: packed.slice(0, -1), digest })).toBe(false);
    expect(await sameAnswers(contextSourceFs(ctx), { packed: `q\0${packed}`, digest })).toBe(false);
    // The same questions split elsewhere are other questions.
    expect(await sameAnswers(contextSourceFs(ctx), { packed: packed.replace('\0d', 'd\0'), digest })).toBe(false);
  });
});
