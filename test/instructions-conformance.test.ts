/**
 * Instruction-level conformance (README section 4), read at run time from
 * ../shared/conformance/instructions: every negative row rejected with
 * BuildKit's wording at the stated lines, every positive row accepted with
 * its stated meaning, and the value-grammar tables.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { isOcibuildError, type OcibuildError, type SourceRange } from '../src/errors.js';
import { parseDockerfile } from '../src/parser/index.js';
import type { FlagNode, InstructionNode } from '../src/parser/ast.js';
import {
  compileDockerfile,
  handleJsonArgs,
  parseDevice,
  parseFlags,
  parseInstruction,
  parsePortSpec,
  parsePortSpecs,
  type CompileOptions,
  type FlagDef,
  type Instruction,
} from '../src/compiler/index.js';
import {
  addEnv,
  applyConfigStep,
  initialConfigState,
  splitKeyValue,
  stageByIndex,
  type BuildGraph,
  type ConfigState,
  type RunStep,
} from '../src/graph/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.resolve(repoRoot, '../shared/conformance/instructions');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const negative: any = JSON.parse(fs.readFileSync(path.join(dir, 'instructions-negative.json'), 'utf8'));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const positive: any = JSON.parse(fs.readFileSync(path.join(dir, 'instructions-positive.json'), 'utf8'));

const counts: Record<string, number> = {};
const count = (table: string): void => {
  counts[table] = (counts[table] ?? 0) + 1;
};
afterAll(() => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(
    `instructions conformance: ${total} cases\n` +
      Object.entries(counts)
        .map(([k, v]) => `  ${k}: ${v}`)
        .join('\n'),
  );
});

const dummyRange: SourceRange = { start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };

function optionsOf(c: { options?: { target?: string; buildArgs?: Record<string, string> } }): CompileOptions {
  return { ...(c.options?.target ? { target: c.options.target } : {}), ...(c.options?.buildArgs ? { buildArgs: c.options.buildArgs } : {}) };
}

/** Parse and compile; return the error (parser or compiler) or undefined. */
function failure(dockerfile: string, options: CompileOptions): OcibuildError | undefined {
  try {
    compileDockerfile(parseDockerfile(dockerfile, { file: 'Dockerfile' }), options);
  } catch (e) {
    if (isOcibuildError(e)) return e;
    throw e;
  }
  return undefined;
}

/** BuildKit's top-level wrapping of an error raised at an instruction. */
function formatted(e: OcibuildError): string {
  return e.range ? `dockerfile parse error on line ${e.range.start.line}: ${e.message}` : e.message;
}

describe('instructions-negative.json', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  it.each(negative.cases.map((c: any, i: number) => [`#${i} ${c.why}`, c]))('%s', (_name, c: any) => {
    count('negative');
    let err: OcibuildError | undefined;
    if (c.dockerfile === null) {
      // astOnly: a node that Dockerfile text cannot produce
      const node: InstructionNode = {
        keyword: c.astOnly.instruction,
        keywordText: c.astOnly.instruction.toUpperCase(),
        flags: [],
        args: c.astOnly.args,
        json: false,
        heredocs: [],
        original: '',
        argText: '',
        comments: [],
        range: dummyRange,
        keywordRange: dummyRange,
        argRange: dummyRange,
      };
      try {
        parseInstruction(node);
      } catch (e) {
        if (!isOcibuildError(e)) throw e;
        err = e;
      }
      for (const kw of ['env', 'label']) {
        // the note: LABEL behaves the same
        try {
          parseInstruction({ ...node, keyword: kw, keywordText: kw.toUpperCase() });
          throw new Error(`${kw} accepted`);
        } catch (e) {
          expect(isOcibuildError(e) && e.message).toBe(`Bad input to ${kw.toUpperCase()}, too many arguments`);
        }
      }
    } else {
      err = failure(c.dockerfile, optionsOf(c));
    }
    expect(err).toBeDefined();
    const e = err as OcibuildError;
    const text = formatted(e);
    if (c.exactError !== undefined) {
      if (c.exactError.startsWith('dockerfile parse error')) expect(text).toBe(c.exactError);
      else expect(e.message).toBe(c.exactError);
    }
    for (const s of c.errorContains ?? []) expect(text).toContain(s);
    if (c.errorLines) {
      expect(e.range).toBeDefined();
      expect(c.errorLines).toContain(e.range?.start.line);
    }
    // every rejection says why: a non-empty message and a location or a code
    expect(e.message.length).toBeGreaterThan(0);
  });

  it('flagParsing table (BuildKit BFlags rules)', () => {
    for (const c of negative.flagParsing.cases) {
      count('flagParsing');
      const defs: FlagDef[] = c.defs.map((d: { name: string; type: 'bool' | 'string'; default: boolean | string }) => ({
        name: d.name,
        type: d.type,
        default: d.default,
      }));
      const nodes: FlagNode[] = c.args.map((a: string) => {
        const word = a.slice(2);
        const eq = word.indexOf('=');
        return { text: a, name: eq < 0 ? word : word.slice(0, eq), value: eq < 0 ? undefined : word.slice(eq + 1), range: dummyRange };
      });
      if (!c.ok) {
        expect(() => parseFlags(nodes, defs)).toThrow();
        continue;
      }
      const parsed = parseFlags(nodes, defs);
      for (const [k, v] of Object.entries(c.values ?? {})) {
        expect(typeof v === 'boolean' ? parsed.bool(k) : parsed.string(k)).toBe(v);
      }
      if (c.used) expect(parsed.usedNames().sort()).toEqual([...c.used].sort());
    }
  });

  it('flag error messages follow errorMessages', () => {
    const defs: FlagDef[] = [
      { name: 'link', type: 'bool' },
      { name: 'from', type: 'string' },
      { name: 'exclude', type: 'strings' },
    ];
    const f = (text: string): FlagNode => {
      const word = text.slice(2);
      const eq = word.indexOf('=');
      return { text, name: eq < 0 ? word : word.slice(0, eq), value: eq < 0 ? undefined : word.slice(eq + 1), range: dummyRange };
    };
    const cases: [string[], string][] = [
      [['--lnk'], 'unknown flag: --lnk (did you mean link?)'],
      [['--from=a', '--from=b'], 'duplicate flag specified: --from'],
      [['--from'], 'missing a value on flag: --from'],
      [['--link='], 'missing a value on flag: --link'],
      [['--link=yes'], 'expecting boolean value for flag --link, not: yes'],
    ];
    for (const [args, message] of cases) {
      count('flagErrorMessages');
      expect(() => parseFlags(args.map(f), defs)).toThrow(message);
    }
    count('flagErrorMessages');
    expect(parseFlags([f('--exclude=a'), f('--exclude=b')], defs).strings('exclude')).toEqual(['a', 'b']);
  });
});

/** The config of the image a stage produces, following its base chain (bases start empty). */
function stageConfig(graph: BuildGraph, index: number): ConfigState {
  const stage = stageByIndex(graph, index);
  let st: ConfigState;
  if (stage.base.kind === 'stage') {
    const parent = stageConfig(graph, stage.base.index);
    st = { config: { ...parent.config, OnBuild: null }, author: parent.author, cmdSet: false };
  } else {
    st = initialConfigState(stage.base.kind === 'scratch' ? undefined : {});
  }
  for (const step of stage.steps) st = applyConfigStep(st, step);
  return st;
}

function typedAll(dockerfile: string): Instruction[] {
  const ast = parseDockerfile(dockerfile, { file: 'Dockerfile' });
  return ast.instructions.map((n) => parseInstruction(n, { file: ast.file }));
}

describe('instructions-positive.json', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  it.each(positive.cases.map((c: any, i: number) => [`#${i} ${typeof c.meaning === 'string' ? c.meaning : Object.keys(c.meaning).join('+')}`, c]))(
    '%s',
    (_name, c: any) => {
      count('positive');
      const meaning = c.meaning;
      const variants: CompileOptions[] = c.options?.buildArgsVariants
        ? c.options.buildArgsVariants.map((b: Record<string, string>) => ({ buildArgs: b }))
        : [optionsOf(c)];
      if (c.stage !== 'instructions') {
        // convert/frontend rows must compile (with every option variant)
        for (const o of variants) {
          const e = failure(c.dockerfile, o);
          expect(e === undefined ? 'accepted' : formatted(e)).toBe('accepted');
        }
      } else {
        // instruction rows: every instruction types without error
        typedAll(c.dockerfile);
      }
      if (typeof meaning === 'string') return;
      const ins = typedAll(c.dockerfile);
      if (meaning.copy) {
        const copy = ins.find((i) => i.kind === 'copy');
        expect(copy).toBeDefined();
        if (copy?.kind !== 'copy') return;
        expect({ destPath: copy.destPath, sourcePaths: copy.sourcePaths, sourceContents: copy.sourceContents }).toEqual(meaning.copy);
      }
      if (meaning.run) {
        let run: { prependShell: boolean; command: string[]; files: { name: string; data: string; chomp: boolean }[]; flagsUsed?: string[] } | undefined;
        if (c.stage === 'instructions') {
          const r = ins.find((i) => i.kind === 'run');
          if (r?.kind === 'run') run = r;
        } else {
          const g = compileDockerfile(parseDockerfile(c.dockerfile), optionsOf(c)).value;
          run = stageByIndex(g, g.target).steps.find((s): s is RunStep => s.kind === 'run');
        }
        expect(run).toBeDefined();
        if (!run) return;
        if ('prependShell' in meaning.run) expect(run.prependShell).toBe(meaning.run.prependShell);
        if ('cmdLine' in meaning.run) expect(run.command).toEqual(meaning.run.cmdLine);
        if ('files' in meaning.run) expect(run.files).toEqual(meaning.run.files);
        if ('flagsUsed' in meaning.run) expect(run.flagsUsed).toEqual(meaning.run.flagsUsed);
      }
      if (meaning.healthcheck) {
        const h = ins.find((i) => i.kind === 'healthcheck');
        if (h?.kind !== 'healthcheck') throw new Error('no HEALTHCHECK');
        if (meaning.healthcheck.test) expect(h.health.Test).toEqual(meaning.healthcheck.test);
        if (meaning.healthcheck.interval === '0 (unset)') expect(h.health.Interval).toBe(0);
        else if (meaning.healthcheck.interval === '1ms') expect(h.health.Interval).toBe(1_000_000);
        else if (meaning.healthcheck.interval !== undefined) throw new Error(`unhandled interval meaning ${meaning.healthcheck.interval}`);
      }
      if (meaning.metaArgs || meaning.stages) {
        const metaArgs: { key: string; docComment: string }[] = [];
        const stages: { name: string; docComment: string; commands: { arg: { key: string; docComment: string }[] }[] }[] = [];
        for (const i of ins) {
          if (i.kind === 'from') stages.push({ name: i.stageName ?? '', docComment: i.comment ?? '', commands: [] });
          else if (i.kind === 'arg') {
            const arg = i.args.map((a) => ({ key: a.key, docComment: a.comment ?? '' }));
            if (stages.length === 0) metaArgs.push(...arg);
            else stages[stages.length - 1].commands.push({ arg });
          }
        }
        if (meaning.metaArgs) expect(metaArgs).toEqual(meaning.metaArgs);
        if (meaning.stages) expect(stages).toEqual(meaning.stages);
      }
      if (meaning.imageLabels || meaning.imageConfig) {
        const g = compileDockerfile(parseDockerfile(c.dockerfile), optionsOf(c)).value;
        const st = stageConfig(g, g.target);
        if (meaning.imageLabels) expect(st.config.Labels).toEqual(meaning.imageLabels);
        if (meaning.imageConfig) expect(st.config).toMatchObject(meaning.imageConfig);
      }
    },
  );

  it('shellFormJoin', () => {
    for (const c of positive.shellFormJoin.cases) {
      count('shellFormJoin');
      expect(handleJsonArgs(c.args, c.json)).toEqual(c.expect);
    }
  });

  it('runDeviceValues', () => {
    for (const c of positive.runDeviceValues.cases) {
      count('runDeviceValues');
      if (c.error) expect(() => parseDevice(c.input)).toThrow(c.error);
      else expect(parseDevice(c.input)).toEqual({ name: c.name, required: c.required });
    }
  });

  it('exposePortSpecs', () => {
    for (const c of positive.exposePortSpecs.single) {
      count('exposePortSpecs.single');
      if (c.error) expect(() => parsePortSpec(c.spec)).toThrow(c.error);
      else expect(parsePortSpec(c.spec)).toEqual(c.expect);
    }
    for (const c of positive.exposePortSpecs.lists) {
      count('exposePortSpecs.lists');
      if (c.error) expect(() => parsePortSpecs(c.specs)).toThrow();
      else expect(parsePortSpecs(c.specs)).toEqual(c.expect);
    }
  });

  it('imageEnvUpdate', () => {
    for (const c of positive.imageEnvUpdate.addEnv) {
      count('imageEnvUpdate.addEnv');
      expect(addEnv(c.env, c.set[0], c.set[1])).toEqual(c.expect);
    }
    for (const c of positive.imageEnvUpdate.splitKeyValue) {
      count('imageEnvUpdate.splitKeyValue');
      expect(splitKeyValue(c.input)).toEqual({ key: c.key, value: c.value });
    }
  });
});

/**
 * Our own rows (not in ../shared/conformance): the defaults of every `RUN
 * --mount` option, as BuildKit gives them. Sources: moby/buildkit
 * frontend/dockerfile/instructions/commands_runmount.go (parseMount,
 * validateMount) and frontend/dockerfile/dockerfile2llb/convert_runmount.go
 * (dispatchRunMounts, dispatchSecret, dispatchSSH). Each row's `mounts` is the
 * exact MountSpec list the RUN step gets.
 */
describe('RUN --mount defaults (BuildKit parseMount / dispatchRunMounts)', () => {
  const ctx = { kind: 'context' } as const;
  const rows: { why: string; dockerfile: string; options?: CompileOptions; mounts: unknown[] }[] = [
    {
      why: 'no type: bind; no target: the working directory (empty target, joined at run time); no source: the root; read-only',
      dockerfile: 'FROM alpine AS binary\nFROM alpine\nRUN --mount=from=binary true',
      mounts: [{ type: 'bind', target: '', source: '/', from: { kind: 'stage', index: 0 }, readOnly: true }],
    },
    {
      why: 'src= and a bare rw: a writable bind of that path, still no target',
      dockerfile: 'FROM alpine AS src\nFROM alpine\nRUN --mount=from=src,src=/usr/src/x,rw true',
      mounts: [{ type: 'bind', target: '', source: '/usr/src/x', from: { kind: 'stage', index: 0 }, readOnly: false }],
    },
    {
      why: 'a bare ro: the build context, read-only; cache without id: the cleaned target as id, shared, writable, 0755 root',
      dockerfile: 'FROM alpine\nRUN --mount=ro --mount=type=cache,target=/root/.cache/ true',
      mounts: [
        { type: 'bind', target: '', source: '/', from: ctx, readOnly: true },
        { type: 'cache', target: '/root/.cache/', id: '/root/.cache', sharing: 'shared', source: '/', readOnly: false, mode: 0o755, uid: 0, gid: 0 },
      ],
    },
    {
      why: 'cache without target or id: id is path.Clean("") = "."',
      dockerfile: 'FROM alpine\nRUN --mount=type=cache true',
      mounts: [{ type: 'cache', target: '', id: '.', sharing: 'shared', source: '/', readOnly: false, mode: 0o755, uid: 0, gid: 0 }],
    },
    {
      why: 'a relative target stays relative (joined with WORKDIR at run time); cache id is the cleaned relative target',
      dockerfile: 'FROM scratch\nWORKDIR /app\nRUN --mount=type=cache,target=./node_modules/ --mount=type=bind,target=src true',
      mounts: [
        { type: 'cache', target: './node_modules/', id: 'node_modules', sharing: 'shared', source: '/', readOnly: false, mode: 0o755, uid: 0, gid: 0 },
        { type: 'bind', target: 'src', source: '/', from: ctx, readOnly: true },
      ],
    },
    {
      why: 'scratch with WORKDIR: an empty target is the working directory, not /',
      dockerfile: 'FROM scratch\nWORKDIR /src\nRUN --mount=type=bind true',
      mounts: [{ type: 'bind', target: '', source: '/', from: ctx, readOnly: true }],
    },
    {
      why: 'tmpfs without target or size: writable, no size limit',
      dockerfile: 'FROM alpine\nRUN --mount=type=tmpfs true',
      mounts: [{ type: 'tmpfs', target: '', readOnly: false }],
    },
    {
      why: 'secret with an id only: /run/secrets/<id>, 0400 root, not required',
      dockerfile: 'FROM alpine\nRUN --mount=type=secret,id=tok true',
      mounts: [{ type: 'secret', id: 'tok', target: '/run/secrets/tok', required: false, mode: 0o400, uid: 0, gid: 0 }],
    },
    {
      why: 'secret with a target only: the id is the base name of the target',
      dockerfile: 'FROM alpine\nRUN --mount=type=secret,target=/etc/app/token true',
      mounts: [{ type: 'secret', id: 'token', target: '/etc/app/token', required: false, mode: 0o400, uid: 0, gid: 0 }],
    },
    {
      why: 'secret: source wins over an empty id (BuildKit tests for empty strings)',
      dockerfile: 'FROM alpine\nRUN --mount=type=secret,source=npmrc,id= true',
      mounts: [{ type: 'secret', id: 'npmrc', target: '/run/secrets/npmrc', required: false, mode: 0o400, uid: 0, gid: 0 }],
    },
    {
      why: 'ssh: id "default", the agent socket numbered per RUN, 0600 root, not required',
      dockerfile: 'FROM alpine\nRUN --mount=type=ssh --mount=type=ssh,id=gh true',
      mounts: [
        { type: 'ssh', id: 'default', target: '/run/buildkit/ssh_agent.0', required: false, mode: 0o600, uid: 0, gid: 0 },
        { type: 'ssh', id: 'gh', target: '/run/buildkit/ssh_agent.1', required: false, mode: 0o600, uid: 0, gid: 0 },
      ],
    },
  ];
  it.each(rows.map((r) => [r.why, r] as const))('%s', (_why, r) => {
    count('mountDefaults');
    const g = compileDockerfile(parseDockerfile(r.dockerfile, { file: 'Dockerfile' }), r.options ?? {}).value;
    const run = stageByIndex(g, g.target).steps.find((s): s is RunStep => s.kind === 'run');
    expect(run?.mounts).toEqual(r.mounts);
  });

  const rejected: { why: string; dockerfile: string; options?: CompileOptions; message: string; line: number }[] = [
    {
      why: 'an empty target in a stage whose working directory is / resolves to /',
      dockerfile: 'FROM scratch\nRUN --mount=type=bind true',
      message: 'invalid mount target "/"',
      line: 2,
    },
    {
      why: 'a relative target that climbs to /',
      dockerfile: 'FROM scratch\nWORKDIR /app\nRUN --mount=type=cache,target=.. true',
      message: 'invalid mount target "/"',
      line: 3,
    },
    {
      why: 'a base image whose config (known) has no WorkingDir: / ',
      dockerfile: 'FROM alpine\nRUN --mount=type=tmpfs true',
      options: { baseImageConfig: () => ({ Env: ['PATH=/bin'] }) },
      message: 'invalid mount target "/"',
      line: 2,
    },
    {
      why: 'secret: sharing is refused with its own message',
      dockerfile: 'FROM alpine\nRUN --mount=type=secret,id=a,sharing=locked true',
      message: 'secret mount should not define sharing',
      line: 2,
    },
    {
      why: 'secret: an empty target is no target',
      dockerfile: 'FROM alpine\nRUN --mount=type=secret,target= true',
      message: 'invalid secret mount. one of source, target required',
      line: 2,
    },
  ];
  it.each(rejected.map((r) => [r.why, r] as const))('rejects: %s', (_why, r) => {
    count('mountDefaults');
    const e = failure(r.dockerfile, r.options ?? {});
    expect(e?.message).toBe(r.message);
    expect(e?.range?.start.line).toBe(r.line);
  });

  it('a base image whose config sets WorkingDir: an empty target mounts there', () => {
    count('mountDefaults');
    const options: CompileOptions = { baseImageConfig: () => ({ WorkingDir: '/go/src' }) };
    expect(failure('FROM golang\nRUN --mount=from=golang true', options)).toBeUndefined();
  });
});
