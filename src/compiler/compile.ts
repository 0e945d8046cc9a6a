/**
 * The Dockerfile compiler: syntax tree → typed instructions → stages →
 * BuildGraph, with BuildKit's ARG/ENV scoping, expansion rules, stage
 * resolution and build checks. Pure: no IO, warnings returned as data.
 */
import { OcibuildError, isOcibuildError, type SourceRange } from '../errors.js';
import type { DockerfileAst, InstructionNode } from '../parser/ast.js';
import { parseDockerfile } from '../parser/index.js';
import type { ContainerConfig, Platform } from '../oci/types.js';
import type { BuildGraph, CopyStep, MetaArg, NamedContextRef, SourceRef, Stage } from '../graph/types.js';
import { DEFAULT_PATH } from '../graph/config.js';
import { reachableStages, topologicalOrder } from '../graph/order.js';
import { parseInstruction, isSelfConsistentCasing, type ArgInstruction, type Instruction, type InstructionLint } from './instructions.js';
import { Linter, parseCheckDirective, type CheckConfig, type Warning } from './lint.js';
import { formatPlatform, normalizePlatform, parsePlatform, PlatformError } from './platform.js';
import { referenceError } from './reference.js';
import { processWord, type ShellLexOptions } from './shell-lex.js';
import { didYouMean, didYouMeanAny, suggest } from './suggest.js';
import { dispatchStage, initialState } from './dispatch.js';
import {
  EnvList,
  NON_ENV_ARGS,
  PROXY_ARGS,
  instructionError,
  withLocation,
  type DispatchState,
  type IgnoreInput,
  type StageInfo,
} from './state.js';

export type { IgnoreInput } from './state.js';
export { parseChmod } from './dispatch.js';

/** Build args the builder itself reads (never "unused"). */
const BUILTIN_BUILD_ARGS = new Set([
  'BUILDKIT_SYNTAX', 'BUILDKIT_MULTI_PLATFORM', 'BUILDKIT_SANDBOX_HOSTNAME', 'BUILDKIT_CACHE_MOUNT_NS',
  'BUILDKIT_DOCKERFILE_CHECK', 'BUILDKIT_CONTEXT_KEEP_GIT_DIR', 'BUILDKIT_INLINE_CACHE', 'BUILDKIT_BUILD_NAME',
  'SOURCE_DATE_EPOCH',
]);
const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);

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
  /**
   * Named build contexts (`--build-context`): what a stage name, a `FROM`
   * image or a `--from` name resolves to, or undefined when no context has
   * that name (the caller compares names as BuildKit does). As in BuildKit, a
   * context named like a stage replaces the stage; otherwise one named like an
   * image replaces the image wherever it is used. `scratch` and `context` are
   * never looked up.
   */
  namedContext?: (name: string) => NamedContextRef | undefined;
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

/** How `--from` names resolve: stages, then named contexts, then images. */
interface FromResolver {
  stages: readonly StageInfo[];
  names: StageNames;
  lookup: (name: string) => NamedContextRef | undefined;
  /** Image references that came from named contexts (not checked as Dockerfile references). */
  fromContext: WeakSet<SourceRef>;
  file: string;
}

/** A stage as a source: a stage replaced by a directory context reads that directory directly. */
function stageSource(s: StageInfo): SourceRef {
  return s.dirBase !== undefined && s.replaced ? { kind: 'context', name: s.dirBase } : { kind: 'stage', index: s.index };
}

/** A `--from` name that is no stage: a named context, else an image. */
function namedSource(r: FromResolver, name: string, range: SourceRange): SourceRef {
  const nc = r.lookup(name);
  if (!nc) return { kind: 'image', ref: name };
  switch (nc.kind) {
    case 'dir':
      return { kind: 'context', name: nc.name };
    case 'image': {
      const ref: SourceRef = { kind: 'image', ref: nc.ref };
      r.fromContext.add(ref);
      return ref;
    }
    case 'scratch':
      throw instructionError(`${nc.flag}: an empty context (docker-image://scratch) has no files to copy or mount`, r.file, range);
    case 'target': {
      const t = r.names.find(nc.stage);
      if (!t) throw contextTargetError(nc, r, range);
      return stageSource(t);
    }
  }
}

function contextTargetError(nc: Extract<NamedContextRef, { kind: 'target' }>, r: FromResolver, range: SourceRange): OcibuildError {
  const all = r.stages.filter((s) => s.name).map((s) => s.name as string);
  return instructionError(`${nc.flag}: no stage named ${JSON.stringify(nc.stage)}${didYouMean(nc.stage, all, true)}`, r.file, range);
}

/** Resolve a COPY --from value: stage name, stage index, named context, else an image. */
function resolveCopyFrom(r: FromResolver, from: string, range: SourceRange): SourceRef {
  if (/^[+-]?[0-9]+$/.test(from)) {
    const index = Number(from);
    if (index < 0 || index >= r.stages.length) throw instructionError(`invalid stage index ${index}`, r.file, range);
    return stageSource(r.stages[index]);
  }
  const s = r.names.find(from);
  if (s) return stageSource(s);
  return namedSource(r, from, range);
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

  // --- named build contexts ---
  const lookup = (n: string): NamedContextRef | undefined => (RESERVED_STAGE_NAMES.has(n.toLowerCase()) ? undefined : options.namedContext?.(n));
  const resolver: FromResolver = { stages, names, lookup, fromContext: new WeakSet(), file };
  /** A stage's base from a named context. */
  const contextBase = (s: StageInfo, nc: NamedContextRef): void => {
    const range = s.from.node.range;
    switch (nc.kind) {
      case 'dir':
        s.base = { kind: 'scratch' };
        s.dirBase = nc.name;
        return;
      case 'image':
        s.base = { kind: 'image', ref: nc.ref };
        s.baseFromContext = true;
        return;
      case 'scratch':
        s.base = { kind: 'scratch' };
        return;
      case 'target': {
        const t = names.find(nc.stage);
        if (!t) throw contextTargetError(nc, resolver, range);
        if (t.index >= s.index) {
          const what = s.replaced ? `stage ${JSON.stringify(s.label)}, which it replaces` : `stage ${JSON.stringify(s.label)}, whose base it replaces`;
          throw instructionError(`${nc.flag}: stage ${JSON.stringify(t.label)} must be defined before ${what}`, file, range);
        }
        s.base = { kind: 'stage', index: t.index };
        return;
      }
    }
  };

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
    // BuildKit's order: a context named like this stage replaces it; then an earlier stage named like
    // the base; then a context named like the base image; then the image.
    const replacing = s.name !== undefined ? lookup(s.name) : undefined;
    if (replacing) {
      s.replaced = true;
      s.commands = [];
      contextBase(s, replacing);
      continue;
    }
    const parent = names.find(name.result, s.index);
    if (parent) s.base = { kind: 'stage', index: parent.index };
    else if (name.result === 'scratch') s.base = { kind: 'scratch' };
    else {
      const nc = lookup(name.result);
      if (nc) contextBase(s, nc);
      else s.base = { kind: 'image', ref: name.result };
    }
  }

  // --- ONBUILD triggers of the base (parent stage, or a known image config) run first ---
  for (const s of stages) {
    if (s.replaced) continue; // as BuildKit: a replaced stage dispatches nothing, triggers included
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
        refs.push(resolveCopyFrom(resolver, c.from, flagRange));
      }
      if (c.kind === 'run') {
        for (const m of c.mounts) {
          const from = mountFromValue(m.value);
          if (from === undefined || from === '') continue;
          const st = names.find(from);
          refs.push(st ? stageSource(st) : namedSource(resolver, from, m.flag?.range ?? c.node.range));
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
    if (s.base.kind === 'image' && !s.baseFromContext) {
      const err = referenceError(s.baseName);
      if (err !== undefined) {
        throw instructionError(`failed to parse stage name ${JSON.stringify(s.baseName)}: ${err}`, file, s.from.node.range);
      }
    }
    // images named by COPY --from / RUN --mount from= resolve like FROM images
    for (const c of [...s.inherited, ...s.commands]) {
      for (const r of fromRefs.get(c) ?? []) {
        if (r.kind !== 'image' || resolver.fromContext.has(r)) continue;
        const err = referenceError(r.ref);
        if (err !== undefined) throw instructionError(`failed to parse stage name ${JSON.stringify(r.ref)}: ${err}`, file, c.node.range);
      }
    }
    const state = initialState(s, finalStates, options.baseImageConfig, platform.targetPlatform);
    // FROM --platform on a stage-based stage is ignored: the parent's platform wins (BuildKit)
    const effectivePlatform = s.base.kind === 'stage' ? effective.get(s.base.index) : s.platform;
    dispatchStage(s, state, {
      file,
      // path rules (absolute paths, mount targets) follow the stage's OS
      os: effectivePlatform ? parsePlatform(effectivePlatform, platform.targetPlatform).os : platform.targetPlatform.os,
      linter,
      lexOptions,
      globals: globals.env,
      buildArgs,
      consumed,
      fromRefs,
      ignore: options.ignore,
    });
    if (s.dirBase !== undefined) state.steps.unshift(dirBaseStep(s, s.dirBase));
    finalStates.set(s.index, state);
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

/**
 * `FROM NAME` of a directory context: the stage starts as the directory's
 * files (owned by 0:0, its .dockerignore applied), as BuildKit's local source
 * under a scratch image config; written as a first step copying the whole
 * context to `/`, cached like any context copy.
 */
function dirBaseStep(s: StageInfo, name: string): CopyStep {
  return {
    kind: 'copy',
    range: s.from.node.range,
    original: s.from.node.original,
    env: [`PATH=${DEFAULT_PATH}`],
    args: [],
    sources: ['.'],
    inline: [],
    dest: '/',
    from: { kind: 'context', name },
    link: false,
    parents: false,
    exclude: [],
    keepGitDir: false,
    dependsOn: [],
  };
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
