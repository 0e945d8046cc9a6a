/**
 * docker build's `--ulimit` and `--shm-size`. Limits may only be lowered:
 * raising one needs CAP_SYS_RESOURCE, which a rootless build never has (and
 * root on some hosts lacks), so a raise is refused with the reason instead
 * of failing inside the runtime.
 */
import { readFileSync } from 'node:fs';
import { OcibuildError } from '../errors.js';
import { RLIM_INFINITY, type Rlimit } from './spec.js';

const NAMES: Record<string, { type: string; row: string }> = {
  core: { type: 'RLIMIT_CORE', row: 'Max core file size' },
  cpu: { type: 'RLIMIT_CPU', row: 'Max cpu time' },
  data: { type: 'RLIMIT_DATA', row: 'Max data size' },
  fsize: { type: 'RLIMIT_FSIZE', row: 'Max file size' },
  locks: { type: 'RLIMIT_LOCKS', row: 'Max file locks' },
  memlock: { type: 'RLIMIT_MEMLOCK', row: 'Max locked memory' },
  msgqueue: { type: 'RLIMIT_MSGQUEUE', row: 'Max msgqueue size' },
  nice: { type: 'RLIMIT_NICE', row: 'Max nice priority' },
  nofile: { type: 'RLIMIT_NOFILE', row: 'Max open files' },
  nproc: { type: 'RLIMIT_NPROC', row: 'Max processes' },
  rss: { type: 'RLIMIT_RSS', row: 'Max resident set' },
  rtprio: { type: 'RLIMIT_RTPRIO', row: 'Max realtime priority' },
  rttime: { type: 'RLIMIT_RTTIME', row: 'Max realtime timeout' },
  sigpending: { type: 'RLIMIT_SIGPENDING', row: 'Max pending signals' },
  stack: { type: 'RLIMIT_STACK', row: 'Max stack size' },
};

const UNLIMITED = RLIM_INFINITY;

/** The current soft/hard limits, from /proc/self/limits text. */
export function parseProcLimits(text: string): Map<string, { soft: number; hard: number }> {
  const out = new Map<string, { soft: number; hard: number }>();
  for (const line of text.split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const num = (s: string) => (s === 'unlimited' ? UNLIMITED : Number(s));
    out.set(m[1]!.trim(), { soft: num(m[2]!), hard: num(m[3]!) });
  }
  return out;
}

/**
 * Parses `--ulimit NAME=SOFT[:HARD]` (docker's form; -1 = unlimited) and
 * checks it only lowers the current limit (`current`: /proc/self/limits).
 */
export function parseUlimit(value: string, current: string = readFileSync('/proc/self/limits', 'utf8')): Rlimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(value);
  if (!m) throw new OcibuildError('USAGE', `--ulimit ${JSON.stringify(value)}: expected NAME=SOFT[:HARD], e.g. nofile=1024:2048`);
  const def = NAMES[m[1]!];
  if (!def) throw new OcibuildError('USAGE', `--ulimit ${JSON.stringify(value)}: unknown limit ${m[1]} (one of ${Object.keys(NAMES).join(', ')})`);
  const num = (s: string) => (Number(s) < 0 ? UNLIMITED : Number(s));
  const soft = num(m[2]!);
  const hard = m[3] === undefined ? soft : num(m[3]);
  if (soft > hard) throw new OcibuildError('USAGE', `--ulimit ${value}: the soft limit is above the hard limit`);
  const now = parseProcLimits(current).get(def.row);
  if (now && hard > now.hard) {
    throw new OcibuildError('USAGE', `--ulimit ${value}: would raise the hard limit of ${m[1]} above ${now.hard === UNLIMITED ? 'unlimited' : now.hard}`, {
      hint: 'raising a limit needs CAP_SYS_RESOURCE, which ocibuild does not use: only lowering is supported',
    });
  }
  return { type: def.type, soft, hard };
}

/** Parses `--shm-size` (`64m`, `1g`, `65536`, `512k`, `1.5g`) to bytes. */
export function parseShmSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) throw new OcibuildError('USAGE', `--shm-size ${JSON.stringify(value)}: expected a size such as 64m or 1g`);
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  const n = Math.floor(Number(m[1]) * mult);
  if (n <= 0) throw new OcibuildError('USAGE', `--shm-size ${value}: must be more than 0`);
  return n;
}
