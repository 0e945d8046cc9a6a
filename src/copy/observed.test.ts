import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { contextSourceFs, planCopy } from './index.js';
import { ignoreViewFromPatterns } from './ignore.js';
import { observedSourceFs, sameAnswers, type Observations } from './observed.js';
import type { SourceFs } from './types.js';

/** Plans `COPY . /data` over `fsrc` and returns what the planner asked. */
async function observe(fsrc: SourceFs): Promise<Observations> {
  const o = observedSourceFs(fsrc);
  await planCopy({ instruction: 'COPY', sources: ['.'], dest: '/data' }, { source: o.fs });
  const obs = o.observations();
  if (!obs) throw new Error('observations not kept');
  return obs;
}

describe('copy memo: what the planner asked of the context', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-observed-'));
    fs.mkdirSync(path.join(root, 'src/lib'), { recursive: true });
    fs.writeFileSync(path.join(root, 'src/a.txt'), 'a\n');
    fs.writeFileSync(path.join(root, 'src/lib/b.txt'), 'bb\n');
    fs.writeFileSync(path.join(root, 'skip.log'), 'log\n');
    fs.symlinkSync('a.txt', path.join(root, 'src/link'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('records every lstat, readdir and readlink, and the same tree answers the same', async () => {
    const obs = await observe(contextSourceFs(root));
    expect(new Set(obs.questions)).toEqual(new Set(['l', 'd', 'lsrc', 'lskip.log', 'dsrc', 'lsrc/a.txt', 'lsrc/lib', 'lsrc/link', 'rsrc/link', 'dsrc/lib', 'lsrc/lib/b.txt']));
    expect(obs.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(await sameAnswers(contextSourceFs(root), obs)).toBe(true);
  });

  it.each([
    ['a file rewritten with the same size and mtime (only ctime tells)', (r: string) => {
      const f = path.join(r, 'src/a.txt');
      const st = fs.statSync(f);
      fs.writeFileSync(f, 'A\n');
      fs.utimesSync(f, st.atime, st.mtime);
    }],
    ['a file added', (r: string) => fs.writeFileSync(path.join(r, 'src/lib/new.txt'), 'n\n')],
    ['a file removed', (r: string) => fs.rmSync(path.join(r, 'src/lib/b.txt'))],
    ['a symlink pointed elsewhere', (r: string) => {
      fs.rmSync(path.join(r, 'src/link'));
      fs.symlinkSync('lib', path.join(r, 'src/link'));
    }],
    ['a mode changed', (r: string) => fs.chmodSync(path.join(r, 'src/lib'), 0o700)],
    ['a file replaced by a directory', (r: string) => {
      fs.rmSync(path.join(r, 'skip.log'));
      fs.mkdirSync(path.join(r, 'skip.log'));
    }],
  ])('%s: a different answer', async (_what, change) => {
    const obs = await observe(contextSourceFs(root));
    change(root);
    expect(await sameAnswers(contextSourceFs(root), obs)).toBe(false);
  });

  it('a .dockerignore that now excludes a file gives a different answer; one that excludes nothing seen does not', async () => {
    const obs = await observe(contextSourceFs(root, ignoreViewFromPatterns([])));
    expect(await sameAnswers(contextSourceFs(root, ignoreViewFromPatterns(['nothing-here'])), obs)).toBe(true);
    expect(await sameAnswers(contextSourceFs(root, ignoreViewFromPatterns(['*.log'])), obs)).toBe(false);
  });

  it('a malformed or foreign record is never the same', async () => {
    const obs = await observe(contextSourceFs(root));
    expect(await sameAnswers(contextSourceFs(root), { ...obs, questions: obs.questions.slice(0, -1) })).toBe(false);
    expect(await sameAnswers(contextSourceFs(root), { ...obs, questions: [...obs.questions].reverse() })).toBe(false);
    expect(await sameAnswers(contextSourceFs(root), { ...obs, digest: '0'.repeat(64) })).toBe(false);
    expect(await sameAnswers(contextSourceFs(root), { ...obs, questions: ['q'] })).toBe(false);
    // A question that fails now (a readlink of what is not a link) is a difference, not an error.
    expect(await sameAnswers(contextSourceFs(root), { ...obs, questions: ['rsrc/a.txt'] })).toBe(false);
  });

  it('a name that is not UTF-8 is not kept (the memo is UTF-8 text)', async () => {
    fs.writeFileSync(Buffer.concat([Buffer.from(root + '/src/'), Buffer.from([0x66, 0xff])]), 'x');
    const o = observedSourceFs(contextSourceFs(root));
    await planCopy({ instruction: 'COPY', sources: ['.'], dest: '/data' }, { source: o.fs });
    expect(o.observations()).toBeUndefined();
  });
});
