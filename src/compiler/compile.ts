/**
 * The Dockerfile compiler: syntax tree → typed instructions → stages →
 * BuildGraph, with BuildKit's ARG/ENV scoping, expansion rules, stage
 * resolution and build checks. Pure: no IO, warnings returned as data.
 */
import { OcibuildError, isOcibuildError, type SourceRange } from '../errors.js';
import type { DockerfileAst, InstructionNode } from '../parser/ast.js';
import { parseDockerfile } from '../parser/index.js';
import type { ContainerConfig, Platform } from '../oci/types.js';
import type {
  ArgValue,
  BuildGraph,
  ChmodSpec,
  InlineFile,
  MetaArg,
  MountSpec,
  SourceRef,
  Stage,
  StageBase,
  Step,
  StepCommon,
} from '../graph/types.js';
import { addEnv, cleanPath, DEFAULT_PATH, splitKeyValue } from '../graph/config.js';
import { reachableStages, topologicalOrder } from '../graph/order.js';
import {
  parseInstruction,
  isSelfConsistentCasing,
  type ArgInstruction,
  type CopyInstruction,
  type FromInstruction,
  type Instruction,
  type InstructionLint,
  type RunInstruction,
} from './instructions.js';
import { Linter, parseCheckDirective, type CheckConfig, type Warning } from './lint.js';
import { formatPlatform, normalizePlatform, parsePlatform, PlatformError } from './platform.js';
import { parsePortSpec, PortSpecError, specProtocol } from './expose.js';
import { parseMount, RunFlagError, type ParsedMount } from './run-flags.js';
import { referenceError } from './reference.js';
import { isValidSignal } from './signal.js';
import { processWord, processWords, type ShellLexOptions } from './shell-lex.js';
import { didYouMean, didYouMeanAny, suggest } from './suggest.js';

/** `.dockerignore` input for the CopyIgnoredFile check. */
export interface IgnoreInput {
  /** The cleaned patterns, `!` prefix for exceptions (as read from the file). */
  patterns: readonly string[];
  /** moby/patternmatcher `MatchesOrParentMatches` for a cleaned, slash-separated context path. */
  matches: (path: string) => boolean;
}

/** Options of {@link compileDockerfile}. */
export interface CompileOptions {
  /** Target stage name (case-insensitive); default: the last stage. */
  target?: string;
  /** `--build-arg` values. */
  buildArgs?: Readonly<Record<string, string>>;
  /** Build and target platforms; default linux/amd64 for both (the CLI passes the host's). */
  platform?: { buildPlatform: Platform; targetPlatform: Platform };
  /**
   * Config of an image base, when the engine has already resolved it (for a
   * second, exact compile): its Env seeds variable expansion, its Shell
   * applies, as in BuildKit. Without it, image bases count as having no Env
   * (the default PATH only).
   */
  baseImageConfig?: (ref: string, platform: string) => ContainerConfig | undefined;
  /** A `check` directive value overriding the Dockerfile's (`skip=...;error=true`). */
  check?: string;
  /** Dispatch every stage, not only those the target needs (build checks do this). */
  allStages?: boolean;
  /** `.dockerignore` patterns for the CopyIgnoredFile check. */
  ignore?: IgnoreInput;
}

/** Result with warnings as data. */
export interface CompileResult {
  value: BuildGraph;
  warnings: Warning[];
}

/** Result of {@link checkDockerfile}. */
export interface CheckResult {
  warnings: Warning[];
  /** The `check` directive asked warnings to fail the build (`error=true`). */
  errorOnWarnings: boolean;
  /** A fatal error the build would hit (instruction error or `lint violation found`). */
  error?: OcibuildError;
  /** True when there is an error, or warnings while `error=true`. */
  failed: boolean;
}

const PLATFORM_ARGS = [
  'TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT', 'BUILDPLATFORM', 'BUILDOS', 'BUILDARCH', 'BUILDVARIANT',
] as const;
/** ARGs that never warn as undefined (BuildKit `nonEnvArgs`). */
const NON_ENV_ARGS = new Set<string>([...PLATFORM_ARGS, 'TARGETSTAGE']);
/** Proxy args: reach RUN without an ARG declaration. */
const PROXY_ARGS = new Set(
  ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((k) => [k, k.toLowerCase()]),
);
/** Build args the builder itself reads (never "unused"). */
const BUILTIN_BUILD_ARGS = new Set([
  'BUILDKIT_SYNTAX', 'BUILDKIT_MULTI_PLATFORM', 'BUILDKIT_SANDBOX_HOSTNAME', 'BUILDKIT_CACHE_MOUNT_NS',
  'BUILDKIT_DOCKERFILE_CHECK', 'BUILDKIT_CONTEXT_KEEP_GIT_DIR', 'BUILDKIT_INLINE_CACHE', 'BUILDKIT_BUILD_NAME',
  'SOURCE_DATE_EPOCH',
]);
const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);
const SECRET_DENY = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const SECRET_ALLOW = /(?:_|^)(?:public|file|version)(?:_|$)/i;

/** Ordered variable set (later writes move a name to the end, like BuildKit's EnvList). */
class EnvList {
  private readonly map: Map<string, string>;
  constructor(entries?: Iterable<[string, string]>) {
    this.map = new Map(entries);
  }
  get(k: string): string | undefined {
    return this.map.get(k);
  }
  has(k: string): boolean {
    return this.map.has(k);
  }
  set(k: string, v: string): void {
    this.map.delete(k);
    this.map.set(k, v);
  }
  keys(): string[] {
    return [...this.map.keys()];
  }
  clone(): EnvList {
    return new EnvList(this.map);
  }
  lookup = (k: string): string | undefined => this.map.get(k);
}

interface StageInfo {
  index: number;
  from: FromInstruction;
  /** The stage's own instructions (FROM excluded). */
  commands: Instruction[];
  name?: string;
  /** Name used in messages: the stage name or `stage-<n>`. */
  label: string;
  baseName: string;
  base: StageBase;
  platform?: string;
  /** ONBUILD triggers of a parent stage, run first. */
  inherited: Instruction[];
  /** Stage deps from COPY --from / RUN --mount from=, with the command that made them. */
  deps: Map<number, Instruction>;
}

interface DispatchState {
  env: EnvList;
  imageEnv: string[];
  shell?: string[];
  args: ArgValue[];
  /** A WORKDIR ran in this stage chain (WorkdirRelativePath checks only the first). */
  workdirSet: boolean;
  steps: Step[];
}

function withLocation(e: unknown, file: string, range: SourceRange): unknown {
  if (isOcibuildError(e)) {
    if (e.file === undefined) e.file = file;
    if (e.range === undefined) e.range = range;
  }
  return e;
}

function instructionError(message: string, file: string, range: SourceRange, hint?: string, details?: Record<string, unknown>): OcibuildError {
  return new OcibuildError('DOCKERFILE_INSTRUCTION', message, { file, range, hint, details });
}

function isHttpSource(src: string): boolean {
  return src.startsWith('http://') || src.startsWith('https://');
}

function isGitSource(src: string): boolean {
  if (/^(git@|git:\/\/|ssh:\/\/)/.test(src)) return true;
  if (/^https?:\/\/[^#]*\.git(?:[#?].*)?$/.test(src)) return true;
  return false;
}

/** Parse `--chmod` as BuildKit does: octal ≤ 07777, else symbolic (u+x, go=rX, ...). */
export function parseChmod(value: string): ChmodSpec {
  const nonOctal = `invalid chmod parameter: '${value}'. it should be octal string and between 0 and 07777`;
  if (/^[0-7]+$/.test(value)) {
    const mode = parseInt(value, 8);
    if (mode > 0o7777) throw new Error(nonOctal);
    return { kind: 'octal', mode };
  }
  if (/^[0-9]/.test(value) || value === '') throw new Error(nonOctal);
  const clause = /^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+$/;
  if (!value.split(',').every((c) => clause.test(c))) throw new Error(`invalid chmod parameter: '${value}'. it should be octal string or a symbolic mode`);
  return { kind: 'symbolic', expression: value };
}

function platformArgValues(p: Platform, prefix: 'TARGET' | 'BUILD'): [string, string][] {
  const n = normalizePlatform(p);
  return [
    [`${prefix}PLATFORM`, formatPlatform(n)],
    [`${prefix}OS`, n.os],
    [`${prefix}ARCH`, n.architecture],
    [`${prefix}VARIANT`, n.variant ?? ''],
  ];
}

/** Parse every instruction (all stages), collecting parse-time lint. */
function typeInstructions(ast: DockerfileAst, linter: Linter): { metaArgs: ArgInstruction[]; stages: StageInfo[] } {
  const metaArgs: ArgInstruction[] = [];
  const stages: StageInfo[] = [];
  const lint = (f: InstructionLint) => linter.run(f.rule, f.range, f.message);
  const lines = ast.source.split('\n');
  for (const parsed of ast.instructions) {
    // doc comments are the comment lines directly above (a blank line separates)
    const node: InstructionNode = { ...parsed, comments: commentsAbove(lines, parsed.range.start.line) };
    const ins = parseInstruction(node, { file: ast.file, lint });
    if (ins.kind === 'from') {
      const index = stages.length;
      stages.push({
        index,
        from: ins,
        commands: [],
        name: ins.stageName,
        label: ins.stageName ?? `stage-${index}`,
        baseName: ins.baseName,
        base: { kind: 'scratch' },
        inherited: [],
        deps: new Map(),
      });
    } else if (stages.length === 0) {
      if (ins.kind !== 'arg') throw instructionError('no build stage in current context', ast.file, node.range);
      metaArgs.push(ins);
    } else {
      stages[stages.length - 1].commands.push(ins);
    }
  }
  return { metaArgs, stages };
}

/** Type an ONBUILD trigger stored in a base image's config; errors point at the FROM. */
function imageTrigger(trigger: string, s: StageInfo, file: string): Instruction {
  const range = s.from.node.range;
  const where = `ONBUILD trigger ${JSON.stringify(trigger)} of base image ${s.baseName}`;
  let nodes: InstructionNode[];
  try {
    nodes = parseDockerfile(trigger, { file }).instructions;
  } catch (e) {
    throw instructionError(`failed to parse ${where}: ${(e as Error).message}`, file, range);
  }
  if (nodes.length !== 1) throw instructionError(`onbuild trigger should be a single expression: ${where}`, file, range);
  // the trigger's text is not in this Dockerfile: locate it at the FROM that pulls it in
  const relocate = (n: InstructionNode): InstructionNode => ({
    ...n,
    range,
    keywordRange: range,
    argRange: range,
    flags: n.flags.map((f) => ({ ...f, range })),
    heredocs: n.heredocs.map((h) => ({ ...h, range })),
    ...(n.trigger ? { trigger: relocate(n.trigger) } : {}),
  });
  const node = relocate(nodes[0]);
  const kw = node.keyword.toLowerCase();
  if (kw === 'from' || kw === 'maintainer' || kw === 'onbuild') {
    throw instructionError(`${kw.toUpperCase()} isn't allowed as an ONBUILD trigger (${where})`, file, range);
  }
  try {
    return parseInstruction(node, { file });
  } catch (e) {
    if (isOcibuildError(e)) throw instructionError(`${e.message} (${where})`, file, range);
    throw e;
  }
}

/** The comment lines directly above 1-based `line` (without `#`, trimmed), top to bottom. */
function commentsAbove(lines: readonly string[], line: number): string[] {
  const out: string[] = [];
  for (let i = line - 2; i >= 0; i--) {
    const t = lines[i].replace(/\r$/, '').trim();
    if (!t.startsWith('#')) break;
    out.unshift(t.slice(1).trim());
  }
  return out;
}

/** Stage lookup by lower-cased name: the last definition, or the last one before `before`. */
class StageNames {
  private readonly byName = new Map<string, number[]>();
  constructor(private readonly stages: readonly StageInfo[]) {
    for (const s of stages) {
      if (!s.name) continue;
      const list = this.byName.get(s.name) ?? [];
      list.push(s.index);
      this.byName.set(s.name, list);
    }
  }
  find(name: string, before?: number): StageInfo | undefined {
    const list = this.byName.get(name.toLowerCase());
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      if (before === undefined || list[i] < before) return this.stages[list[i]];
    }
    return undefined;
  }
}

/** Resolve a COPY --from value: stage name, stage index, else an image. */
function resolveCopyFrom(stages: readonly StageInfo[], names: StageNames, from: string, file: string, range: SourceRange): SourceRef {
  if (/^[+-]?[0-9]+$/.test(from)) {
    const index = Number(from);
    if (index < 0 || index >= stages.length) throw instructionError(`invalid stage index ${index}`, file, range);
    return { kind: 'stage', index };
  }
  const s = names.find(from);
  if (s) return { kind: 'stage', index: s.index };
  return { kind: 'image', ref: from };
}

function mountFromValue(value: string): string | undefined {
  // the `from=` of a raw --mount value (for dependency discovery before expansion)
  for (const field of value.split(',')) {
    const eq = field.indexOf('=');
    if (eq > 0 && field.slice(0, eq).toLowerCase() === 'from') return field.slice(eq + 1);
  }
  return undefined;
}

/**
 * Shared compile core. `mode` "build" dispatches what the target needs;
 * "check" dispatches all stages.
 */
function compileCore(ast: DockerfileAst, options: CompileOptions, linter: Linter): BuildGraph {
  const file = ast.file;
  const buildArgs = new Map(Object.entries(options.buildArgs ?? {}));
  const consumed = new Set<string>();
  const escapeToken = ast.escapeToken;
  const lexOptions: ShellLexOptions = { escapeToken };
  const platform = options.platform ?? {
    buildPlatform: { os: 'linux', architecture: 'amd64' },
    targetPlatform: { os: 'linux', architecture: 'amd64' },
  };

  for (const w of ast.warnings) {
    // BuildKit reports the rule's own text; the parser's longer message goes to `detail`
    if (w.rule === 'NoEmptyContinuation') linter.run('NoEmptyContinuation', w.range, 'Empty continuation line', w.message);
  }

  let sourceDateEpoch: number | undefined;
  const sde = buildArgs.get('SOURCE_DATE_EPOCH');
  if (sde !== undefined && sde !== '') {
    if (!/^[+-]?[0-9]+$/.test(sde) || !Number.isSafeInteger(Number(sde))) {
      throw new OcibuildError('USAGE', `invalid SOURCE_DATE_EPOCH: ${sde}`, { hint: 'a Unix timestamp in seconds' });
    }
    sourceDateEpoch = Number(sde);
  }

  const { metaArgs: metaArgCmds, stages } = typeInstructions(ast, linter);
  if (stages.length === 0) {
    const last = ast.instructions[ast.instructions.length - 1];
    throw new OcibuildError('DOCKERFILE_INSTRUCTION', 'dockerfile contains no stages to build', { file, range: last?.range });
  }

  const names = new StageNames(stages);

  // --- stage names (ReservedStageName, DuplicateStageName) and casing ---
  const seen = new Set<string>();
  for (const s of stages) {
    if (!s.name) continue;
    if (RESERVED_STAGE_NAMES.has(s.name)) {
      linter.run('ReservedStageName', s.from.node.range, `Stage name should not use the same name as reserved stage ${JSON.stringify(s.name)}`);
    }
    if (seen.has(s.name)) {
      linter.run('DuplicateStageName', s.from.node.range, `Duplicate stage name ${JSON.stringify(s.name)}, stage names should be unique`);
    }
    seen.add(s.name);
  }
  {
    const keywords: { text: string; range: SourceRange }[] = [];
    for (const s of stages) {
      keywords.push({ text: s.from.node.keywordText, range: s.from.node.range });
      for (const c of s.commands) keywords.push({ text: c.node.keywordText, range: c.node.range });
    }
    let lower = 0;
    let upper = 0;
    for (const k of keywords) {
      if (!isSelfConsistentCasing(k.text)) continue;
      if (k.text.toLowerCase() === k.text) lower++;
      else upper++;
    }
    const majorityLower = lower > upper;
    for (const k of keywords) {
      let correct = '';
      if (majorityLower && k.text.toLowerCase() !== k.text) correct = 'lowercase';
      else if (!majorityLower && k.text.toUpperCase() !== k.text) correct = 'uppercase';
      if (correct) {
        linter.run('ConsistentInstructionCasing', k.range, `Command '${k.text}' should match the case of the command majority (${correct})`);
      }
    }
  }

  // --- global scope: automatic platform args, then meta ARGs ---
  // an empty target means the default (last) stage, as in BuildKit
  const targetName = options.target ? options.target.toLowerCase() : undefined;
  const autoArgs: [string, string][] = [
    ...platformArgValues(platform.targetPlatform, 'TARGET'),
    ...platformArgValues(platform.buildPlatform, 'BUILD'),
  ];
  const defaultTargetStage = targetName ?? stages[stages.length - 1].name ?? 'default';
  autoArgs.push(['TARGETSTAGE', defaultTargetStage]);
  const buildGlobals = (withBuildArgs: boolean): { env: EnvList; declared: Map<string, ArgInstruction['args'][number]>; values: MetaArg[] } => {
    const env = new EnvList(autoArgs.map(([k, v]) => [k, withBuildArgs && buildArgs.has(k) ? (buildArgs.get(k) as string) : v]));
    const declared = new Map<string, ArgInstruction['args'][number]>();
    const values: MetaArg[] = [];
    for (const cmd of metaArgCmds) {
      for (const kv of cmd.args) {
        let value: string | undefined;
        if (withBuildArgs && buildArgs.has(kv.key)) {
          value = buildArgs.get(kv.key);
          consumed.add(kv.key);
        } else if (kv.value !== undefined) {
          try {
            value = processWord(kv.value, env.lookup, lexOptions).result;
          } catch (e) {
            throw withLocation(e, file, cmd.node.range);
          }
        }
        if (value !== undefined) env.set(kv.key, value);
        declared.set(kv.key, kv);
        values.push({ key: kv.key, value: value ?? env.get(kv.key), ...(kv.comment ? { comment: kv.comment } : {}) });
      }
    }
    return { env, declared, values };
  };
  const globals = buildGlobals(true);
  const globalArgKeys = [...new Set([...globals.env.keys(), ...globals.declared.keys()])];

  // InvalidDefaultArgInFrom: base names with default values only
  if (linter.enabled('InvalidDefaultArgInFrom')) {
    let defaults: EnvList | undefined;
    try {
      defaults = buildGlobals(false).env;
    } catch {
      defaults = undefined;
    }
    if (defaults) {
      for (const s of stages) {
        try {
          const r = processWord(s.baseName, defaults.lookup, lexOptions).result;
          if (referenceError(r) !== undefined) {
            linter.run('InvalidDefaultArgInFrom', s.from.node.range, `Default value for ARG ${s.baseName} results in empty or invalid base image name`);
          }
        } catch {
          // the build reports the expansion error itself
        }
      }
    }
  }

  // --- expand FROM names and platforms, resolve bases ---
  for (const s of stages) {
    const range = s.from.node.range;
    let name;
    try {
      name = processWord(s.from.baseName, globals.env.lookup, lexOptions);
    } catch (e) {
      throw withLocation(e, file, range);
    }
    const reportUnmatched = (unmatched: Set<string>) => {
      for (const v of unmatched) {
        if (globalArgKeys.includes(v)) continue;
        const m = suggest(v, globalArgKeys, true);
        linter.run('UndefinedArgInFrom', range, `FROM argument '${v}' is not declared${m ? ` (did you mean ${m}?)` : ''}`);
      }
    };
    reportUnmatched(name.unmatched);
    if (s.from.platform !== undefined) {
      const raw = s.from.platform;
      let pm;
      try {
        pm = processWord(raw, globals.env.lookup, lexOptions);
      } catch (e) {
        throw instructionError(`failed to process arguments for platform ${raw}: ${(e as Error).message}`, file, s.from.node.range);
      }
      reportUnmatched(pm.unmatched);
      if (pm.matched.size === 1 && pm.unmatched.size === 0 && pm.matched.has('TARGETPLATFORM') && pm.result === globals.env.get('TARGETPLATFORM')) {
        linter.run('RedundantTargetPlatform', range, `Setting platform to predefined ${raw} in FROM is redundant as this is the default behavior`);
      }
      if (pm.matched.size === 0 && pm.unmatched.size === 0) {
        try {
          const p = parsePlatform(pm.result, platform.targetPlatform);
          if (!(s.name ?? '').includes(p.os) && !(s.name ?? '').includes(p.architecture)) {
            linter.run('FromPlatformFlagConstDisallowed', range, `FROM --platform flag should not use constant value ${JSON.stringify(pm.result)}`);
          }
        } catch {
          // reported below
        }
      }
      if (pm.result === '') {
        const hint = didYouMeanAny(pm.unmatched, globals.env.keys(), true);
        throw instructionError(`empty platform value from expression ${raw}${hint}`, file, range);
      }
      try {
        s.platform = formatPlatform(normalizePlatform(parsePlatform(pm.result, platform.targetPlatform)));
      } catch (e) {
        if (!(e instanceof PlatformError)) throw e;
        const hint = didYouMeanAny(pm.unmatched, globals.env.keys(), true);
        throw instructionError(`failed to parse platform ${raw}: ${e.message}${hint}`, file, range);
      }
    }
    if (name.result === '') {
      throw instructionError(`base name (${s.from.baseName}) should not be blank`, file, range);
    }
    s.baseName = name.result;
    const parent = names.find(name.result, s.index);
    if (parent) s.base = { kind: 'stage', index: parent.index };
    else if (name.result === 'scratch') s.base = { kind: 'scratch' };
    else s.base = { kind: 'image', ref: name.result };
  }

  // --- ONBUILD triggers of the base (parent stage, or a known image config) run first ---
  for (const s of stages) {
    if (s.base.kind === 'stage') {
      const parent = stages[s.base.index];
      s.inherited = parent.commands.filter((c) => c.kind === 'onbuild').map((c) => (c.kind === 'onbuild' ? c.trigger : c));
    } else if (s.base.kind === 'image' && options.baseImageConfig) {
      const config = options.baseImageConfig(s.base.ref, s.platform ?? formatPlatform(normalizePlatform(platform.targetPlatform)));
      for (const trigger of config?.OnBuild ?? []) s.inherited.push(imageTrigger(trigger, s, file));
    }
  }

  // --- dependencies from COPY --from and RUN --mount from= ---
  const fromRefs = new Map<Instruction, SourceRef[]>();
  for (const s of stages) {
    for (const c of [...s.inherited, ...s.commands]) {
      const refs: SourceRef[] = [];
      if (c.kind === 'copy' && c.from !== undefined) {
        const flagRange = c.node.flags.find((f) => f.name === 'from')?.range ?? c.node.range;
        if (/\$/.test(c.from)) {
          throw instructionError(
            'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround',
            file,
            c.node.range,
          );
        }
        refs.push(resolveCopyFrom(stages, names, c.from, file, flagRange));
      }
      if (c.kind === 'run') {
        for (const m of c.mounts) {
          const from = mountFromValue(m.value);
          if (from === undefined || from === '') continue;
          const st = names.find(from);
          refs.push(st ? { kind: 'stage', index: st.index } : { kind: 'image', ref: from });
        }
      }
      for (const r of refs) if (r.kind === 'stage' && !s.deps.has(r.index)) s.deps.set(r.index, c);
      fromRefs.set(c, refs);
    }
  }

  // --- circular dependencies (BuildKit checks every stage) ---
  {
    const visited = new Set<number>();
    const path = new Set<number>();
    const visit = (i: number, trail: Instruction[]): Instruction[] | undefined => {
      if (visited.has(i)) return undefined;
      visited.add(i);
      path.add(i);
      for (const [dep, cmd] of stages[i].deps) {
        const next = [...trail, cmd];
        if (path.has(dep)) return next;
        const found = visit(dep, next);
        if (found) return found;
      }
      path.delete(i);
      return undefined;
    };
    for (const s of stages) {
      const cmds = visit(s.index, []);
      if (cmds) {
        throw instructionError(`circular dependency detected on stage: ${s.label}`, file, cmds[0].node.range, undefined, {
          lines: cmds.map((c) => c.node.range.start.line),
        });
      }
    }
  }

  // --- target ---
  let target: StageInfo;
  if (targetName !== undefined) {
    const t = names.find(targetName);
    if (!t) {
      const names = stages.filter((s) => s.name).map((s) => s.name as string);
      const hint = didYouMean(targetName, names, true);
      throw new OcibuildError('TARGET_NOT_FOUND', `target stage ${JSON.stringify(targetName)} could not be found${hint}`, {
        file,
        hint: names.length > 0 ? `stages: ${names.join(', ')}` : 'the Dockerfile has no named stages',
        details: { stages: names },
      });
    }
    target = t;
  } else {
    target = stages[stages.length - 1];
  }

  const stageDeps = (i: number): number[] => {
    const s = stages[i];
    const out = [...s.deps.keys()];
    if (s.base.kind === 'stage') out.push(s.base.index);
    return [...new Set(out)].sort((a, b) => a - b);
  };
  const needed = options.allStages
    ? new Set(stages.map((s) => s.index))
    : reachableStages(target.index, stageDeps);

  // --- dispatch needed stages in file order ---
  const finalStates = new Map<number, DispatchState>();
  const effective = new Map<number, string>();
  const out: Stage[] = [];
  for (const s of stages) {
    if (!needed.has(s.index)) continue;
    // forward references: the source must be dispatched before
    for (const c of [...s.inherited, ...s.commands]) {
      for (const r of fromRefs.get(c) ?? []) {
        if (r.kind !== 'stage' || r.index < s.index) continue;
        if (r.index === s.index) continue; // circular, reported above
        if (c.kind === 'copy') {
          throw instructionError(
            `cannot copy from stage ${JSON.stringify(c.from)}, it needs to be defined before current stage ${JSON.stringify(s.label)}`,
            file,
            c.node.range,
          );
        }
        throw instructionError(
          `cannot mount from stage ${JSON.stringify(stages[r.index].name ?? String(r.index))}, it needs to be defined before current stage ${JSON.stringify(s.label)}`,
          file,
          c.node.range,
        );
      }
    }
    if (s.base.kind === 'image') {
      const err = referenceError(s.baseName);
      if (err !== undefined) {
        throw instructionError(`failed to parse stage name ${JSON.stringify(s.baseName)}: ${err}`, file, s.from.node.range);
      }
    }
    // images named by COPY --from / RUN --mount from= resolve like FROM images
    for (const c of [...s.inherited, ...s.commands]) {
      for (const r of fromRefs.get(c) ?? []) {
        if (r.kind !== 'image') continue;
        const err = referenceError(r.ref);
        if (err !== undefined) throw instructionError(`failed to parse stage name ${JSON.stringify(r.ref)}: ${err}`, file, c.node.range);
      }
    }
    const state = initialState(s, finalStates, options, platform.targetPlatform);
    dispatchStage(s, state, {
      file,
      linter,
      lexOptions,
      globals: globals.env,
      buildArgs,
      consumed,
      fromRefs,
      ignore: options.ignore,
    });
    finalStates.set(s.index, state);
    // FROM --platform on a stage-based stage is ignored: the parent's platform wins (BuildKit)
    const effectivePlatform = s.base.kind === 'stage' ? effective.get(s.base.index) : s.platform;
    if (effectivePlatform) effective.set(s.index, effectivePlatform);
    out.push({
      index: s.index,
      ...(s.name ? { name: s.name } : {}),
      base: s.base,
      ...(effectivePlatform ? { platform: effectivePlatform } : {}),
      steps: state.steps,
      dependsOn: stageDeps(s.index),
      range: s.from.node.range,
      original: s.from.node.original,
      ...(s.from.comment ? { comment: s.from.comment } : {}),
    });
  }

  const unusedBuildArgs = [...buildArgs.keys()]
    .filter((k) => !consumed.has(k) && !PROXY_ARGS.has(k) && !BUILTIN_BUILD_ARGS.has(k) && !NON_ENV_ARGS.has(k))
    .sort();

  const byIndex = new Map(out.map((x) => [x.index, x]));
  const order = topologicalOrder(out.map((x) => x.index), (i) => byIndex.get(i)?.dependsOn ?? []);
  return {
    stages: out,
    target: target.index,
    order,
    dropped: stages.filter((s) => !needed.has(s.index)).map((s) => ({ index: s.index, ...(s.name ? { name: s.name } : {}) })),
    metaArgs: globals.values,
    unusedBuildArgs,
    targetPlatform: formatPlatform(normalizePlatform(platform.targetPlatform)),
    buildPlatform: formatPlatform(normalizePlatform(platform.buildPlatform)),
    sandboxHostname: buildArgs.get('BUILDKIT_SANDBOX_HOSTNAME') || 'buildkitsandbox',
    ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
  };
}

function initialState(s: StageInfo, finals: Map<number, DispatchState>, options: CompileOptions, targetPlatform: Platform): DispatchState {
  if (s.base.kind === 'stage') {
    const parent = finals.get(s.base.index);
    if (!parent) throw new Error(`internal: parent stage ${s.base.index} not dispatched before ${s.index}`);
    return {
      env: parent.env.clone(),
      imageEnv: [...parent.imageEnv],
      shell: parent.shell,
      args: [...parent.args],
      workdirSet: parent.workdirSet,
      steps: [],
    };
  }
  let config: ContainerConfig | undefined;
  if (s.base.kind === 'image' && options.baseImageConfig) {
    config = options.baseImageConfig(s.base.ref, s.platform ?? formatPlatform(normalizePlatform(targetPlatform)));
  }
  let imageEnv = [...(config?.Env ?? [])];
  if (!imageEnv.some((e) => splitKeyValue(e).key === 'PATH')) imageEnv = [...imageEnv, `PATH=${DEFAULT_PATH}`];
  const env = new EnvList();
  for (const e of imageEnv) {
    const { key, value } = splitKeyValue(e);
    env.set(key, value);
  }
  return {
    env,
    imageEnv,
    shell: config?.Shell && config.Shell.length > 0 ? [...config.Shell] : undefined,
    args: [],
    workdirSet: false,
    steps: [],
  };
}

interface DispatchContext {
  file: string;
  linter: Linter;
  lexOptions: ShellLexOptions;
  globals: EnvList;
  buildArgs: Map<string, string>;
  consumed: Set<string>;
  fromRefs: Map<Instruction, SourceRef[]>;
  ignore?: IgnoreInput;
}

function dispatchStage(s: StageInfo, st: DispatchState, ctx: DispatchContext): void {
  const { file, linter } = ctx;
  const trackers = new Map<string, SourceRange>();
  let sshCount = 0;
  const commands: { ins: Instruction; fromOnbuild: boolean }[] = [
    ...s.inherited.map((ins) => ({ ins, fromOnbuild: true })),
    ...s.commands.map((ins) => ({ ins, fromOnbuild: false })),
  ];
  for (const { ins, fromOnbuild } of commands) {
    const node: InstructionNode = ins.node;
    const range = node.range;
    const snapshot: StepCommon = {
      range,
      original: node.original,
      env: [...st.imageEnv],
      args: st.args.map((a) => ({ ...a })),
      ...(fromOnbuild ? { fromOnbuild: true } : {}),
    };
    const common = (): StepCommon => snapshot;
    // expansion with UndefinedVar reporting, against the env before this instruction
    const envBefore = st.env.clone();
    const reportUnmatched = (unmatched: Set<string>) => {
      for (const v of unmatched) {
        if (st.args.some((a) => a.key === v) || NON_ENV_ARGS.has(v)) continue;
        const m = suggest(v, envBefore.keys(), true);
        linter.run('UndefinedVar', range, `Usage of undefined variable '$${v}'${m ? ` (did you mean $${m}?)` : ''}`);
      }
    };
    const expandIn = (env: EnvList, word: string, opts: ShellLexOptions = ctx.lexOptions): string => {
      try {
        const r = processWord(word, env.lookup, opts);
        reportUnmatched(r.unmatched);
        return r.result;
      } catch (e) {
        throw withLocation(e, file, range);
      }
    };
    const expand = (word: string, opts?: ShellLexOptions): string => expandIn(envBefore, word, opts);
    const once = (kind: string) => {
      const prev = trackers.get(kind);
      if (prev) {
        linter.run('MultipleInstructionsDisallowed', prev, `Multiple ${kind.toUpperCase()} instructions should not be used in the same stage because only the last one will be used`);
      }
      trackers.set(kind, range);
    };
    const legacy = (pairs: readonly { noDelim: boolean }[], name: string) => {
      for (const p of pairs) {
        if (p.noDelim) linter.run('LegacyKeyValueFormat', range, `"${name} key=value" should be used instead of legacy "${name} key value" format`);
      }
    };
    let step: Step;
    switch (ins.kind) {
      case 'from':
        throw new Error('internal: FROM inside a stage');
      case 'env': {
        legacy(ins.pairs, 'ENV');
        const pairs = ins.pairs.map((p) => ({ key: expand(p.key), value: expand(p.value) }));
        for (const p of pairs) {
          if (SECRET_DENY.test(p.key) && !SECRET_ALLOW.test(p.key)) {
            linter.run('SecretsUsedInArgOrEnv', range, `Do not use ARG or ENV instructions for sensitive data (ENV ${JSON.stringify(p.key)})`);
          }
          st.env.set(p.key, p.value);
          st.imageEnv = addEnv(st.imageEnv, p.key, p.value);
        }
        step = { kind: 'env', ...common(), pairs };
        break;
      }
      case 'label':
        legacy(ins.pairs, 'LABEL');
        step = { kind: 'label', ...common(), pairs: ins.pairs.map((p) => ({ key: expand(p.key), value: expand(p.value) })) };
        break;
      case 'maintainer':
        step = { kind: 'maintainer', ...common(), maintainer: ins.value };
        break;
      case 'user':
        step = { kind: 'user', ...common(), user: expand(ins.value) };
        break;
      case 'workdir': {
        const path = expand(ins.value);
        if (path === '') throw instructionError('normalizing workdir: cannot normalize nothing', file, range);
        // only the first WORKDIR of the stage chain is checked: fixing it fixes the rest (BuildKit)
        if (!path.startsWith('/') && !st.workdirSet) {
          linter.run('WorkdirRelativePath', range, `Relative workdir ${JSON.stringify(path)} can have unexpected results if the base image changes`);
        }
        st.workdirSet = true;
        step = { kind: 'workdir', ...common(), path };
        break;
      }
      case 'stopsignal': {
        const signal = expand(ins.value);
        if (!isValidSignal(signal)) throw instructionError(`invalid signal: ${signal}`, file, range);
        step = { kind: 'stopsignal', ...common(), signal };
        break;
      }
      case 'volume': {
        const volumes = ins.values.map((v) => expand(v));
        if (volumes.some((v) => v === '')) throw instructionError('VOLUME specified can not be an empty string', file, range);
        step = { kind: 'volume', ...common(), volumes };
        break;
      }
      case 'expose': {
        const raw: string[] = [];
        for (const v of ins.values) {
          try {
            raw.push(...processWords(v, envBefore.lookup, ctx.lexOptions).words);
          } catch (e) {
            throw withLocation(e, file, range);
          }
        }
        const ports: string[] = [];
        for (const p of raw) {
          if (p.includes(':')) {
            linter.run('ExposeInvalidFormat', range, `EXPOSE instruction should not define an IP address or host-port mapping, found '${p}'`);
          }
          const proto = specProtocol(p);
          if (proto !== undefined && proto !== proto.toLowerCase()) {
            linter.run('ExposeProtoCasing', range, `Defined protocol '${p}' in EXPOSE instruction should be lowercase`);
          }
          try {
            ports.push(...parsePortSpec(p));
          } catch (e) {
            if (e instanceof PortSpecError) throw instructionError(e.message, file, range);
            throw e;
          }
        }
        step = { kind: 'expose', ...common(), ports };
        break;
      }
      case 'healthcheck':
        once('healthcheck');
        step = { kind: 'healthcheck', ...common(), health: { ...ins.health, Test: [...ins.health.Test] } };
        break;
      case 'shell':
        st.shell = [...ins.command];
        step = { kind: 'shell', ...common(), shell: [...ins.command] };
        break;
      case 'cmd':
      case 'entrypoint':
        once(ins.kind);
        if (ins.prependShell && !st.shell) {
          linter.run('JSONArgsRecommended', range, `JSON arguments recommended for ${ins.kind.toUpperCase()} to prevent unintended behavior related to OS signals`);
        }
        step = { kind: ins.kind, ...common(), command: [...ins.command], prependShell: ins.prependShell };
        break;
      case 'onbuild':
        step = { kind: 'onbuild', ...common(), expression: ins.expression };
        break;
      case 'arg': {
        const values: ArgValue[] = [];
        const before = common();
        for (const kv of ins.args) {
          if (SECRET_DENY.test(kv.key) && !SECRET_ALLOW.test(kv.key)) {
            linter.run('SecretsUsedInArgOrEnv', range, `Do not use ARG or ENV instructions for sensitive data (ARG ${JSON.stringify(kv.key)})`);
          }
          let value: string | undefined;
          if (ctx.buildArgs.has(kv.key)) {
            value = ctx.buildArgs.get(kv.key);
            ctx.consumed.add(kv.key);
          } else if (kv.value !== undefined) {
            // each ARG of one instruction sees the ones before it (BuildKit dispatchArg)
            value = expandIn(st.env, kv.value);
          } else if (ctx.globals.has(kv.key)) {
            value = ctx.globals.get(kv.key);
          }
          if (value !== undefined) st.env.set(kv.key, value);
          const av: ArgValue = value === undefined ? { key: kv.key } : { key: kv.key, value };
          st.args = [...st.args.filter((a) => a.key !== kv.key), av];
          values.push(av);
        }
        step = { kind: 'arg', ...before, values };
        break;
      }
      case 'copy':
      case 'add':
        step = dispatchCopy(ins, common(), expand, ctx);
        break;
      case 'run': {
        const r = dispatchRun(ins, common(), expand, ctx, sshCount);
        sshCount += r.mounts.filter((m) => m.type === 'ssh').length;
        step = r;
        break;
      }
    }
    st.steps.push(step);
  }
}

function dispatchCopy(
  ins: CopyInstruction,
  common: StepCommon,
  expand: (w: string, o?: ShellLexOptions) => string,
  ctx: DispatchContext,
): Step {
  const { file } = ctx;
  const range = ins.node.range;
  const NAME = ins.kind.toUpperCase();
  const sources = ins.sourcePaths.map((p) => expand(p));
  const dest = expand(ins.destPath);
  const chown = ins.chown !== undefined ? expand(ins.chown) : undefined;
  let chmod: ChmodSpec | undefined;
  if (ins.chmod !== undefined) {
    const v = expand(ins.chmod);
    if (v !== '') {
      try {
        chmod = parseChmod(v);
      } catch (e) {
        throw instructionError((e as Error).message, file, ins.node.flags.find((f) => f.name === 'chmod')?.range ?? range);
      }
    }
  }
  const checksum = ins.checksum !== undefined ? expand(ins.checksum) : undefined;
  const inline: InlineFile[] = ins.sourceContents.map((c) => ({
    name: c.path,
    data: c.expand ? expand(c.data, { escapeToken: '\\', skipProcessQuotes: true }) : c.data,
    chomp: false,
  }));
  for (const src of sources) {
    if (ins.kind === 'copy' && isHttpSource(src) && !isGitSource(src)) throw instructionError('source can\'t be a URL for COPY', file, range);
    if (ins.kind === 'copy' && isGitSource(src)) throw instructionError('source can\'t be a git ref for COPY', file, range);
  }
  if (checksum !== undefined && checksum !== '') {
    if (sources.length !== 1 || inline.length > 0) throw instructionError('checksum can\'t be specified for multiple sources', file, range);
    const src = sources[0];
    if (isGitSource(src)) {
      if (!/^[0-9a-f]{1,64}$/.test(checksum)) throw instructionError(`invalid checksum ${JSON.stringify(checksum)} for git source: expected a commit SHA (prefix)`, file, range);
    } else if (isHttpSource(src)) {
      if (!/^sha256:[0-9a-f]{64}$/.test(checksum)) {
        throw instructionError(`invalid checksum digest format ${JSON.stringify(checksum)}: expected sha256:<64 hex digits>`, file, range);
      }
    } else {
      throw instructionError('checksum requires HTTP(S) or Git sources', file, range);
    }
  }
  const refs = ctx.fromRefs.get(ins) ?? [];
  const from: SourceRef = ins.kind === 'copy' && refs.length > 0 ? refs[0] : { kind: 'context' };
  if (from.kind === 'context' && ctx.ignore) {
    for (const src of sources) {
      if (ins.kind === 'add' && (isHttpSource(src) || isGitSource(src))) continue;
      checkIgnored(src, NAME === 'ADD' ? 'Add' : 'Copy', ctx, range);
    }
  }
  return {
    kind: ins.kind,
    ...common,
    sources,
    inline,
    dest,
    from,
    ...(chown !== undefined && chown !== '' ? { chown } : {}),
    ...(chmod ? { chmod } : {}),
    link: ins.link,
    parents: ins.parents,
    exclude: [...ins.exclude],
    ...(checksum !== undefined && checksum !== '' ? { checksum } : {}),
    keepGitDir: ins.keepGitDir,
    ...(ins.unpack !== undefined ? { unpack: ins.unpack } : {}),
    dependsOn: from.kind === 'stage' ? [from.index] : [],
  };
}

function checkIgnored(src: string, cmd: 'Copy' | 'Add', ctx: DispatchContext, range: SourceRange): void {
  const ignore = ctx.ignore as IgnoreInput;
  const p = cleanPath(src);
  if (p === '.' || p === '/') {
    const rootIgnored = ignore.patterns.some((x) => !x.startsWith('!') && (x === '*' || x === '**' || x === '**/*'));
    if (!rootIgnored) return;
  }
  const rel = p.replace(/^\/+/, '');
  const relOrRoot = rel === '.' ? '' : rel;
  // a negation at or below the source makes the exclusion undecidable statically
  for (const pat of ignore.patterns) {
    if (!pat.startsWith('!')) continue;
    const elems = pat.slice(1).split('/');
    const wi = elems.findIndex((e) => /[*?[]/.test(e));
    const prefix = wi < 0 ? elems.join('/') : elems.slice(0, wi).join('/');
    const below = (path: string, base: string) => base === '' || path === base || path.startsWith(`${base}/`);
    if (below(prefix, relOrRoot)) return;
    if (wi >= 0 && below(relOrRoot, prefix)) return;
  }
  if (ignore.matches(p === '/' ? '.' : rel)) {
    ctx.linter.run('CopyIgnoredFile', range, `Attempting to ${cmd} file ${JSON.stringify(p)} that is excluded by .dockerignore`);
  }
}

function dispatchRun(
  ins: RunInstruction,
  common: StepCommon,
  expand: (w: string, o?: ShellLexOptions) => string,
  ctx: DispatchContext,
  sshBase: number,
): Extract<Step, { kind: 'run' }> {
  const { file } = ctx;
  const mounts: MountSpec[] = [];
  const dependsOn = new Set<number>();
  const refs = ctx.fromRefs.get(ins) ?? [];
  let refIdx = 0;
  let ssh = sshBase;
  for (const m of ins.mounts) {
    const frange = m.flag?.range ?? ins.node.range;
    let pm: ParsedMount;
    try {
      pm = parseMount(m.value, (v) => expand(v));
    } catch (e) {
      if (e instanceof RunFlagError) throw instructionError(e.message, file, frange);
      throw e;
    }
    let from: SourceRef | undefined;
    if (pm.from !== undefined && pm.from !== '') {
      from = refs[refIdx++];
      if (!from) throw new Error('internal: mount reference not resolved');
      if (from.kind === 'stage') dependsOn.add(from.index);
    }
    const target = pm.target;
    if (target !== undefined && cleanPath(target) === '/') throw instructionError(`invalid mount target ${JSON.stringify('/')}`, file, frange);
    switch (pm.type) {
      case 'bind':
        mounts.push({ type: 'bind', target: target as string, source: pm.source ?? '/', from: from ?? { kind: 'context' }, readOnly: pm.readOnly });
        break;
      case 'cache':
        mounts.push({
          type: 'cache',
          target: target as string,
          id: cacheId(pm.id ?? cleanPath(target as string), ctx.buildArgs.get('BUILDKIT_CACHE_MOUNT_NS')),
          sharing: pm.sharing ?? 'shared',
          ...(from ? { from } : {}),
          source: pm.source ?? '/',
          readOnly: pm.readOnly,
          mode: pm.mode ?? 0o755,
          uid: pm.uid ?? 0,
          gid: pm.gid ?? 0,
        });
        break;
      case 'tmpfs':
        mounts.push({ type: 'tmpfs', target: target as string, ...(pm.size !== undefined ? { size: pm.size } : {}), readOnly: pm.readOnly });
        break;
      case 'secret': {
        const id = pm.source ?? pm.id ?? (pm.target !== undefined ? posixBase(pm.target) : (pm.env as string));
        const secretTarget = pm.target ?? (pm.env === undefined ? `/run/secrets/${posixBase(id)}` : undefined);
        mounts.push({
          type: 'secret',
          id,
          ...(secretTarget !== undefined ? { target: secretTarget } : {}),
          ...(pm.env !== undefined ? { env: pm.env } : {}),
          required: pm.required,
          mode: pm.mode ?? 0o400,
          uid: pm.uid ?? 0,
          gid: pm.gid ?? 0,
        });
        break;
      }
      case 'ssh':
        mounts.push({
          type: 'ssh',
          id: pm.id ?? 'default',
          target: pm.target ?? `/run/buildkit/ssh_agent.${ssh}`,
          required: pm.required,
          mode: pm.mode ?? 0o600,
          uid: pm.uid ?? 0,
          gid: pm.gid ?? 0,
        });
        ssh++;
        break;
    }
  }
  return {
    kind: 'run',
    ...common,
    command: [...ins.command],
    prependShell: ins.prependShell,
    files: ins.files.map((f) => ({ ...f })),
    mounts,
    network: ins.network,
    security: ins.security,
    devices: ins.devices.map((d) => ({ ...d })),
    proxy: [...ctx.buildArgs]
      .filter(([k]) => PROXY_ARGS.has(k))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => ({ key, value })),
    dependsOn: [...dependsOn].sort((a, b) => a - b),
  };
}

/** A cache mount id under the optional BUILDKIT_CACHE_MOUNT_NS namespace (path-joined, like BuildKit). */
function cacheId(id: string, ns: string | undefined): string {
  if (!ns) return id;
  const joined = cleanPath(`${ns}/${id}`);
  return joined;
}

function posixBase(p: string): string {
  const c = cleanPath(p);
  if (c === '/') return '/';
  const parts = c.split('/');
  return parts[parts.length - 1];
}

function checkConfigFor(ast: DockerfileAst, options: CompileOptions): CheckConfig {
  const fromArg = options.buildArgs?.BUILDKIT_DOCKERFILE_CHECK;
  const directive = ast.directives.find((d) => d.name === 'check');
  const text = options.check ?? fromArg ?? directive?.value ?? '';
  try {
    return parseCheckDirective(text);
  } catch (e) {
    throw withLocation(e, ast.file, directive?.range ?? ast.instructions[0]?.range);
  }
}

/**
 * BuildKit's InvalidBaseImagePlatform check, for the engine once a base image
 * is resolved (it cannot be decided statically): a warning when the pulled
 * image's OS or architecture differs from the expected platform, honouring the
 * Dockerfile's `check` settings; undefined otherwise.
 */
export function checkBaseImagePlatform(
  ast: DockerfileAst,
  options: Pick<CompileOptions, 'check' | 'buildArgs'>,
  input: { image: string; expected: Platform; actual: Platform; range: SourceRange },
): Warning | undefined {
  const { expected, actual } = input;
  if (expected.os === actual.os && expected.architecture === actual.architecture) return undefined;
  const linter = new Linter(checkConfigFor(ast, options), ast.file);
  const fmt = (p: Platform) => formatPlatform(normalizePlatform(p));
  linter.run(
    'InvalidBaseImagePlatform',
    input.range,
    `Base image ${input.image} was pulled with platform ${JSON.stringify(fmt(actual))}, expected ${JSON.stringify(fmt(expected))} for current build`,
  );
  return linter.warnings[0];
}

/**
 * Compile a parsed Dockerfile into the BuildGraph for `options.target`.
 * Throws OcibuildError (`DOCKERFILE_INSTRUCTION`, `DOCKERFILE_EXPANSION`,
 * `TARGET_NOT_FOUND`, `DOCKERFILE_CHECK` when `# check=error=true` and a rule
 * fired) located at the offending instruction; warnings come back as data.
 */
export function compileDockerfile(ast: DockerfileAst, options: CompileOptions = {}): CompileResult {
  const linter = new Linter(checkConfigFor(ast, options), ast.file);
  let value: BuildGraph;
  try {
    value = compileCore(ast, options, linter);
  } catch (e) {
    if (isOcibuildError(e)) {
      const details = { ...(e.details ?? {}), warnings: linter.warnings };
      Object.defineProperty(e, 'details', { value: details, configurable: true, enumerable: true, writable: true });
    }
    throw e;
  }
  const err = linter.error();
  if (err) throw err;
  return { value, warnings: linter.warnings };
}

/**
 * Run BuildKit's build checks over every stage. Never throws for Dockerfile
 * problems: an error the build would hit is returned in `error`.
 */
export function checkDockerfile(ast: DockerfileAst, options: Omit<CompileOptions, 'allStages'> = {}): CheckResult {
  let config: CheckConfig;
  try {
    config = checkConfigFor(ast, options);
  } catch (e) {
    if (isOcibuildError(e)) return { warnings: [], errorOnWarnings: false, error: e, failed: true };
    throw e;
  }
  const linter = new Linter(config, ast.file);
  let error: OcibuildError | undefined;
  try {
    compileCore(ast, { ...options, allStages: true }, linter);
  } catch (e) {
    if (!isOcibuildError(e)) throw e;
    error = e;
  }
  const lintError = linter.error();
  const final = error ?? lintError;
  return { warnings: linter.warnings, errorOnWarnings: config.error, ...(final ? { error: final } : {}), failed: final !== undefined };
}
