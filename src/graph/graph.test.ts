import { describe, expect, it } from '@jest/globals';
import { OcibuildError } from '../errors.js';
import type { SourceRange } from '../errors.js';
import {
  addEnv,
  applyConfigStep,
  canonicalJson,
  canonicalStep,
  cleanPath,
  formatPlan,
  initialConfigState,
  levels,
  reachableStages,
  resolveWorkdir,
  topologicalOrder,
  withShell,
  type BuildGraph,
  type RunStep,
  type Stage,
} from './index.js';

const r = (line: number): SourceRange => ({ start: { line, column: 1, offset: 0 }, end: { line, column: 2, offset: 1 } });

function stage(index: number, dependsOn: number[], extra: Partial<Stage> = {}): Stage {
  return { index, base: { kind: 'scratch' }, steps: [], dependsOn, range: r(index + 1), original: 'FROM scratch', ...extra };
}

const run = (line: number, over: Partial<RunStep> = {}): RunStep => ({
  kind: 'run',
  range: r(line),
  original: 'RUN x',
  env: [],
  args: [],
  command: ['x'],
  prependShell: true,
  files: [],
  mounts: [],
  network: 'default',
  security: 'sandbox',
  devices: [],
  proxy: [],
  dependsOn: [],
  ...over,
});

describe('ordering', () => {
  it('topological order puts dependencies first, deterministically', () => {
    const deps: Record<number, number[]> = { 0: [], 1: [], 2: [0, 1], 3: [2], 4: [1] };
    expect(topologicalOrder([4, 3, 2, 1, 0], (i) => deps[i])).toEqual([0, 1, 2, 3, 4]);
    expect(topologicalOrder([3, 4], (i) => deps[i])).toEqual([3, 4]);
  });

  it('detects cycles', () => {
    expect(() => topologicalOrder([0, 1], (i) => (i === 0 ? [1] : [0]))).toThrow(OcibuildError);
  });

  it('reachability follows dependencies, cycle-safe', () => {
    const deps: Record<number, number[]> = { 0: [1], 1: [0], 2: [], 3: [0] };
    expect([...reachableStages(3, (i) => deps[i])].sort()).toEqual([0, 1, 3]);
  });

  it('levels group independent stages', () => {
    const g = { stages: [stage(0, []), stage(1, []), stage(2, [0]), stage(3, [1, 2]), stage(5, [])], order: [0, 1, 2, 5, 3] };
    expect(levels(g)).toEqual([[0, 1, 5], [2], [3]]);
  });
});

describe('config', () => {
  it('addEnv replaces the first match in place, else appends', () => {
    expect(addEnv(['a=1', 'b', 'a=2'], 'a', 'x')).toEqual(['a=x', 'b', 'a=2']);
    expect(addEnv(['a=1', 'b'], 'b', 'y')).toEqual(['a=1', 'b=y']);
    expect(addEnv([], 'c', '')).toEqual(['c=']);
  });

  it('initial state adds PATH when missing and keeps a base PATH', () => {
    expect(initialConfigState().config).toEqual({ WorkingDir: '/', Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] });
    expect(initialConfigState({ Env: ['PATH=/x'] }).config.Env).toEqual(['PATH=/x']);
  });

  it('does not mutate its input', () => {
    const st = initialConfigState({ Env: ['A=1'], Labels: { a: 'b' } });
    const before = JSON.stringify(st);
    applyConfigStep(st, { kind: 'label', range: r(1), original: '', env: [], args: [], pairs: [{ key: 'c', value: 'd' }] });
    expect(JSON.stringify(st)).toBe(before);
  });

  it('HEALTHCHECK omits zero fields; ENTRYPOINT [] resets; CMD [] stays empty', () => {
    const base = { range: r(1), original: '', env: [], args: [] };
    let st = initialConfigState();
    st = applyConfigStep(st, { ...base, kind: 'healthcheck', health: { Test: ['CMD', 'x'], Interval: 5e9, Timeout: 0, StartPeriod: 0, StartInterval: 0, Retries: 0 } });
    expect(st.config.Healthcheck).toEqual({ Test: ['CMD', 'x'], Interval: 5e9 });
    st = applyConfigStep(st, { ...base, kind: 'cmd', command: [], prependShell: false });
    expect(st.config.Cmd).toEqual([]);
    st = applyConfigStep(st, { ...base, kind: 'entrypoint', command: [], prependShell: false });
    expect(st.config.Entrypoint).toBeNull();
    expect(st.config.Cmd).toEqual([]); // CMD was set in this stage
  });

  it('paths and shells', () => {
    expect(cleanPath('/a/./b/../c//')).toBe('/a/c');
    expect(cleanPath('../x/..')).toBe('..');
    expect(cleanPath('')).toBe('.');
    expect(resolveWorkdir('/usr', 'src/../lib')).toBe('/usr/lib');
    expect(resolveWorkdir(undefined, 'a')).toBe('/a');
    expect(resolveWorkdir('/usr', '/abs/')).toBe('/abs');
    expect(withShell({}, ['echo', 'hi'])).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(withShell({ Shell: ['pwsh', '-c'] }, ['x'])).toEqual(['pwsh', '-c', 'x']);
  });
});

describe('canonical steps', () => {
  it('exclude ranges, original text, env snapshots and undeclared proxy args', () => {
    const a = run(1, { args: [{ key: 'A', value: '1' }], proxy: [{ key: 'HTTP_PROXY', value: 'http://p' }] });
    const b = run(9, { original: 'RUN   x', env: ['Z=1'], args: [{ key: 'A', value: '1' }], proxy: [{ key: 'HTTP_PROXY', value: 'http://q' }] });
    expect(canonicalJson(canonicalStep(a))).toBe(canonicalJson(canonicalStep(b)));
    expect(canonicalJson(canonicalStep(a))).not.toBe(canonicalJson(canonicalStep(run(1, { args: [{ key: 'A', value: '2' }] }))));
    // a proxy arg declared with ARG is part of the key
    const declared = (v: string) => canonicalJson(canonicalStep(run(1, { args: [{ key: 'HTTP_PROXY', value: v }] })));
    expect(declared('http://p')).not.toBe(declared('http://q'));
  });

  it('include everything that changes the result', () => {
    const base = canonicalJson(canonicalStep(run(1)));
    for (const over of [
      { command: ['y'] },
      { prependShell: false },
      { network: 'none' as const },
      { security: 'insecure' as const },
      { devices: [{ name: 'gpu', required: false }] },
      { files: [{ name: 'EOF', data: 'x', chomp: false }] },
      { mounts: [{ type: 'tmpfs' as const, target: '/t', readOnly: false }] },
    ]) {
      expect(canonicalJson(canonicalStep(run(1, over)))).not.toBe(base);
    }
  });

  it('canonical JSON sorts keys', () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }] })).toBe('{"a":[{"c":"x","d":null}],"b":1}');
  });
});

describe('formatPlan', () => {
  it('shows stages, steps, dependencies, levels and dropped stages', () => {
    const g: BuildGraph = {
      stages: [
        stage(0, [], { name: 'build', base: { kind: 'image', ref: 'golang:1' }, steps: [run(2, { command: ['go build'] })] }),
        stage(2, [0], {
          base: { kind: 'scratch' },
          platform: 'linux/arm64',
          steps: [
            {
              kind: 'copy',
              range: r(5),
              original: 'COPY --from=build /app /app',
              env: [],
              args: [],
              sources: ['/app'],
              inline: [],
              dest: '/app',
              from: { kind: 'stage', index: 0 },
              link: false,
              parents: false,
              exclude: [],
              keepGitDir: false,
              dependsOn: [0],
            },
          ],
        }),
      ],
      target: 2,
      order: [0, 2],
      dropped: [{ index: 1, name: 'test' }],
      metaArgs: [{ key: 'V', value: '1' }],
      unusedBuildArgs: [],
      targetPlatform: 'linux/amd64',
      buildPlatform: 'linux/amd64',
      sandboxHostname: 'buildkitsandbox',
    };
    expect(formatPlan(g)).toBe(
      [
        'target: stage #2',
        'platform: linux/amd64 (build platform linux/amd64)',
        'global args: V="1"',
        '',
        'stage #0 (build) from image golang:1 (line 1)',
        '  1. RUN go build  (line 2)',
        '',
        'stage #2 from scratch --platform=linux/arm64 (line 3)',
        '  depends on: #0 (build)',
        '  1. COPY /app /app (from stage #0 (build))  (line 5)',
        '     needs: #0 (build)',
        '',
        'parallel levels:',
        '  0: #0 (build)',
        '  1: #2',
        'dropped (not needed for the target): #1 (test)',
      ].join('\n'),
    );
  });
});
