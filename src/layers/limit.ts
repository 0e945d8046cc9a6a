import pLimit, { type LimitFunction } from 'p-limit';
import { availableParallelism } from 'node:os';

/**
 * A limiter for writing several layers at once. Each gzip layer already
 * spreads its blocks over the libuv threadpool (UV_THREADPOOL_SIZE, 4 by
 * default), so running more layers than cores only adds memory and
 * contention. Create one limiter per build and wrap every `writeLayer` call:
 *
 * ```ts
 * const limit = createLayerLimit();
 * await Promise.all(jobs.map((j) => limit(() => writeLayer(j.entries, j.out))));
 * ```
 *
 * @param concurrency layers written at once; default: the number of cores, at least 1.
 */
export function createLayerLimit(concurrency = availableParallelism()): LimitFunction {
  return pLimit(Math.max(1, Math.floor(concurrency)));
}
