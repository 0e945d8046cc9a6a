/**
 * Canonical step definitions for cache keys: the step as expanded, without
 * ranges, original text, comments or anything that does not change the result.
 */
import type { ArgValue, MountSpec, SourceRef, Step } from './types.js';

/** A JSON value with sorted object keys. */
export type CanonicalValue = string | number | boolean | null | CanonicalValue[] | { [k: string]: CanonicalValue };

function sourceRef(ref: SourceRef): CanonicalValue {
  switch (ref.kind) {
    case 'context':
      // The main context keeps its historical form; a named one adds its name.
      return ref.name === undefined ? { kind: 'context' } : { kind: 'context', name: ref.name };
    case 'stage':
      return { kind: 'stage', index: ref.index };
    case 'image':
      return { kind: 'image', ref: ref.ref };
  }
}

function mount(m: MountSpec): CanonicalValue {
  switch (m.type) {
    case 'bind':
      return { type: 'bind', target: m.target, source: m.source, from: sourceRef(m.from), readOnly: m.readOnly };
    case 'cache':
      return {
        type: 'cache',
        target: m.target,
        id: m.id,
        sharing: m.sharing,
        from: m.from ? sourceRef(m.from) : null,
        source: m.source,
        readOnly: m.readOnly,
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
      };
    case 'tmpfs':
      return { type: 'tmpfs', target: m.target, size: m.size ?? null, readOnly: m.readOnly };
    case 'secret':
      // The secret's value never enters a key; its id and where it is mounted do.
      return {
        type: 'secret',
        id: m.id,
        target: m.target ?? null,
        env: m.env ?? null,
        required: m.required,
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
      };
    case 'ssh':
      return { type: 'ssh', id: m.id, target: m.target, required: m.required, mode: m.mode, uid: m.uid, gid: m.gid };
  }
}

/**
 * Declared ARG values that reach a RUN's environment. Undeclared proxy build
 * args (RunStep.proxy) stay out, as in BuildKit; a proxy arg declared with
 * ARG is an ordinary ARG and invalidates the cache when it changes.
 */
function runArgs(args: readonly ArgValue[]): CanonicalValue {
  return args.filter((a) => a.value !== undefined).map((a) => [a.key, a.value as string]);
}

/**
 * The canonical, position-free description of a step. Two steps with equal
 * canonical forms (and equal parents and inputs) produce the same result.
 * For RUN, the ARG values in scope are included because they become the
 * command's environment; for other steps the environment is part of the
 * parent's config and so of the parent key.
 */
export function canonicalStep(step: Step): CanonicalValue {
  switch (step.kind) {
    case 'run':
      return {
        kind: 'run',
        command: step.command,
        prependShell: step.prependShell,
        files: step.files.map((f) => ({ name: f.name, data: f.data, chomp: f.chomp })),
        mounts: step.mounts.map(mount),
        network: step.network,
        security: step.security,
        devices: step.devices.map((d) => ({ name: d.name, required: d.required })),
        args: runArgs(step.args),
      };
    case 'copy':
    case 'add':
      return {
        kind: step.kind,
        sources: step.sources,
        inline: step.inline.map((f) => ({ name: f.name, data: f.data })),
        dest: step.dest,
        from: sourceRef(step.from),
        chown: step.chown ?? null,
        chmod: step.chmod ? (step.chmod.kind === 'octal' ? step.chmod.mode : step.chmod.expression) : null,
        link: step.link,
        parents: step.parents,
        exclude: step.exclude,
        checksum: step.checksum ?? null,
        keepGitDir: step.keepGitDir,
        unpack: step.unpack ?? null,
      };
    case 'env':
    case 'label':
      return { kind: step.kind, pairs: step.pairs.map((p) => [p.key, p.value]) };
    case 'maintainer':
      return { kind: 'maintainer', maintainer: step.maintainer };
    case 'expose':
      return { kind: 'expose', ports: step.ports };
    case 'user':
      return { kind: 'user', user: step.user };
    case 'workdir':
      return { kind: 'workdir', path: step.path };
    case 'volume':
      return { kind: 'volume', volumes: step.volumes };
    case 'stopsignal':
      return { kind: 'stopsignal', signal: step.signal };
    case 'healthcheck':
      return {
        kind: 'healthcheck',
        test: step.health.Test,
        interval: step.health.Interval ?? 0,
        timeout: step.health.Timeout ?? 0,
        startPeriod: step.health.StartPeriod ?? 0,
        startInterval: step.health.StartInterval ?? 0,
        retries: step.health.Retries ?? 0,
      };
    case 'shell':
      return { kind: 'shell', shell: step.shell };
    case 'cmd':
    case 'entrypoint':
      return { kind: step.kind, command: step.command, prependShell: step.prependShell };
    case 'arg':
      return { kind: 'arg', values: step.values.map((a) => [a.key, a.value ?? null]) };
    case 'onbuild':
      return { kind: 'onbuild', expression: step.expression };
  }
}

/** Canonical JSON text (object keys sorted recursively) of any canonical value. */
export function canonicalJson(value: CanonicalValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}
