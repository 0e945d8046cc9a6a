/**
 * Runs the stages of a graph as soon as the stages they depend on are done,
 * so independent stages build (and compress their layers) at the same time,
 * at most `concurrency` at once. The first failure aborts the others (through
 * the signal `run` receives) and is what the scheduler throws.
 */
import { createLayerLimit } from '../layers/index.js';

/** A stage as the scheduler sees it. */
export interface SchedulableStage {
  index: number;
  dependsOn: readonly number[];
}

/** Options of {@link scheduleStages}. */
export interface ScheduleOptions {
  /** Stages running at once (at least 1). */
  concurrency: number;
  /** The build's signal; aborting it stops stages not yet started. */
  signal?: AbortSignal;
}

/**
 * Runs `run` for every stage of `order` (and the stages they depend on),
 * each after its dependencies. Returns each stage's result by index.
 */
export async function scheduleStages<S extends SchedulableStage, R>(
  stages: readonly S[],
  order: readonly number[],
  run: (stage: S, signal: AbortSignal) => Promise<R>,
  options: ScheduleOptions,
): Promise<Map<number, R>> {
  const byIndex = new Map(stages.map((s) => [s.index, s]));
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const results = new Map<number, R>();
  const running = new Map<number, Promise<void>>();
  const limit = createLayerLimit(Math.max(1, options.concurrency));
  const start = (index: number): Promise<void> => {
    let p = running.get(index);
    if (!p) {
      const stage = byIndex.get(index);
      if (!stage) throw new Error(`graph order names stage ${index}, which is not in the graph`);
      p = (async () => {
        await Promise.all(stage.dependsOn.map(start));
        signal.throwIfAborted();
        results.set(index, await limit(() => {
          signal.throwIfAborted();
          return run(stage, signal);
        }));
      })();
      running.set(index, p);
    }
    return p;
  };
  try {
    await Promise.all(order.map(start));
  } catch (e) {
    stop.abort(e);
    await Promise.allSettled(running.values());
    throw e;
  }
  return results;
}
