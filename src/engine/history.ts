/**
 * `history[].created_by` texts, as BuildKit's Dockerfile frontend writes them,
 * so `docker history` of an ocibuild image reads like one built by BuildKit.
 */
import type { Step } from '../graph/types.js';
import { goQuote } from '../go-quote.js';
import { resolveWorkdir } from '../graph/config.js';
import type { ContainerConfig } from '../oci/types.js';

/** BuildKit's history comment for Dockerfile steps. */
export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/** Go's `%q` of a []string: `["a" "b"]`. */
function quoteList(list: readonly string[] | null | undefined): string {
  return `[${(list ?? []).map((s) => goQuote(s)).join(' ')}]`;
}

/** Go's `%v` of a []string: `[a b]`. */
function plainList(list: readonly string[]): string {
  return `[${list.join(' ')}]`;
}

/**
 * The history text of a step, or undefined when the step leaves no history
 * entry (ONBUILD, as in BuildKit). `config` is the config AFTER the step.
 */
export function historyText(step: Step, config: ContainerConfig): string | undefined {
  switch (step.kind) {
    case 'env':
      return `ENV ${step.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
    case 'label':
      return `LABEL ${step.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
    case 'maintainer':
      return `MAINTAINER ${step.maintainer}`;
    case 'cmd':
      return `CMD ${quoteList(config.Cmd)}`;
    case 'entrypoint':
      return `ENTRYPOINT ${quoteList(config.Entrypoint)}`;
    case 'healthcheck': {
      const h = config.Healthcheck ?? step.health;
      return `HEALTHCHECK &{${quoteList(h.Test)} ${goDuration(h.Interval)} ${goDuration(h.Timeout)} ${goDuration(h.StartPeriod)} ${goDuration(h.StartInterval)} ${h.Retries ?? 0}}`;
    }
    case 'expose':
      return `EXPOSE map[${[...new Set(step.ports)].sort().map((p) => `${p}:{}`).join(' ')}]`;
    case 'user':
      return `USER ${step.user}`;
    case 'volume':
      return `VOLUME ${plainList(step.volumes)}`;
    case 'stopsignal':
      return `STOPSIGNAL ${step.signal}`;
    case 'shell':
      return `SHELL ${plainList(step.shell)}`;
    case 'workdir':
      return `WORKDIR ${config.WorkingDir ?? resolveWorkdir('/', step.path)}`;
    case 'arg':
      return `ARG ${step.values.map((a) => (a.value === undefined ? a.key : `${a.key}=${a.value}`)).join(' ')}`;
    case 'copy':
    case 'add': {
      const parts = [step.kind === 'copy' ? 'COPY' : 'ADD'];
      if (step.parents) parts.push('--parents');
      if (step.chown) parts.push(`--chown=${step.chown}`);
      if (step.chmod) parts.push(`--chmod=${step.chmod.kind === 'octal' ? step.chmod.mode.toString(8).padStart(4, '0') : step.chmod.expression}`);
      parts.push(...step.sources, ...step.inline.map((f) => `<<${f.name}`), step.dest);
      return `${parts.join(' ')} # buildkit`;
    }
    case 'run': {
      const argv = step.prependShell ? [...(config.Shell?.length ? config.Shell : ['/bin/sh', '-c']), step.command.join(' ')] : step.command;
      const args = step.args.filter((a) => a.value !== undefined).map((a) => `${a.key}=${a.value}`);
      const prefix = args.length > 0 ? [`|${args.length}`, ...args] : [];
      return `RUN ${[...prefix, ...argv].join(' ')} # buildkit`;
    }
    case 'onbuild':
      return undefined;
  }
}

/** Go's time.Duration String() for nanoseconds, quoted as `%q` prints a Stringer. */
function goDuration(ns: number | undefined): string {
  const n = ns ?? 0;
  if (n === 0) return '"0s"';
  const units: [number, string][] = [
    [3600e9, 'h'],
    [60e9, 'm'],
  ];
  let rest = n;
  let out = '';
  for (const [size, unit] of units) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0 || out === '') {
    if (out === '' && rest < 1e9) {
      if (rest < 1e3) out = `${rest}ns`;
      else if (rest < 1e6) out = `${rest / 1e3}µs`;
      else out = `${rest / 1e6}ms`;
    } else {
      out += `${rest / 1e9}s`;
    }
  } else if (!out.endsWith('s')) {
    out += '0s';
  }
  return `"${out}"`;
}
