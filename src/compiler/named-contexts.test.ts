/**
 * Named build contexts in the compiler (issue 12): what `FROM NAME`,
 * `COPY --from=NAME` and `RUN --mount=from=NAME` resolve to, in BuildKit's
 * order (a context named like a stage replaces the stage; an earlier stage
 * named like a base wins over a context; then a context named like an image).
 */
import { describe, expect, it } from '@jest/globals';
import { parseDockerfile } from '../parser/index.js';
import type { CopyStep, NamedContextRef, RunStep } from '../graph/index.js';
import { OcibuildError } from '../errors.js';
import { compileDockerfile } from './compile.js';

function compile(text: string, contexts: Record<string, NamedContextRef>, target?: string) {
  const ast = parseDockerfile(text, { file: 'Dockerfile' });
  return compileDockerfile(ast, { ...(target ? { target } : {}), namedContext: (n) => contexts[n] }).value;
}

const dir = (name: string): NamedContextRef => ({ kind: 'dir', name, flag: `--build-context ${name}=/d` });
const image = (ref: string): NamedContextRef => ({ kind: 'image', ref, flag: `--build-context x=docker-image://${ref}` });
const target = (stage: string): NamedContextRef => ({ kind: 'target', stage, flag: `--build-context x=target:${stage}` });

describe('named build contexts', () => {
  it('COPY --from and RUN --mount=from of a directory context read that context (no stage, no image)', () => {
    const g = compile('FROM scratch\nCOPY --from=assets a.txt /\nRUN --mount=from=assets,target=/x true\n', { assets: dir('assets') });
    const copy = g.stages[0]!.steps[0] as CopyStep;
    const run = g.stages[0]!.steps[1] as RunStep;
    expect(copy.from).toEqual({ kind: 'context', name: 'assets' });
    expect(run.mounts[0]).toMatchObject({ type: 'bind', from: { kind: 'context', name: 'assets' } });
    expect(g.stages).toHaveLength(1);
  });

  it('without the context the same name is an image', () => {
    const g = compile('FROM scratch\nCOPY --from=assets a.txt /\n', {});
    expect((g.stages[0]!.steps[0] as CopyStep).from).toEqual({ kind: 'image', ref: 'assets' });
  });

  it('a context named like an image replaces it in FROM and --from; the stage still runs its steps', () => {
    const g = compile('FROM alpine\nENV A=1\nCOPY --from=alpine /etc/os-release /\n', { alpine: image('alpine:3.20') });
    expect(g.stages[0]!.base).toEqual({ kind: 'image', ref: 'alpine:3.20' });
    expect(g.stages[0]!.steps.map((s) => s.kind)).toEqual(['env', 'copy']);
    expect((g.stages[0]!.steps[1] as CopyStep).from).toEqual({ kind: 'image', ref: 'alpine:3.20' });
  });

  it('a context named like a stage replaces the whole stage: its instructions are dropped', () => {
    const g = compile('FROM alpine AS deps\nRUN exit 1\nFROM scratch\nCOPY --from=deps /x /\n', { deps: image('ghcr.io/o/deps:1') });
    const deps = g.stages.find((s) => s.name === 'deps')!;
    expect(deps.base).toEqual({ kind: 'image', ref: 'ghcr.io/o/deps:1' });
    expect(deps.steps).toEqual([]);
  });

  it('an earlier stage named like a base wins over a context of that name for FROM, unless the context replaces that stage', () => {
    const df = 'FROM scratch AS base\nCOPY a /a\nFROM base\nCOPY b /b\n';
    // the context named "base" replaces stage "base" (not the second stage's FROM)
    const g = compile(df, { base: image('busybox') });
    expect(g.stages[0]!.base).toEqual({ kind: 'image', ref: 'busybox' });
    expect(g.stages[0]!.steps).toEqual([]);
    expect(g.stages[1]!.base).toEqual({ kind: 'stage', index: 0 });
    expect(g.stages[1]!.steps).toHaveLength(1);
  });

  it('FROM a directory context: the stage starts as the directory copied to /', () => {
    const g = compile('FROM src\nCOPY x /y\n', { src: dir('src') });
    expect(g.stages[0]!.base).toEqual({ kind: 'scratch' });
    const [first, second] = g.stages[0]!.steps as CopyStep[];
    expect(first).toMatchObject({ kind: 'copy', sources: ['.'], dest: '/', from: { kind: 'context', name: 'src' } });
    expect(second!.from).toEqual({ kind: 'context' });
  });

  it('a stage replaced by a directory context is read directly by COPY --from (the stage is not needed)', () => {
    const g = compile('FROM alpine AS built\nRUN make\nFROM scratch\nCOPY --from=built /out /\n', { built: dir('built') });
    expect((g.stages.at(-1)!.steps[0] as CopyStep).from).toEqual({ kind: 'context', name: 'built' });
    expect(g.stages.map((s) => s.name)).not.toContain('built');
  });

  it('target:STAGE points a name at another stage', () => {
    const df = 'FROM scratch AS real\nCOPY a /a\nFROM scratch AS fake\nCOPY b /b\nFROM fake\nCOPY --from=fake /b /c\nCOPY --from=lib /a /d\n';
    const g = compile(df, { fake: target('real'), lib: target('real') });
    const fake = g.stages.find((s) => s.name === 'fake')!;
    expect(fake.base).toEqual({ kind: 'stage', index: 0 });
    expect(fake.steps).toEqual([]);
    const last = g.stages.at(-1)!;
    expect((last.steps[1] as CopyStep).from).toEqual({ kind: 'stage', index: 0 });
  });

  it('docker-image://scratch is an empty base; it has nothing to copy from', () => {
    const empty: NamedContextRef = { kind: 'scratch', flag: '--build-context b=docker-image://scratch' };
    const g = compile('FROM busybox AS b\nRUN false\nFROM b\nCOPY m /\n', { b: empty });
    expect(g.stages[0]).toMatchObject({ base: { kind: 'scratch' }, steps: [] });
    expect(() => compile('FROM scratch\nCOPY --from=e a /\n', { e: empty })).toThrow(/--build-context b=docker-image:\/\/scratch: an empty context/);
  });

  it('scratch and context are never looked up', () => {
    const g = compile('FROM scratch\nCOPY a /a\n', { scratch: image('busybox'), context: image('busybox') });
    expect(g.stages[0]!.base).toEqual({ kind: 'scratch' });
    expect((g.stages[0]!.steps[0] as CopyStep).from).toEqual({ kind: 'context' });
  });

  it('errors name the flag value: a target stage that does not exist, or comes later', () => {
    const missing = () => compile('FROM scratch\nCOPY --from=lib /a /\n', { lib: target('nope') });
    expect(missing).toThrow(OcibuildError);
    expect(missing).toThrow(/--build-context x=target:nope: no stage named "nope"/);
    const later = () => compile('FROM base AS app\nFROM scratch AS real\n', { base: target('real') });
    expect(later).toThrow(/--build-context x=target:real: stage "real" must be defined before stage "app"/);
    try {
      missing();
    } catch (e) {
      expect((e as OcibuildError).range?.start.line).toBe(2);
    }
  });
});
