/**
 * How steps change the image configuration, as BuildKit's dispatchers do it.
 * Pure: every function returns new objects and never mutates its inputs.
 */
import type { ContainerConfig, HealthConfig } from '../oci/types.js';
import type { Step } from './types.js';

/** `PATH` BuildKit gives a Linux stage whose base has none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The shell used for shell-form commands when the image sets none (Linux). */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

/** The config-relevant state of a stage while its steps are applied. */
export interface ConfigState {
  config: ContainerConfig;
  /** Image `author` (MAINTAINER). */
  author?: string;
  /** True once this stage ran CMD: ENTRYPOINT then keeps Cmd, else clears it. */
  cmdSet: boolean;
}

function cloneConfig(c: ContainerConfig): ContainerConfig {
  return structuredClone(c);
}

/** Split `KEY=value` (a bare `KEY` means an empty value). */
export function splitKeyValue(entry: string): { key: string; value: string } {
  const i = entry.indexOf('=');
  return i < 0 ? { key: entry, value: '' } : { key: entry.slice(0, i), value: entry.slice(i + 1) };
}

/**
 * Set `key` in an Env list: the first entry with that key (or a bare `key`)
 * is replaced in place, otherwise `key=value` is appended. Returns a new list.
 */
export function addEnv(env: readonly string[], key: string, value: string): string[] {
  const out = [...env];
  const i = out.findIndex((e) => splitKeyValue(e).key === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

/**
 * The starting state of a stage. `base` is the base image's (or parent
 * stage's) config; undefined for `scratch`. As BuildKit does on Linux, a
 * default `PATH` is added when the base has none, and scratch starts with
 * `WorkingDir` `/`.
 */
export function initialConfigState(base?: ContainerConfig, author?: string): ConfigState {
  const config: ContainerConfig = base ? cloneConfig(base) : { WorkingDir: '/' };
  const env = config.Env ?? [];
  if (!env.some((e) => splitKeyValue(e).key === 'PATH')) config.Env = [...env, `PATH=${DEFAULT_PATH}`];
  else config.Env = [...env];
  return { config, author, cmdSet: false };
}

/** The argv of a shell-form command under `config`'s shell. */
export function withShell(config: ContainerConfig, command: readonly string[]): string[] {
  const shell = config.Shell && config.Shell.length > 0 ? config.Shell : DEFAULT_SHELL;
  return [...shell, command.join(' ')];
}

/** Join `p` to the working directory `cwd` the way BuildKit's WORKDIR does (POSIX paths). */
export function resolveWorkdir(cwd: string | undefined, p: string): string {
  const joined = p.startsWith('/') ? p : `${cwd && cwd !== '' ? cwd : '/'}/${p}`;
  return cleanPath(joined);
}

/** Go's path.Clean for absolute or relative POSIX paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const s = out.join('/');
  if (rooted) return `/${s}`;
  return s === '' ? '.' : s;
}

/**
 * Apply one step's config change. RUN, COPY, ADD and ARG leave the config
 * as it is (their effect is a layer or the RUN environment); WORKDIR changes
 * `WorkingDir` (the engine also creates the directory).
 */
export function applyConfigStep(state: ConfigState, step: Step): ConfigState {
  const config = cloneConfig(state.config);
  let { author, cmdSet } = state;
  switch (step.kind) {
    case 'env': {
      let env = config.Env ?? [];
      for (const p of step.pairs) env = addEnv(env, p.key, p.value);
      config.Env = env;
      break;
    }
    case 'label': {
      const labels = { ...(config.Labels ?? {}) };
      for (const p of step.pairs) labels[p.key] = p.value;
      config.Labels = labels;
      break;
    }
    case 'maintainer':
      author = step.maintainer;
      break;
    case 'expose': {
      const ports = { ...(config.ExposedPorts ?? {}) };
      for (const p of step.ports) ports[p] = {};
      config.ExposedPorts = ports;
      break;
    }
    case 'user':
      config.User = step.user;
      break;
    case 'workdir':
      config.WorkingDir = resolveWorkdir(config.WorkingDir, step.path);
      break;
    case 'volume': {
      const volumes = { ...(config.Volumes ?? {}) };
      for (const v of step.volumes) volumes[v] = {};
      config.Volumes = volumes;
      break;
    }
    case 'stopsignal':
      config.StopSignal = step.signal;
      break;
    case 'healthcheck': {
      // zero durations/retries mean "unset" and are omitted, as in Docker's JSON (omitempty)
      const h: HealthConfig = { Test: [...step.health.Test] };
      for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) {
        const v = step.health[k];
        if (v !== undefined && v !== 0) h[k] = v;
      }
      config.Healthcheck = h;
      break;
    }
    case 'shell':
      config.Shell = [...step.shell];
      break;
    case 'cmd':
      config.Cmd = step.prependShell ? withShell(config, step.command) : [...step.command];
      config.ArgsEscaped = true;
      cmdSet = true;
      break;
    case 'entrypoint':
      // exec form `ENTRYPOINT []` resets the entrypoint (BuildKit stores nil)
      config.Entrypoint = step.prependShell ? withShell(config, step.command) : step.command.length === 0 ? null : [...step.command];
      if (!cmdSet) config.Cmd = null;
      break;
    case 'onbuild':
      config.OnBuild = [...(config.OnBuild ?? []), step.expression];
      break;
    case 'run':
    case 'copy':
    case 'add':
    case 'arg':
      break;
  }
  return { config, author, cmdSet };
}
