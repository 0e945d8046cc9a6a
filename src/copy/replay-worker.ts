/**
 * The copy memo's replay helper thread (src/copy/replay-helper.ts starts it):
 * makes the build context again from its recipe and answers segments of a
 * replay from the back while the building thread answers from the front
 * (src/copy/observed.ts), each segment with the same code as there.
 */
import { parentPort } from 'node:worker_threads';
import { claimSegment, segmentDigest, stopClaims } from './observed.js';
import { sourceFsFromRecipe } from './recipe.js';
import type { SourceFs, SourceRecipe } from './types.js';

/** One replay: what the building thread posts. */
export interface ReplayJob {
  id: number;
  recipe: SourceRecipe;
  questions: string[];
  digests: string[];
  claims: Int32Array;
}

/** Its answer: the digest of each segment this thread claimed (undefined: a question it could not answer). */
export interface ReplayDone {
  id: number;
  results: [number, string | undefined][];
}

const sources = new Map<string, SourceFs>();

async function answer(job: ReplayJob): Promise<ReplayDone> {
  const results: [number, string | undefined][] = [];
  const key = JSON.stringify(job.recipe);
  let fs = sources.get(key);
  if (!fs) sources.set(key, (fs = sourceFsFromRecipe(job.recipe)));
  for (let seg = claimSegment(job.claims, true); seg >= 0; seg = claimSegment(job.claims, true)) {
    const d = await segmentDigest(fs, job.questions, seg);
    results.push([seg, d]);
    // A difference: the building thread need not ask the rest either.
    if (d !== job.digests[seg]) stopClaims(job.claims);
  }
  return { id: job.id, results };
}

parentPort?.on('message', (job: ReplayJob) => {
  answer(job).then(
    (done) => parentPort!.postMessage(done),
    // Whatever it claimed is answered by the building thread instead.
    () => parentPort!.postMessage({ id: job.id, results: [] } satisfies ReplayDone),
  );
});
