/**
 * The cache protocol, written once for every step kind: ask the executor for
 * its key; a key the cache has is a hit (the recorded layer, with the step's
 * config change and history); otherwise execute and record the result under
 * the key (or the key the outcome names, when it was known only after the
 * step ran). Each step looks itself up: a miss never turns later lookups off.
 */
import type { StepCache, StepRecord } from '../cache/step-cache.js';
import type { Layer } from '../image/state.js';
import type { Executor, ExplainInputs, StepContext, StepOutcome } from './step.js';
import type { Step } from '../graph/types.js';

/** How a step's result was obtained, for progress and `--explain`. */
export interface CachedOutcome extends StepOutcome {
  /** True when the layer came from the step cache. */
  cached: boolean;
  /** The key the step was looked up or recorded under (undefined: not cacheable). */
  cacheKey?: string;
  /** Why the step is not cacheable, when it is not. */
  uncacheable?: string;
  /** The step's inputs, for `--explain`. */
  explain?: ExplainInputs;
  /** For a hit from a remote cache: which one (its reference or directory). */
  remote?: string;
  /** What the cache holds (hit) or was given (miss) under `cacheKey`. */
  record?: StepRecord;
}

/** A step runner: an executor with the cache protocol around it. */
export type CachedExecutor<S extends Step = Step> = (ctx: StepContext<S>) => Promise<CachedOutcome>;

/**
 * Wraps `executor` with `cache` (none: --no-cache, every step executes and
 * nothing is recorded). `now` dates the records (the clock enters at build()).
 */
export function withCache<S extends Step>(executor: Executor<S>, cache: StepCache | undefined, now: () => Date): CachedExecutor<S> {
  return async (ctx) => {
    if (!cache) {
      const outcome = await executor.execute(ctx);
      return { ...outcome, cached: false, uncacheable: 'the cache is off (--no-cache)' };
    }
    const k = await executor.key(ctx);
    if (!k.cacheable) {
      const outcome = await executor.execute(ctx);
      return { ...outcome, cached: false, uncacheable: k.reason, ...mergeExplain(k.explain, outcome.explain) };
    }
    if (k.key !== undefined) {
      const hit = await cache.get(k.key);
      if (hit) {
        ctx.signal.throwIfAborted();
        const layer: Layer | undefined = hit.layer ? { ...hit.layer } : undefined;
        return {
          ...executor.reuse(ctx, layer),
          cached: true,
          cacheKey: k.key,
          record: hit,
          ...(hit.source !== undefined ? { remote: hit.source } : {}),
          ...mergeExplain(k.explain, undefined),
        };
      }
    }
    const outcome = await executor.execute(ctx);
    const key = outcome.key ?? k.key;
    let record: StepRecord | undefined;
    if (key !== undefined) {
      record = { ...(outcome.layer ? { layer: outcome.layer } : {}), configChange: null, created: now().toISOString() };
      await cache.put(key, record);
    }
    return { ...outcome, cached: false, ...(key !== undefined ? { cacheKey: key, record } : {}), ...mergeExplain(k.explain, outcome.explain) };
  };
}

function mergeExplain(a: ExplainInputs | undefined, b: ExplainInputs | undefined): { explain?: ExplainInputs } {
  if (!a && !b) return {};
  return { explain: { ...(a ?? {}), ...(b ?? {}) } };
}
