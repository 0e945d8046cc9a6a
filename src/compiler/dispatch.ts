/**
 * Step dispatch: one stage's instructions to typed, expanded steps, with
 * BuildKit's expansion rules, ARG/ENV environment and dispatch-time checks.
 */
import { type SourceRange } from '../errors.js';
import type { InstructionNode } from '../parser/ast.js';
import type { ContainerConfig, Platform } from '../oci/types.js';
import type { ArgValue, ChmodSpec, InlineFile, MountSpec, SourceRef, Step, StepCommon } from '../graph/types.js';
import { cleanPath, resolveWorkdir, DEFAULT_PATH, splitKeyValue } from '../graph/config.js';
import type { CopyInstruction, Instruction, RunInstruction } from './instructions.js';
import type { Linter } from './lint.js';
import { formatPlatform, normalizePlatform } from './platform.js';
import { parsePortSpec, PortSpecError, specProtocol } from './expose.js';
import { parseMount, RunFlagError, type ParsedMount } from './run-flags.js';
import { isValidSignal } from './signal.js';
import { processWord, processWords, type ShellLexOptions } from './shell-lex.js';
import { suggest } from './suggest.js';
import {
  ArgChain,
  attachLazyArgs,
  attachLazyEnv,
  EnvList,
  ImageEnv,
  NON_ENV_ARGS,
  PROXY_ARGS,
  SECRET_ALLOW,
  SECRET_DENY,
  instructionError,
  isGitSource,
  isHttpSource,
  withLocation,
  type DispatchState,
  type IgnoreInput,
  type StageInfo,
} from './state.js';

/**
 * BuildKit's system.IsAbs for the stage's OS. Elsewhere only `/...` is absolute.
 * On Windows the system drive's letter is dropped first (`C:\go`, `c:/go`,
 * `\go` and `/go` are absolute; `C:go` and a path on another drive are not).
 * The path is the expanded word: with the default escape `\`, `C:\go` has
 * become `C:go`, which is why Windows Dockerfiles use `# escape=\``.
 */
export function isAbsPath(p: string, os: string): boolean {
  if (os !== 'windows') return p.startsWith('/');
  let rest = p;
  if (/^[A-Za-z]:/.test(p)) {
    if (p[0] !== 'C' && p[0] !== 'c') return false;
    rest = p.slice(2);
  }
  return rest.startsWith('/') || rest.startsWith('\\');
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

/** The starting dispatch state of a stage: its parent stage's final state, or its base image's config. */
export function initialState(
  s: StageInfo,
  finals: Map<number, DispatchState>,
  baseImageConfig: ((ref: string, platform: string) => ContainerConfig | undefined) | undefined,
  targetPlatform: Platform,
): DispatchState {
  if (s.base.kind === 'stage') {
    const parent = finals.get(s.base.index);
    if (!parent) throw new Error(`internal: parent stage ${s.base.index} not dispatched before ${s.index}`);
    return {
      env: parent.env.clone(),
      imageEnv: parent.imageEnv,
      shell: parent.shell,
      args: parent.args,
      workdirSet: parent.workdirSet,
      workdir: parent.workdir,
      steps: [],
    };
  }
  let config: ContainerConfig | undefined;
  if (s.base.kind === 'image' && baseImageConfig) {
    config = baseImageConfig(s.base.ref, s.platform ?? formatPlatform(normalizePlatform(targetPlatform)));
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
    imageEnv: ImageEnv.of(imageEnv),
    shell: config?.Shell && config.Shell.length > 0 ? [...config.Shell] : undefined,
    args: ArgChain.empty(),
    workdirSet: false,
    // known for scratch and for an image whose config was given; else decided at run time
    workdir: s.base.kind === 'scratch' ? '/' : config ? resolveWorkdir(undefined, config.WorkingDir || '/') : undefined,
    steps: [],
  };
}

/** What the dispatcher needs from the compile run. */
export interface DispatchContext {
  file: string;
  /** The stage's OS (`linux`, `windows`): which paths are absolute. */
  os: string;
  linter: Linter;
  lexOptions: ShellLexOptions;
  globals: EnvList;
  buildArgs: Map<string, string>;
  consumed: Set<string>;
  fromRefs: Map<Instruction, SourceRef[]>;
  ignore?: IgnoreInput;
}

/** Dispatch one stage: expand and type each instruction into a Step, running the dispatch-time checks. */
export function dispatchStage(s: StageInfo, st: DispatchState, ctx: DispatchContext): void {
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
    const envSnapshot = st.imageEnv;
    const argsSnapshot = st.args;
    const snapshot: StepCommon = {
      range,
      original: node.original,
      env: [], // replaced by a lazy view of envSnapshot once the step is built
      args: [], // replaced by a lazy view of argsSnapshot once the step is built
      ...(fromOnbuild ? { fromOnbuild: true } : {}),
    };
    const common = (): StepCommon => snapshot;
    // Expansion with UndefinedVar reporting, against the env before this
    // instruction. No copy: only ENV and ARG change st.env, ENV after all its
    // expansions, ARG on purpose (each of its words sees the ones before).
    const envBefore = st.env;
    const reportUnmatched = (unmatched: Set<string>) => {
      for (const v of unmatched) {
        if (st.args.has(v) || NON_ENV_ARGS.has(v)) continue;
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
          st.imageEnv = st.imageEnv.set(p.key, p.value);
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
        if (!isAbsPath(path, ctx.os) && !st.workdirSet) {
          linter.run('WorkdirRelativePath', range, `Relative workdir ${JSON.stringify(path)} can have unexpected results if the base image changes`);
        }
        st.workdirSet = true;
        st.workdir =
          ctx.os === 'windows'
            ? undefined // Windows paths are resolved by the build, not here
            : path.startsWith('/')
              ? resolveWorkdir(undefined, path)
              : st.workdir !== undefined
                ? resolveWorkdir(st.workdir, path)
                : undefined;
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
          st.args = st.args.add(av);
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
        const r = dispatchRun(ins, common(), expand, ctx, sshCount, st.workdir);
        sshCount += r.mounts.filter((m) => m.type === 'ssh').length;
        step = r;
        break;
      }
    }
    attachLazyEnv(step, envSnapshot);
    attachLazyArgs(step, argsSnapshot);
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
  if (from.kind === 'context' && from.name === undefined && ctx.ignore) {
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
  workdir: string | undefined,
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
    // bind, cache and tmpfs: a relative or empty target joins the working
    // directory when the step runs (BuildKit dispatchRunMounts); only a target
    // that resolves to `/` is an error, caught here when the directory is known.
    const target = pm.target ?? '';
    if ((pm.type === 'bind' || pm.type === 'cache' || pm.type === 'tmpfs') && ctx.os !== 'windows') {
      const resolved = target.startsWith('/') ? cleanPath(target) : workdir !== undefined ? resolveWorkdir(workdir, target) : undefined;
      if (resolved === '/') throw instructionError(`invalid mount target ${JSON.stringify('/')}`, file, frange);
    }
    switch (pm.type) {
      case 'bind':
        mounts.push({ type: 'bind', target, source: pm.source || '/', from: from ?? { kind: 'context' }, readOnly: pm.readOnly });
        break;
      case 'cache':
        mounts.push({
          type: 'cache',
          target,
          // BuildKit: an empty id is the cleaned target as written (`.` for none)
          id: cacheId(pm.id || cleanPath(target), ctx.buildArgs.get('BUILDKIT_CACHE_MOUNT_NS')),
          sharing: pm.sharing ?? 'shared',
          ...(from ? { from } : {}),
          source: pm.source || '/',
          readOnly: pm.readOnly,
          mode: pm.mode ?? 0o755,
          uid: pm.uid ?? 0,
          gid: pm.gid ?? 0,
        });
        break;
      case 'tmpfs':
        mounts.push({ type: 'tmpfs', target, ...(pm.size !== undefined ? { size: pm.size } : {}), readOnly: pm.readOnly });
        break;
      case 'secret': {
        // BuildKit dispatchSecret: source, else id, else the target's base name
        const id = pm.source || pm.id || (pm.target ? posixBase(pm.target) : (pm.env as string));
        const secretTarget = pm.target || (pm.env === undefined ? `/run/secrets/${posixBase(id)}` : undefined);
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
          id: pm.id || 'default',
          target: pm.target || `/run/buildkit/ssh_agent.${ssh}`,
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

