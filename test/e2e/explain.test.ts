/**
 * `--explain` (issue 9): every step says hit or miss, and a miss says what
 * changed since the last build of the same stage under the same tag: the
 * files, a build arg, the parent step, the instruction text, the stage copied
 * from; or that nothing changed and the result left the cache.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build, type ExplainEntry } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { runCli } from '../cli-io.js';

const DOCKERFILE = `FROM scratch AS dep
COPY d.txt /d

FROM scratch
ARG V=1
COPY a.txt /a
COPY b.txt /b
ENV X=1
COPY --from=dep /d /d
COPY c.txt /c
`;

describe('--explain', () => {
  let tmp: string;
  let ctx: string;
  let store: Store;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-explain-'));
    ctx = path.join(tmp, 'ctx');
    await import('node:fs/promises').then((fs) => fs.mkdir(ctx));
    for (const f of ['a', 'b', 'c', 'd']) await writeFile(path.join(ctx, `${f}.txt`), `${f}\n`);
    store = await Store.open(path.join(tmp, 'store'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function explain(dockerfile = DOCKERFILE, buildArgs: Record<string, string> = {}, tag = 'app:1'): Promise<ExplainEntry[]> {
    const r = await build({ context: ctx, dockerfile, store, env: {}, platforms: ['linux/amd64'], tags: [tag], buildArgs, explain: true });
    return r.explain!;
  }
  const step = (entries: ExplainEntry[], text: string) => {
    const e = entries.find((x) => x.instruction === text);
    if (!e) throw new Error(`no step ${text} in ${entries.map((x) => x.instruction).join(' | ')}`);
    return e;
  };

  it('says every step of a first build missed because there was no earlier build, and config steps are not cached', async () => {
    const e = await explain();
    expect(e.map((x) => x.instruction)).toEqual(['COPY d.txt /d', 'ARG V=1', 'COPY a.txt /a', 'COPY b.txt /b', 'ENV X=1', 'COPY --from=dep /d /d', 'COPY c.txt /c']);
    expect(step(e, 'COPY a.txt /a')).toMatchObject({ cached: false, reasons: [{ kind: 'first-build' }], line: 6, stage: '1' });
    expect(step(e, 'ENV X=1')).toMatchObject({ cached: false, uncacheable: 'changes the image config only' });
  });

  it('says CACHED for an unchanged rebuild', async () => {
    const e = await explain();
    for (const text of ['COPY d.txt /d', 'COPY a.txt /a', 'COPY b.txt /b', 'COPY --from=dep /d /d', 'COPY c.txt /c']) expect(step(e, text).cached).toBe(true);
  });

  it('names the files whose content changed, and the parent step for the steps after it', async () => {
    await writeFile(path.join(ctx, 'b.txt'), 'B\n');
    const e = await explain();
    expect(step(e, 'COPY a.txt /a').cached).toBe(true);
    expect(step(e, 'COPY b.txt /b').reasons).toEqual([{ kind: 'files', changed: ['b.txt'], added: [], removed: [] }]);
    expect(step(e, 'COPY c.txt /c').reasons).toEqual([{ kind: 'parent', step: 'COPY --from=dep /d /d' }]);
  });

  it('names a file whose metadata (mode) changed', async () => {
    await import('node:fs/promises').then((fs) => fs.chmod(path.join(ctx, 'a.txt'), 0o600));
    const e = await explain();
    expect(step(e, 'COPY a.txt /a').reasons).toEqual([{ kind: 'files', changed: ['a.txt'], added: [], removed: [] }]);
  });

  it('names the build arg that changed', async () => {
    const e = await explain(DOCKERFILE, { V: '2' });
    const reasons = step(e, 'COPY a.txt /a').reasons!;
    expect(reasons).toContainEqual({ kind: 'build-arg', name: 'V', before: '1', after: '2' });
  });

  it('says the instruction text changed', async () => {
    await explain(DOCKERFILE);
    const e = await explain(DOCKERFILE.replace('COPY c.txt /c', 'COPY c.txt /cc'));
    expect(step(e, 'COPY c.txt /cc').reasons).toEqual([{ kind: 'instruction', before: 'COPY c.txt /c', after: 'COPY c.txt /cc' }]);
  });

  it('says the stage copied from changed', async () => {
    await explain(DOCKERFILE);
    await writeFile(path.join(ctx, 'd.txt'), 'D\n');
    const e = await explain(DOCKERFILE);
    expect(step(e, 'COPY --from=dep /d /d').reasons).toEqual([expect.objectContaining({ kind: 'source' })]);
  });

  it('says when nothing changed but the result is no longer in the cache, and compares per tag', async () => {
    await explain(DOCKERFILE);
    await rm(path.join(store.root, 'steps'), { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(path.join(store.root, 'steps')));
    const e = await explain(DOCKERFILE);
    expect(step(e, 'COPY a.txt /a').reasons).toEqual([{ kind: 'not-in-cache' }]);
    const other = await explain(DOCKERFILE, {}, 'other:1');
    expect(step(other, 'COPY a.txt /a')).toMatchObject({ cached: true });
    await writeFile(path.join(ctx, 'a.txt'), 'A\n');
    expect(step(await explain(DOCKERFILE, {}, 'other:2'), 'COPY a.txt /a').reasons).toEqual([{ kind: 'first-build' }]);
  });

  it('a hit from the copy memo under a new tag records its files, hashing those the stat cache no longer knows', async () => {
    await explain(DOCKERFILE, {}, 'memo:0');
    // The memo still answers (the context is as before); the stat cache is gone.
    await rm(path.join(store.root, 'statcache'), { recursive: true, force: true });
    const first = await explain(DOCKERFILE, {}, 'memo:1');
    expect(step(first, 'COPY b.txt /b')).toMatchObject({ cached: true });
    // The list recorded under memo:1 has the right digests: one changed file is named, the others are not.
    await writeFile(path.join(ctx, 'b.txt'), 'b, changed again\n');
    const next = await explain(DOCKERFILE, {}, 'memo:1');
    expect(step(next, 'COPY a.txt /a').cached).toBe(true);
    expect(step(next, 'COPY b.txt /b').reasons).toEqual([{ kind: 'files', changed: ['b.txt'], added: [], removed: [] }]);
  });

  it('the CLI prints it with --explain', async () => {
    await writeFile(path.join(tmp, 'Dockerfile'), DOCKERFILE);
    const args = [ctx, '-f', path.join(tmp, 'Dockerfile'), '--store', store.root, '-t', 'app:1', '--explain'];
    await runCli(args);
    await writeFile(path.join(ctx, 'c.txt'), 'C\n');
    const r = await runCli(args);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/line 6: COPY a.txt \/a: CACHED/);
    expect(r.stderr).toMatch(/line 10: COPY c.txt \/c: MISS\n\s+input files changed \(changed: c.txt\)/);
    expect(r.stderr).toMatch(/ENV X=1: not cached \(changes the image config only\)/);
  });
});
