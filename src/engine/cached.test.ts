import type { StepCache, StepRecord } from '../cache/step-cache.js';
import type { EnvStep } from '../graph/types.js';
import { initialConfigState } from '../graph/config.js';
import type { Layer } from '../image/state.js';
import type { Digest } from '../oci/digest.js';
import { createStepFlights, withCache } from './cached.js';
import type { Executor, StepContext, StepKey, StepOutcome } from './step.js';

const layer = (n: string): Layer => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${n.repeat(64)}` as Digest, size: 10, diffId: `sha256:${n.repeat(64)}` as Digest });
const config = initialConfigState();

function memoryCache(): StepCache & { records: Map<string, StepRecord>; gets: string[] } {
  const records = new Map<string, StepRecord>();
  const gets: string[] = [];
  return {
    records,
    gets,
    async get(k) {
      gets.push(k);
      return records.get(k);
    },
    async put(k, r) {
      records.set(k, r);
    },
  };
}

function executor(key: StepKey, outcome: Partial<StepOutcome> = {}): Executor<EnvStep> & { executed: number } {
  const e = {
    executed: 0,
    async key() {
      return key;
    },
    async execute() {
      e.executed++;
      return { config, layer: layer('b'), ...outcome };
    },
    reuse(_ctx: StepContext<EnvStep>, l: Layer | undefined) {
      return { config, ...(l ? { layer: l } : {}), history: { created_by: 'reused' } };
    },
  };
  return e;
}

const ctx = { signal: new AbortController().signal } as unknown as StepContext<EnvStep>;
const now = () => new Date(0);

describe('withCache', () => {
  it('says which remote cache a hit came from, and hands its record on (issue 12)', async () => {
    const cache = memoryCache();
    cache.records.set('k9', { layer: layer('c'), configChange: null, created: 'then', source: 'reg.example.com/app:cache' });
    const ex = executor({ cacheable: true, key: 'k9' });
    const hit = await withCache(ex, cache, now)(ctx);
    expect(hit).toMatchObject({ cached: true, remote: 'reg.example.com/app:cache', record: { layer: layer('c'), created: 'then' } });
    expect(ex.executed).toBe(0);
    const miss = await withCache(executor({ cacheable: true, key: 'k10' }), cache, now)(ctx);
    expect(miss.remote).toBeUndefined();
    expect(miss.record).toEqual(cache.records.get('k10'));
  });

  it('executes and records a miss, then reuses the recorded layer', async () => {
    const cache = memoryCache();
    const ex = executor({ cacheable: true, key: 'k1' });
    const first = await withCache(ex, cache, now)(ctx);
    expect(first).toMatchObject({ cached: false, cacheKey: 'k1', layer: layer('b') });
    expect(cache.records.get('k1')).toEqual({ layer: layer('b'), configChange: null, created: '1970-01-01T00:00:00.000Z' });
    const second = await withCache(ex, cache, now)(ctx);
    expect(second).toMatchObject({ cached: true, cacheKey: 'k1', layer: layer('b'), history: { created_by: 'reused' } });
    expect(ex.executed).toBe(1);
  });

  it('records a key known only after the step ran under that key', async () => {
    const cache = memoryCache();
    const ex = executor({ cacheable: true }, { key: 'late' });
    const r = await withCache(ex, cache, now)(ctx);
    expect(cache.gets).toEqual([]); // nothing to look up before
    expect(r).toMatchObject({ cached: false, cacheKey: 'late' });
    expect(cache.records.has('late')).toBe(true);
  });

  it('records under the key the outcome names when it differs from the one looked up', async () => {
    const cache = memoryCache();
    const r = await withCache(executor({ cacheable: true, key: 'before' }, { key: 'after' }), cache, now)(ctx);
    expect(cache.gets).toEqual(['before']);
    expect([...cache.records.keys()]).toEqual(['after']);
    expect(r.cacheKey).toBe('after');
  });

  it('neither looks up nor records an uncacheable step, and says why', async () => {
    const cache = memoryCache();
    const r = await withCache(executor({ cacheable: false, reason: 'config only' }), cache, now)(ctx);
    expect(r).toMatchObject({ cached: false, uncacheable: 'config only' });
    expect(cache.gets).toEqual([]);
    expect(cache.records.size).toBe(0);
  });

  it('without a cache (--no-cache) only executes', async () => {
    const ex = executor({ cacheable: true, key: 'k' });
    const r = await withCache(ex, undefined, now)(ctx);
    expect(r).toMatchObject({ cached: false, uncacheable: 'the cache is off (--no-cache)' });
    expect(ex.executed).toBe(1);
  });

  it('each step looks itself up: a miss does not turn later lookups off', async () => {
    const cache = memoryCache();
    cache.records.set('k3', { layer: layer('c'), configChange: null, created: 'x' });
    const run = withCache(executor({ cacheable: true, key: 'k2' }), cache, now);
    expect((await run(ctx)).cached).toBe(false);
    const later = await withCache(executor({ cacheable: true, key: 'k3' }), cache, now)(ctx);
    expect(later).toMatchObject({ cached: true, layer: layer('c') });
    expect(cache.gets).toEqual(['k2', 'k3']);
  });

  it('carries the explain inputs of the key and of the outcome', async () => {
    const cache = memoryCache();
    const r = await withCache(executor({ cacheable: true, explain: { source: 's' } }, { key: 'k', explain: { files: { a: '1' } } }), cache, now)(ctx);
    expect(r.explain).toEqual({ source: 's', files: { a: '1' } });
  });

  describe('shared by concurrent builds (StepFlights, issue 12)', () => {
    /** An executor whose execute waits until `go()` is called. */
    function slowExecutor(key: string) {
      const ex = executor({ cacheable: true, key });
      let go!: () => void;
      const gate = new Promise<void>((r) => (go = r));
      const execute = ex.execute.bind(ex);
      ex.execute = async (c: StepContext<EnvStep>) => {
        await gate;
        return execute(c);
      };
      return { ex, go };
    }

    it('a key being built by one build is waited for, then hit, by the other: executed once', async () => {
      const cache = memoryCache();
      const flights = createStepFlights();
      const { ex, go } = slowExecutor('shared');
      const a = withCache(ex, cache, now, flights)(ctx);
      const b = withCache(ex, cache, now, flights)(ctx);
      await new Promise((r) => setTimeout(r, 10));
      go();
      const [ra, rb] = await Promise.all([a, b]);
      expect(ex.executed).toBe(1);
      expect([ra.cached, rb.cached].sort()).toEqual([false, true]);
      expect(rb.layer).toEqual(ra.layer);
    });

    it('a step whose key is known only after it ran is shared by its flight: the next build hits the key the first recorded', async () => {
      const cache = memoryCache();
      const flights = createStepFlights();
      const { ex, go } = slowExecutor('unused');
      ex.key = async () => ({ cacheable: true, flight: 'f1' });
      const execute = ex.execute.bind(ex);
      ex.execute = async (c: StepContext<EnvStep>) => ({ ...(await execute(c)), key: 'late-key' });
      const a = withCache(ex, cache, now, flights)(ctx);
      const b = withCache(ex, cache, now, flights)(ctx);
      await new Promise((r) => setTimeout(r, 10));
      go();
      const [ra, rb] = await Promise.all([a, b]);
      expect(ex.executed).toBe(1);
      expect([ra, rb].map((r) => [r.cached, r.cacheKey])).toEqual([
        [false, 'late-key'],
        [true, 'late-key'],
      ]);
    });

    it('without flights both builds miss and execute (what flights prevent)', async () => {
      const cache = memoryCache();
      const { ex, go } = slowExecutor('shared');
      const a = withCache(ex, cache, now)(ctx);
      const b = withCache(ex, cache, now)(ctx);
      await new Promise((r) => setTimeout(r, 10));
      go();
      await Promise.all([a, b]);
      expect(ex.executed).toBe(2);
    });

    it('different keys do not wait for each other; a failed holder lets the next one build', async () => {
      const cache = memoryCache();
      const flights = createStepFlights();
      const { ex, go } = slowExecutor('k1');
      const slow = withCache(ex, cache, now, flights)(ctx);
      expect((await withCache(executor({ cacheable: true, key: 'k2' }), cache, now, flights)(ctx)).cached).toBe(false);
      go();
      await slow;
      const failing = executor({ cacheable: true, key: 'k3' });
      failing.execute = async () => {
        throw new Error('boom');
      };
      await expect(withCache(failing, cache, now, flights)(ctx)).rejects.toThrow('boom');
      const next = executor({ cacheable: true, key: 'k3' });
      expect((await withCache(next, cache, now, flights)(ctx)).cached).toBe(false);
      expect(next.executed).toBe(1);
    });

    it('a build waiting for a key stops when its signal aborts', async () => {
      const cache = memoryCache();
      const flights = createStepFlights();
      const { ex, go } = slowExecutor('k');
      const holder = withCache(ex, cache, now, flights)(ctx);
      const ac = new AbortController();
      const waiting = withCache(executor({ cacheable: true, key: 'k' }), cache, now, flights)({ signal: ac.signal } as unknown as StepContext<EnvStep>);
      ac.abort(new Error('stopped'));
      await expect(waiting).rejects.toThrow('stopped');
      go();
      await holder;
    });
  });
});
