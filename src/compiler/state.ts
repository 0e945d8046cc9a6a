/**
 * Compiler internals shared by the stage resolver (compile.ts) and the step
 * dispatcher (dispatch.ts). Not part of the public API.
 */
import { OcibuildError, isOcibuildError, type SourceRange } from '../errors.js';
import { escapeNonPrintable } from '../parser/index.js';
import type { ArgValue, StageBase, Step } from '../graph/types.js';
import { splitKeyValue } from '../graph/config.js';
import type { FromInstruction, Instruction } from './instructions.js';

/** Automatic platform ARGs of the global scope. */
export const PLATFORM_ARGS = [
  'TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT', 'BUILDPLATFORM', 'BUILDOS', 'BUILDARCH', 'BUILDVARIANT',
] as const;
/** ARGs that never warn as undefined (BuildKit `nonEnvArgs`). */
export const NON_ENV_ARGS: ReadonlySet<string> = new Set<string>([...PLATFORM_ARGS, 'TARGETSTAGE']);
/** Proxy args: reach RUN without an ARG declaration. */
export const PROXY_ARGS: ReadonlySet<string> = new Set(
  ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((k) => [k, k.toLowerCase()]),
);
/** SecretsUsedInArgOrEnv: names that look like secrets, and the exceptions. */
export const SECRET_DENY = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
/** Secret-looking names that are allowed (public keys, file names, versions). */
export const SECRET_ALLOW = /(?:_|^)(?:public|file|version)(?:_|$)/i;

/** `.dockerignore` input for the CopyIgnoredFile check. */
export interface IgnoreInput {
  /** The cleaned patterns, `!` prefix for exceptions (as read from the file). */
  patterns: readonly string[];
  /** moby/patternmatcher `MatchesOrParentMatches` for a cleaned, slash-separated context path. */
  matches: (path: string) => boolean;
}

/** Ordered variable set (later writes move a name to the end, like BuildKit's EnvList). */
export class EnvList {
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

/**
 * The image `Env` list as a persistent chain: each ENV adds one node, so a
 * step's snapshot is O(1) and the list is built only when a step's `env` is
 * read (a Dockerfile with n ENV lines stays linear, not n² copies).
 */
export class ImageEnv {
  private cache: readonly string[] | undefined;
  private constructor(
    private readonly prev: ImageEnv | undefined,
    private readonly base: readonly string[],
    private readonly key: string,
    private readonly value: string,
  ) {}

  /** A chain holding `list` as is. */
  static of(list: readonly string[]): ImageEnv {
    const e = new ImageEnv(undefined, [...list], '', '');
    e.cache = e.base;
    return e;
  }

  /** The chain with `key=value` set (BuildKit addEnv: replace in place, else append). */
  set(key: string, value: string): ImageEnv {
    return new ImageEnv(this, [], key, value);
  }

  /** The list, built once per node (iteratively: chains can be long). */
  list(): readonly string[] {
    if (this.cache) return this.cache;
    const pending: ImageEnv[] = [];
    let n: ImageEnv = this;
    while (!n.cache) {
      pending.push(n);
      n = n.prev as ImageEnv;
    }
    const out = [...n.cache];
    const index = new Map<string, number>();
    out.forEach((e, i) => {
      const k = splitKeyValue(e).key;
      if (!index.has(k)) index.set(k, i);
    });
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i]!;
      const at = index.get(p.key);
      if (at === undefined) {
        index.set(p.key, out.length);
        out.push(`${p.key}=${p.value}`);
      } else {
        out[at] = `${p.key}=${p.value}`;
      }
    }
    this.cache = out;
    return out;
  }
}

/**
 * The ARGs declared in a stage chain as a persistent chain (like ImageEnv): an
 * ARG adds a node (a redeclared key moves to the end); the list is built on read.
 */
export class ArgChain {
  private cache: readonly ArgValue[] | undefined;
  private constructor(
    private readonly prev: ArgChain | undefined,
    private readonly arg: ArgValue | undefined,
  ) {}

  static empty(): ArgChain {
    const c = new ArgChain(undefined, undefined);
    c.cache = [];
    return c;
  }

  add(arg: ArgValue): ArgChain {
    return new ArgChain(this, arg);
  }

  list(): readonly ArgValue[] {
    if (this.cache) return this.cache;
    const pending: ArgValue[] = [];
    let n: ArgChain = this;
    while (!n.cache) {
      pending.push(n.arg as ArgValue);
      n = n.prev as ArgChain;
    }
    const byKey = new Map<string, ArgValue>();
    for (const a of n.cache) byKey.set(a.key, a);
    for (let i = pending.length - 1; i >= 0; i--) {
      const a = pending[i]!;
      byKey.delete(a.key);
      byKey.set(a.key, a);
    }
    this.cache = [...byKey.values()];
    return this.cache;
  }

  /** Whether `key` was declared (a walk back, no list built). */
  has(key: string): boolean {
    for (let n: ArgChain | undefined = this; n; n = n.prev) {
      if (n.cache) return n.cache.some((a) => a.key === key);
      if (n.arg?.key === key) return true;
    }
    return false;
  }
}

/** Give `step` an `args` built from `args` on first read (a copy of each value per step). */
export function attachLazyArgs(step: object, args: ArgChain): void {
  let value: ArgValue[] | undefined;
  Object.defineProperty(step, 'args', {
    enumerable: true,
    configurable: true,
    get: () => (value ??= args.list().map((a) => ({ ...a }))),
    set: (v: ArgValue[]) => {
      value = v;
    },
  });
}

/**
 * Give `step` an `env` that is built from `env` on first read (a copy per step,
 * so a caller that changes one step's list changes no other).
 */
export function attachLazyEnv(step: object, env: ImageEnv): void {
  let value: string[] | undefined;
  Object.defineProperty(step, 'env', {
    enumerable: true,
    configurable: true,
    get: () => (value ??= [...env.list()]),
    set: (v: string[]) => {
      value = v;
    },
  });
}

/** A stage while it is resolved (all stages of the Dockerfile). */
export interface StageInfo {
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
  /** A named build context replaced the whole stage (its instructions are not dispatched). */
  replaced?: boolean;
  /** The base came from a named build context (its reference is the context's, not the Dockerfile's). */
  baseFromContext?: boolean;
  /** The stage's filesystem starts as this named directory context (`FROM NAME` of a directory). */
  dirBase?: string;
}

/** The state of a stage while its steps are dispatched. */
export interface DispatchState {
  env: EnvList;
  imageEnv: ImageEnv;
  shell?: string[];
  args: ArgChain;
  /** A WORKDIR ran in this stage chain (WorkdirRelativePath checks only the first). */
  workdirSet: boolean;
  /** The working directory when known at compile time (scratch, a given base config); undefined: only the build knows. */
  workdir?: string;
  steps: Step[];
}


/** Attach file and range to an OcibuildError that has none. */
export function withLocation(e: unknown, file: string, range: SourceRange): unknown {
  if (isOcibuildError(e)) {
    if (e.file === undefined) e.file = file;
    if (e.range === undefined) e.range = range;
  }
  return e;
}

/** A DOCKERFILE_INSTRUCTION error at a range. */
export function instructionError(message: string, file: string, range: SourceRange, hint?: string, details?: Record<string, unknown>): OcibuildError {
  return new OcibuildError('DOCKERFILE_INSTRUCTION', escapeNonPrintable(message), {
    file,
    range,
    ...(hint !== undefined ? { hint: escapeNonPrintable(hint) } : {}),
    details,
  });
}

/** An ADD URL source. */
export function isHttpSource(src: string): boolean {
  return src.startsWith('http://') || src.startsWith('https://');
}

/** A git source (`git@`, `git://`, `ssh://`, or an http(s) URL ending in `.git`). */
export function isGitSource(src: string): boolean {
  if (/^(git@|git:\/\/|ssh:\/\/)/.test(src)) return true;
  if (/^https?:\/\/[^#]*\.git(?:[#?].*)?$/.test(src)) return true;
  return false;
}

