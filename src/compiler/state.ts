/**
 * Compiler internals shared by the stage resolver (compile.ts) and the step
 * dispatcher (dispatch.ts). Not part of the public API.
 */
import { OcibuildError, isOcibuildError, type SourceRange } from '../errors.js';
import type { ArgValue, StageBase, Step } from '../graph/types.js';
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
}

/** The state of a stage while its steps are dispatched. */
export interface DispatchState {
  env: EnvList;
  imageEnv: string[];
  shell?: string[];
  args: ArgValue[];
  /** A WORKDIR ran in this stage chain (WorkdirRelativePath checks only the first). */
  workdirSet: boolean;
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
  return new OcibuildError('DOCKERFILE_INSTRUCTION', message, { file, range, hint, details });
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

