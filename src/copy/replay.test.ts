/**
 * The copy memo's replay shared by two threads (issue 8: warm rebuild):
 * segment digests, claims that give every segment to exactly one thread,
 * a recipe that makes the same source in another thread, and the real
 * helper thread (the compiled worker in dist/).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureDist, repoRoot } from '../../test/dist.js';
import { contextSourceFs, planCopy } from './index.js';
import { ignoreViewFromPatterns } from './ignore.js';
import { claimSegment, newClaims, observedSourceFs, sameAnswers, SEGMENT, segmentDigest, stopClaims, type Observations, type ReplayHelper } from './observed.js';
import { sourceFsFromRecipe } from './recipe.js';
import { ReplayThread } from './replay-helper.js';
import type { SourceFs } from './types.js';

async function observe(fsrc: SourceFs): Promise<Observations> {
  const o = observedSourceFs(fsrc);
  await planCopy({ instruction: 'COPY', sources: ['.'], dest: '/data' }, { source: o.fs });
  const obs = o.observations();
  if (!obs) throw new Error('observations not kept');
  return obs;
}

/** A helper in this thread: answers the segments it claims from the back with `digestOf`, `take` of them at most. */
function fakeHelper(digestOf: (fs: SourceFs, questions: readonly string[], seg: number) => Promise<string | undefined>, take = Infinity, report = true): ReplayHelper & { claimed: number[] } {
  const claimed: number[] = [];
  return {
    claimed,
    replay(fs, questions, claims) {
      const results = new Map<number, string | undefined>();
      for (let i = 0; i < take; i++) {
        const seg = claimSegment(claims, true);
        if (seg < 0) break;
        claimed.push(seg);
        results.set(seg, undefined);
      }
      return (async () => {
        for (const seg of results.keys()) results.set(seg, await digestOf(fs, questions, seg));
        return report ? results : new Map();
      })();
    },
  };
}

describe('copy memo replay: segments and claims', () => {
  it('gives every segment to exactly one side, from the front and from the back, and stops both on a difference', () => {
    const claims = newClaims(7);
    const front: number[] = [];
    const back: number[] = [];
    for (let i = 0; ; i++) {
      const seg = claimSegment(claims, i % 3 === 0);
      if (seg < 0) break;
      (i % 3 === 0 ? back : front).push(seg);
    }
    expect(front).toEqual([0, 1, 2, 3]);
    expect(back).toEqual([6, 5, 4]);
    const stopped = newClaims(5);
    expect(claimSegment(stopped, false)).toBe(0);
    stopClaims(stopped);
    expect(claimSegment(stopped, false)).toBe(-1);
    expect(claimSegment(stopped, true)).toBe(-1);
    expect(() => newClaims(0x10000)).toThrow(RangeError);
  });
});

describe('copy memo replay over a context of several segments', () => {
  let root: string;
  const files = 5 * SEGMENT;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-replay-'));
    for (let d = 0; d < 20; d++) {
      fs.mkdirSync(path.join(root, `d${d}`));
      for (let f = 0; f < files / 20; f++) fs.writeFileSync(path.join(root, `d${d}`, `f${f}.txt`), `${d}/${f}\n`);
    }
    fs.writeFileSync(path.join(root, 'skip.log'), 'log\n');
    fs.mkdirSync(path.join(root, 'keep'));
    fs.writeFileSync(path.join(root, 'keep/in.log'), 'in\n');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('keeps one digest per segment of questions', async () => {
    const obs = await observe(contextSourceFs(root));
    expect(obs.questions.length).toBeGreaterThan(files);
    expect(obs.digests).toHaveLength(Math.ceil(obs.questions.length / SEGMENT));
    const fsrc = contextSourceFs(root);
    for (let seg = 0; seg < obs.digests.length; seg++) expect(await segmentDigest(fsrc, obs.questions, seg)).toBe(obs.digests[seg]);
  });

  it('takes a helper’s segments, answers those it claimed but never reported, and sees a difference it reports', async () => {
    const obs = await observe(contextSourceFs(root));
    const segments = obs.digests.length;
    const honest = fakeHelper(segmentDigest, 2);
    expect(await sameAnswers(contextSourceFs(root), obs, { helper: honest })).toBe(true);
    expect(honest.claimed).toEqual([segments - 1, segments - 2]);
    // A helper that claimed and died: its segments are answered by the building thread.
    const died = fakeHelper(segmentDigest, 2, false);
    expect(await sameAnswers(contextSourceFs(root), obs, { helper: died })).toBe(true);
    // A helper's difference is a difference (it only ever answers for the same source).
    const liar = fakeHelper(async () => '0'.repeat(64), 1);
    expect(await sameAnswers(contextSourceFs(root), obs, { helper: liar })).toBe(false);
    // A change in a segment only the helper answers is seen.
    const last = path.join(root, 'skip.log');
    fs.writeFileSync(last, 'changed\n');
    const all = fakeHelper(segmentDigest);
    expect(await sameAnswers(contextSourceFs(root), obs, { helper: all })).toBe(false);
  });

  it('a recipe makes a source that answers every question as the original, .dockerignore and its exceptions included', async () => {
    const ignore = ignoreViewFromPatterns(['*.log', 'd3', '!keep/in.log', { pattern: 'd7/f1*', line: 4 }], 'Dockerfile.dockerignore');
    const original = contextSourceFs(root, ignore, 'build context "x"');
    const obs = await observe(original);
    expect(original.recipe).toBeDefined();
    const copy = sourceFsFromRecipe(JSON.parse(JSON.stringify(original.recipe)));
    expect(copy.description).toBe('build context "x"');
    for (let seg = 0; seg < obs.digests.length; seg++) expect(await segmentDigest(copy, obs.questions, seg)).toBe(obs.digests[seg]);
    // Another .dockerignore is another recipe, and another answer.
    const other = contextSourceFs(root, ignoreViewFromPatterns(['*.log'], 'Dockerfile.dockerignore'), 'build context "x"');
    expect(other.recipe).not.toEqual(original.recipe);
    expect(await sameAnswers(sourceFsFromRecipe(other.recipe!), obs)).toBe(false);
    // An ignore view that is not made from patterns gives no recipe (no helper can answer for it).
    expect(contextSourceFs(root, { excludedBy: () => undefined, mayReinclude: () => false }).recipe).toBeUndefined();
  });

  it('the helper thread (the compiled worker) answers segments the building thread leaves it', async () => {
    await ensureDist();
    const thread = ReplayThread.start(pathToFileURL(path.join(repoRoot, 'dist/copy/replay-worker.js')));
    expect(thread).toBeDefined();
    try {
      const obs = await observe(contextSourceFs(root));
      // The building thread answers slowly here (2 ms a question), so the helper certainly claims some.
      const real = contextSourceFs(root);
      const slow: SourceFs = {
        ...real,
        lstatSync: (rel) => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
          return real.lstatSync!(rel);
        },
      };
      expect(await sameAnswers(slow, obs, { helper: thread! })).toBe(true);
      expect(thread!.answered).toBeGreaterThan(0);
      expect(thread!.answered).toBeLessThan(obs.digests.length);
      // A changed file in the helper's part: a difference.
      fs.appendFileSync(path.join(root, 'd19', `f${files / 20 - 1}.txt`), 'more\n');
      expect(await sameAnswers(slow, obs, { helper: thread! })).toBe(false);
    } finally {
      await thread!.close();
    }
    expect(ReplayThread.start(pathToFileURL(path.join(root, 'no-such-worker.js')))).toBeUndefined();
  }, 120_000);
});
