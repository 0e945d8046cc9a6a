import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StatCache } from '../../cache/stat-cache.js';
import { ExplainFilesJson } from '../../cache/step-cache.js';
import { Store } from '../../cache/store.js';
import { contextSourceFs } from '../../copy/index.js';
import { applyConfigStep, initialConfigState } from '../../graph/config.js';
import type { CopyStep, EnvStep, RunStep, Stage, Step, WorkdirStep } from '../../graph/types.js';
import { emptyImage } from '../../image/state.js';
import type { ProgressEvent } from '../progress.js';
import type { ExplainInputs, StepContext } from '../step.js';
import { executors } from './index.js';

const range = { start: { line: 2, column: 1, offset: 10 }, end: { line: 2, column: 9, offset: 18 } };
const common = { range, env: [], args: [] };

describe('step executors', () => {
  let tmp: string;
  let store: Store;
  let contextDir: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-steps-'));
    store = await Store.open(path.join(tmp, 'store'));
    contextDir = path.join(tmp, 'ctx');
    await import('node:fs/promises').then((fs) => fs.mkdir(contextDir));
    await writeFile(path.join(contextDir, 'a.txt'), 'a\n');
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  function context<S extends Step>(step: S, events: ProgressEvent[] = [], statCache?: StatCache): StepContext<S> & { dispose(): Promise<void> } {
    const config = initialConfigState();
    const stage: Stage = { index: 0, base: { kind: 'scratch' }, steps: [step], dependsOn: [], range, original: 'FROM scratch' };
    const disposers: (() => Promise<void> | void)[] = [];
    const vertex = 'step:test';
    return {
      step,
      index: 0,
      stage,
      platform: { os: 'linux', architecture: 'amd64' },
      image: emptyImage({ os: 'linux', architecture: 'amd64' }, config.config),
      config,
      configAfter: applyConfigStep(config, step),
      args: step.args,
      chain: 'c'.repeat(64),
      inputs: {
        sourceFs: async () => contextSourceFs(contextDir),
        sourceIdentity: async () => undefined,
        ...(statCache ? { statCache: async () => statCache } : {}),
      },
      rootfs: { view: async () => undefined, unpacked: async () => [] },
      store,
      settings: { contextDir, file: 'Dockerfile', created: '1970-01-01T00:00:00Z', sourceDateEpoch: 0 },
      async tempDir(prefix) {
        const d = await store.tempDir(prefix);
        disposers.push(() => rm(d, { recursive: true, force: true }));
        return d;
      },
      defer: (fn) => disposers.push(fn),
      signal: new AbortController().signal,
      progress: {
        vertex,
        status: (id, current, total, completed) => events.push({ type: 'status', time: 0, vertex, id, current, ...(total !== undefined ? { total } : {}), ...(completed ? { completed } : {}) }),
        log: () => undefined,
        emit: (e) => events.push(e),
      },
      async dispose() {
        for (const fn of disposers.reverse()) await fn();
      },
    };
  }

  it('has an executor for every step kind', () => {
    const kinds: Step['kind'][] = ['run', 'copy', 'add', 'workdir', 'env', 'label', 'maintainer', 'expose', 'user', 'volume', 'stopsignal', 'healthcheck', 'shell', 'cmd', 'entrypoint', 'arg', 'onbuild'];
    expect(Object.keys(executors).sort()).toEqual([...kinds].sort());
  });

  it('config steps: not cacheable, the config change and a history entry, no layer', async () => {
    const step: EnvStep = { ...common, kind: 'env', original: 'ENV A=1', pairs: [{ key: 'A', value: '1' }] };
    const ctx = context(step);
    expect(await executors.env.key(ctx)).toEqual({ cacheable: false, reason: 'changes the image config only' });
    const out = await executors.env.execute(ctx);
    expect(out.layer).toBeUndefined();
    expect(out.config.config.Env).toContain('A=1');
    expect(out.history).toEqual({ created: '1970-01-01T00:00:00Z', created_by: 'ENV A=1', comment: 'buildkit.dockerfile.v0' });
  });

  it('WORKDIR writes its directories as a layer, reporting the bytes written; `/` makes none', async () => {
    const events: ProgressEvent[] = [];
    const step: WorkdirStep = { ...common, kind: 'workdir', original: 'WORKDIR /app/x', path: '/app/x' };
    const out = await executors.workdir.execute(context(step, events));
    expect(out.layer).toMatchObject({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    expect(await store.has(out.layer!.digest)).toBe(true);
    expect(out.config.config.WorkingDir).toBe('/app/x');
    expect(events.at(-1)).toMatchObject({ type: 'status', id: 'layer:step:test', current: out.layer!.size, total: out.layer!.size, completed: true });
    const root = await executors.workdir.execute(context({ ...step, original: 'WORKDIR /', path: '/' }));
    expect(root.layer).toBeUndefined();
    expect(root.history?.created_by).toBe('WORKDIR /');
  });

  it('COPY from the context: the key is known before the step once the stat cache knows the files, and equals the one recorded', async () => {
    const step: CopyStep = { ...common, kind: 'copy', original: 'COPY a.txt /', sources: ['a.txt'], inline: [], dest: '/', from: { kind: 'context' }, link: false, parents: false, exclude: [], keepGitDir: false, dependsOn: [] };
    const stat = await StatCache.load(path.join(tmp, 'stat.json'));
    const first = context(step, [], stat);
    expect(await executors.copy.key(first)).toEqual({ cacheable: true, flight: expect.stringMatching(/^[0-9a-f]{64}$/) }); // no key yet: concurrent builds share the work by its flight
    const out = await executors.copy.execute(first);
    await first.dispose();
    expect(out.key).toMatch(/^[0-9a-f]{64}$/);
    // The explain files are computed when asked for (a function), or given as they are.
    // (A list may come as the JSON text the explain log keeps: compared as the object it says.)
    const files = (e: ExplainInputs | undefined) => {
      const list = typeof e?.files === 'function' ? e.files() : e?.files;
      return list instanceof ExplainFilesJson ? list.parse() : list;
    };
    expect(Object.keys(files(out.explain) as Record<string, string>)).toEqual(['a.txt']);
    // Without the copy memo (tested below), the stat cache gives the key.
    await rm(path.join(store.root, 'copymemo'), { recursive: true, force: true });
    const second = context(step, [], stat);
    const k = await executors.copy.key(second);
    await second.dispose();
    expect({ ...k, explain: { files: files(k.explain) } }).toEqual({ cacheable: true, key: out.key, explain: { files: files(out.explain) } });
    expect(executors.copy.reuse(second, out.layer)).toEqual({ layer: out.layer, config: second.configAfter, history: out.history });
  });

  it('COPY from the context: the explain file list is made as JSON text with the bytes JSON.stringify makes of the list (names that are array indices, a file copied twice)', async () => {
    const dir = path.join(tmp, 'ctx-names');
    await import('node:fs/promises').then(async (fs) => {
      await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
      for (const name of ['b', '10', '2', 'a', 'sub/x']) await fs.writeFile(path.join(dir, name), name);
    });
    const saved = contextDir;
    contextDir = dir;
    try {
      const listOf = async (sources: string[], dest: string) => {
        const step: CopyStep = { ...common, kind: 'copy', original: `COPY ${sources.join(' ')} ${dest}`, sources, inline: [], dest, from: { kind: 'context' }, link: false, parents: false, exclude: [], keepGitDir: false, dependsOn: [] };
        const ctx = context(step, [], await StatCache.load(path.join(tmp, `stat-names-${sources.length}-${dest.length}.json`)));
        const out = await executors.copy.execute(ctx);
        await ctx.dispose();
        const files = out.explain?.files;
        return typeof files === 'function' ? await files() : files;
      };
      // The usual list: made row by row, as the text an object of those rows stringifies to.
      const plain = await listOf(['sub'], '/d/');
      expect(plain).toBeInstanceOf(ExplainFilesJson);
      expect(Object.keys((plain as ExplainFilesJson).parse())).toEqual(['/d', 'sub/x']);
      // An object puts names that are array indices first, and a name given twice once (its first
      // place, its last value): such lists are made as the object, so the bytes stay JSON.stringify's.
      for (const list of [await listOf(['.'], '/d/'), await listOf(['.', 'sub'], '/d/')]) {
        const text = list instanceof ExplainFilesJson ? list.text : JSON.stringify(list);
        expect(text).toBe(JSON.stringify(JSON.parse(text)));
      }
      const indices = await listOf(['.'], '/d/');
      expect(Object.keys(indices as Record<string, string>).slice(0, 2)).toEqual(['2', '10']);
      const twice = (await listOf(['.', 'sub'], '/d/')) as Record<string, string>;
      expect(Object.keys(twice).filter((k) => k === 'sub/x')).toHaveLength(1);
    } finally {
      contextDir = saved;
    }
  });

  it('COPY from the context: a file changed between the key and the layer write is not remembered under the identity it was planned with', async () => {
    fs.writeFileSync(path.join(contextDir, 'moving.txt'), 'version 1\n');
    const step: CopyStep = { ...common, kind: 'copy', original: 'COPY moving.txt /', sources: ['moving.txt'], inline: [], dest: '/', from: { kind: 'context' }, link: false, parents: false, exclude: [], keepGitDir: false, dependsOn: [] };
    const stat = await StatCache.load(path.join(tmp, 'stat-moving.json'));
    const ctx = context(step, [], stat);
    await executors.copy.key(ctx);
    const st = fs.statSync(path.join(contextDir, 'moving.txt'), { bigint: true });
    const planned = [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
    // Same size, same mtime: only the ctime (and the bytes) tell.
    fs.writeFileSync(path.join(contextDir, 'moving.txt'), 'version 2\n');
    fs.utimesSync(path.join(contextDir, 'moving.txt'), st.atime, st.mtime);
    await executors.copy.execute(ctx);
    await ctx.dispose();
    expect(stat.get(path.join(contextDir, 'moving.txt'), planned)).toBeUndefined();
    // Unchanged, it is remembered.
    const again = context(step, [], stat);
    await executors.copy.key(again);
    await executors.copy.execute(again);
    await again.dispose();
    const now = fs.statSync(path.join(contextDir, 'moving.txt'), { bigint: true });
    expect(stat.get(path.join(contextDir, 'moving.txt'), [now.dev, now.ino, now.size, now.mtimeNs, now.ctimeNs].join(':'))).toBe(`sha256:${createHash('sha256').update('version 2\n').digest('hex')}`);
  });

  it('COPY from the context: a rebuild whose context answers as before takes the key from the copy memo, without the stat cache', async () => {
    const dir = path.join(contextDir, 'memo');
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(dir, `f${i}.txt`), `file ${i}\n`);
    const step: CopyStep = { ...common, kind: 'copy', original: 'COPY memo /m', sources: ['memo'], inline: [], dest: '/m', from: { kind: 'context' }, link: false, parents: false, exclude: [], keepGitDir: false, dependsOn: [] };
    const stat = await StatCache.load(path.join(tmp, 'stat-memo.json'));
    let loads = 0;
    const counted = (c: StepContext<CopyStep> & { dispose(): Promise<void> }, chain = c.chain) => ({
      ...c,
      chain,
      inputs: { ...c.inputs, statCache: async () => (loads++, stat) },
    });
    const first = counted(context(step, [], stat));
    await executors.copy.key(first);
    const out = await executors.copy.execute(first);
    await first.dispose();
    loads = 0;
    const warm = counted(context(step, [], stat));
    const k = await executors.copy.key(warm);
    await warm.dispose();
    expect(k).toMatchObject({ cacheable: true, key: out.key });
    expect(loads).toBe(0);
    // The explain files, asked for (no record of the last build), are planned and equal the first build's.
    const files = (k as { explain?: ExplainInputs }).explain?.files;
    expect(typeof files === 'function' ? await files() : files).toEqual(typeof out.explain?.files === 'function' ? await out.explain.files() : out.explain?.files);
    // Another parent (another destination image): not from the memo.
    const other = counted(context(step, [], stat), 'd'.repeat(64));
    const ko = await executors.copy.key(other);
    await other.dispose();
    expect(loads).toBeGreaterThan(0);
    expect((ko as { key?: string }).key).not.toBe(out.key);
    // A file changed (same size, same mtime): planned again, another key.
    loads = 0;
    const f = path.join(dir, 'f3.txt');
    const st = fs.statSync(f);
    fs.writeFileSync(f, 'FILE 3\n');
    fs.utimesSync(f, st.atime, st.mtime);
    const changed = counted(context(step, [], stat));
    const kc = await executors.copy.key(changed);
    expect(loads).toBeGreaterThan(0);
    const outChanged = await executors.copy.execute(changed);
    await changed.dispose();
    expect((kc as { key?: string }).key ?? outChanged.key).not.toBe(out.key);
    // ...and the memo now holds the new key.
    loads = 0;
    const again = counted(context(step, [], stat));
    expect(await executors.copy.key(again)).toMatchObject({ key: outChanged.key });
    await again.dispose();
    expect(loads).toBe(0);
  });

  it('RUN: the key is known before running, covers the command, the ARGs in scope and USER, not the line', async () => {
    const base: RunStep = { ...common, kind: 'run', original: 'RUN true', command: ['true'], prependShell: true, files: [], mounts: [], network: 'default', security: 'sandbox', devices: [], proxy: [], dependsOn: [] };
    const key = async (step: RunStep) => {
      const k = await executors.run.key(context(step));
      expect(k.cacheable).toBe(true);
      return (k as { key: string }).key;
    };
    const k = await key(base);
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    const moved = { ...base, range: { start: { line: 9, column: 1, offset: 90 }, end: { line: 9, column: 9, offset: 98 } } };
    expect(await key(moved)).toBe(k);
    expect(await key({ ...base, args: [{ key: 'V', value: '1' }] })).not.toBe(k);
    expect(await key({ ...base, args: [{ key: 'V', value: '1' }] })).toBe(await key({ ...base, args: [{ key: 'V', value: '1' }] }));
    expect(await key({ ...base, command: ['false'] })).not.toBe(k);
    expect(await key({ ...base, network: 'none' })).not.toBe(k);
    // Proxy args reach the process but not the key.
    expect(await key({ ...base, proxy: [{ key: 'HTTP_PROXY', value: 'http://p:3128' }] })).toBe(k);
  });

  it('RUN --security=insecure is refused without --allow security.insecure; without a sandbox RUN cannot execute', async () => {
    const step: RunStep = { ...common, kind: 'run', original: 'RUN true', command: ['true'], prependShell: true, files: [], mounts: [], network: 'default', security: 'insecure', devices: [], proxy: [], dependsOn: [] };
    await expect(executors.run.key(context(step))).rejects.toMatchObject({ code: 'USAGE' });
    await expect(executors.run.execute(context({ ...step, security: 'sandbox' }))).rejects.toMatchObject({ code: 'SANDBOX_UNAVAILABLE' });
  });
});
