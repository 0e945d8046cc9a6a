/**
 * A build of one Dockerfile in a fresh context directory, into a store, reporting which steps hit
 * the cache: for the tests of what a step is keyed by (test/e2e/add-*-cache.test.ts).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build, Store, type BuildOptions, type BuildResult, type ProgressEvent } from '../../src/index.js';

/** Each step's `cached` flag, in vertex order. */
export function cachedSteps(events: ProgressEvent[]): boolean[] {
  const steps = new Set(events.filter((e) => e.type === 'vertex.started' && e.kind === 'step').map((e) => e.vertex));
  return events
    .filter((e): e is Extract<ProgressEvent, { type: 'vertex.completed' }> => e.type === 'vertex.completed' && steps.has(e.vertex))
    .sort((a, b) => (a.vertex < b.vertex ? -1 : 1))
    .map((e) => e.cached);
}

/** Builds `dockerfile` (a context of its own under `tmp`) into the store at `storeRoot`, for linux/amd64. */
export async function buildOnce(tmp: string, dockerfile: string, storeRoot: string, extra: Partial<BuildOptions> = {}): Promise<{ result: BuildResult; cached: boolean[] }> {
  const ctx = await mkdtemp(path.join(tmp, 'ctx-'));
  await writeFile(path.join(ctx, 'Dockerfile'), dockerfile);
  const events: ProgressEvent[] = [];
  const result = await build({ context: ctx, store: await Store.open(storeRoot), env: {}, platforms: ['linux/amd64'], onProgress: (e) => events.push(e), ...extra });
  return { result, cached: cachedSteps(events) };
}
