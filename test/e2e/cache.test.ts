/**
 * The step cache: an unchanged COPY reuses its layer from the store (same
 * bytes, same image digest); a changed file misses from its step on, as
 * BuildKit does; --no-cache neither looks up nor records.
 */
import { cp, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build, type ProgressEvent } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { StatCache } from '../../src/cache/stat-cache.js';
import { runCli } from '../cli-io.js';

const FIXTURE = path.resolve('fixtures/builds/copy-basics');

describe('step cache', () => {
  let tmp: string;
  let ctx: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-cache-'));
    ctx = path.join(tmp, 'ctx');
    await cp(path.join(FIXTURE, 'context'), ctx, { recursive: true, verbatimSymlinks: true });
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** Per step vertex (COPY, ADD, WORKDIR), in order: `<stage>:<cached>`. */
  function stepVertices(events: ProgressEvent[]): { stage: string; cached: boolean }[] {
    const started = new Set(events.filter((e) => e.type === 'vertex.started' && e.kind === 'step').map((e) => e.vertex));
    return events
      .filter((e): e is Extract<ProgressEvent, { type: 'vertex.completed' }> => e.type === 'vertex.completed' && started.has(e.vertex))
      .map((e) => ({ stage: e.vertex.split(':')[2]!, cached: e.cached }));
  }

  async function run(store: Store, noCache = false) {
    const events: ProgressEvent[] = [];
    const result = await build({ context: ctx, file: path.join(FIXTURE, 'Dockerfile'), store, env: { SOURCE_DATE_EPOCH: '1700000000' }, platforms: ['linux/amd64'], noCache, onProgress: (e) => events.push(e) });
    return { digest: result.descriptor.digest, cached: stepVertices(events).map((l) => l.cached) };
  }

  it('hits for unchanged steps, misses from a changed one on, and gives the same image', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const first = await run(store);
    expect(first.cached.every((c) => !c)).toBe(true);
    const second = await run(store);
    expect(second.digest).toBe(first.digest);
    // COPY layers hit; WORKDIR layers are recomputed (cheap) and equal
    expect(second.cached).toEqual([true, true, true, true, false, true, true, true]);
    // b.txt is read by the 2nd COPY (b.txt /data/), the glob COPY and the last one
    await writeFile(path.join(ctx, 'b.txt'), 'two, changed\n');
    const third = await run(store);
    expect(third.digest).not.toBe(first.digest);
    expect(third.cached).toEqual([true, false, false, false, false, false, false, false]);
    const none = await run(store, true);
    expect(none.cached.every((c) => !c)).toBe(true);
    expect(none.digest).toBe(third.digest);
  });

  it('a same-size edit with the mtime put back is still seen (the stat key has ctime and inode)', async () => {
    const store = await Store.open(path.join(tmp, 'store-stat'));
    const a = path.join(ctx, 'a.txt');
    const first = await run(store);
    const st = await stat(a);
    await writeFile(a, 'ONE\n'); // same size as 'one\n'
    await utimes(a, st.atime, st.mtime);
    const second = await run(store);
    expect(second.cached[0]).toBe(false);
    expect(second.digest).not.toBe(first.digest);
    await writeFile(a, 'one\n');
  });

  it('COPY --from a stage hits without unpacking it; the stat cache holds context files only', async () => {
    const fixture = path.resolve('fixtures/builds/parallel-stages');
    const store = await Store.open(path.join(tmp, 'store-from'));
    const go = async () => {
      const events: ProgressEvent[] = [];
      const r = await build({ context: path.join(fixture, 'context'), file: path.join(fixture, 'Dockerfile'), store, env: {}, platforms: ['linux/amd64'], onProgress: (e) => events.push(e) });
      return { digest: r.descriptor.digest, cached: stepVertices(events).map((e) => `${e.stage}:${e.cached}`) };
    };
    const first = await go();
    const second = await go();
    expect(second.digest).toBe(first.digest);
    // stage 0: COPY, WORKDIR (recomputed); stage 1: COPY; stage 2: two COPY --from
    expect(second.cached.sort()).toEqual(['0:false', '0:true', '1:true', '2:true', '2:true']);
    const statFiles = (await StatCache.load(path.join(store.root, 'statcache'))).files();
    expect(statFiles.length).toBeGreaterThan(0);
    expect(statFiles.every((f) => f.startsWith(path.join(fixture, 'context') + path.sep))).toBe(true);
  });

  it('the CLI says CACHED, and --no-cache turns it off', async () => {
    const store = path.join(tmp, 'cli-store');
    const args = [ctx, '-f', path.join(FIXTURE, 'Dockerfile'), '--store', store];
    await runCli(args);
    const warm = await runCli(args);
    // BuildKit's plain progress: `#N CACHED` (issue 9).
    expect(warm.stderr).toMatch(/^#\d+ CACHED$/m);
    const cold = await runCli([...args, '--no-cache']);
    expect(cold.code).toBe(0);
    expect(cold.stderr).not.toMatch(/CACHED/);
    expect(cold.stdout).toBe(warm.stdout);
  });
});
