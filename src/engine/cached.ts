/**
 * The cache protocol, written once for every step kind: ask the executor for
 * its key; a key the cache has is a hit (the recorded layer, with the step's
 * config change and history); otherwise execute and record the result under
 * the key (or the key the outcome names, when it was known only after the
 * step ran). Each step looks itself up: a miss never turns later lookups off.
 *
 * Builds that run at once over one store (the services of a compose file)
 * share `StepFlights`: a build reaching a key another one is building waits
 * for it, then looks it up (a hit), so a shared step runs once.
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

/**
 * Cache keys being looked up or built right now, shared by concurrent builds
 * (single flight): `acquire` waits while another build holds the key, then
 * holds it until `release`. A step whose cache key is known only after it
 * ran is held under its flight (`StepKey.flight`); the build that ran it
 * `resolve`s the flight to the key it recorded, so the next holder can look
 * that key up.
 */
export interface StepFlights {
  acquire(key: string, signal: AbortSignal): Promise<FlightHold>;
}

/** A key (or flight) held by one build. */
export interface FlightHold {
  /** The cache key an earlier holder of this flight recorded, if any. */
  resolved?: string;
  /** Records the cache key the work of this flight was recorded under. */
  resolve(key: string): void;
  release(): void;
}

/** A fresh set of in-flight keys, for builds that are to share their steps. */
export function createStepFlights(): StepFlights {
  const held = new Map<string, Promise<void>>();
  const resolved = new Map<string, string>();
  return {
    async acquire(key, signal) {
      for (let current = held.get(key); current; current = held.get(key)) {
        signal.throwIfAborted();
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(signal.reason);
          signal.addEventListener('abort', onAbort, { once: true });
          void current!.then(() => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          });
        });
      }
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      held.set(key, mine);
      const earlier = resolved.get(key);
      return {
        ...(earlier !== undefined ? { resolved: earlier } : {}),
        resolve: (k) => void resolved.set(key, k),
        release: () => {
          if (held.get(key) === mine) held.delete(key);
          release();
        },
      };
    },
  };
}

/** A step runner: an executor with the cache protocol around it. */
export type CachedExecutor<S extends Step = Step> = (ctx: StepContext<S>) => Promise<CachedOutcome>;

/**
 * Wraps `executor` with `cache` (none: --no-cache, every step executes and
 * nothing is recorded). `now` dates the records (the clock enters at build()).
 * With `flights`, a key is looked up and built by one build at a time.
 */
export function withCache<S extends Step>(executor: Executor<S>, cache: StepCache | undefined, now: () => Date, flights?: StepFlights): CachedExecutor<S> {
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
    const flight = k.key ?? k.flight;
    const hold = flight !== undefined && flights ? await flights.acquire(flight, ctx.signal) : undefined;
    try {
      const lookup = k.key ?? hold?.resolved;
      if (lookup !== undefined) {
        const hit = await cache.get(lookup);
        if (hit) {
          ctx.signal.throwIfAborted();
          const layer: Layer | undefined = hit.layer ? { ...hit.layer } : undefined;
          return {
            ...executor.reuse(ctx, layer),
            cached: true,
            cacheKey: lookup,
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
        hold?.resolve(key);
      }
      return { ...outcome, cached: false, ...(key !== undefined ? { cacheKey: key, record } : {}), ...mergeExplain(k.explain, outcome.explain) };
    } finally {
      hold?.release();
    }
  };
}

function mergeExplain(a: ExplainInputs | undefined, b: ExplainInputs | undefined): { explain?: ExplainInputs } {
  if (!a && !b) return {};
  return { explain: { ...(a ?? {}), ...(b ?? {}) } };
}
