/**
 * `.dockerignore` pattern matching with moby/patternmatcher semantics: patterns are
 * trimmed, cleaned like paths, `!` marks an exception, syntax is Go
 * `filepath.Match`'s, and a pattern applies to a path when it matches the path or
 * one of its parent directories; the last applicable pattern decides.
 *
 * Each pattern is compiled once (exact / prefix / suffix / regexp, as upstream) and
 * a matcher can say WHICH pattern (text and ignore-file line) excluded a path.
 * Pure: no IO.
 */
import { OcibuildError } from '../errors.js';
import { BadPatternError, goClean, goMatch, goTrimSpace } from './go-path.js';
import { compileRe2, Re2SyntaxError } from './re2.js';

/** A pattern as read from an ignore file: its text (with `!` for exceptions) and 1-based line. */
export interface IgnorePattern {
  pattern: string;
  line?: number;
}

type MatchKind = 'exact' | 'prefix' | 'suffix' | 'regexp';
type Compiled = { kind: MatchKind; re?: RegExp } | { kind: 'bad' };

/** One compiled pattern of a {@link PatternMatcher}. Immutable from the outside. */
export class MatcherPattern {
  /** The cleaned pattern, without the leading `!`. */
  readonly cleaned: string;
  /** True for an exception (`!pattern`): it re-includes what earlier patterns excluded. */
  readonly exclusion: boolean;
  /** The pattern as given (before trimming and cleaning). */
  readonly source: string;
  /** 1-based line in the ignore file, when known. */
  readonly line?: number;
  /** Number of `/`-separated parts of {@link cleaned} (used by the deprecated `matches`). */
  readonly depth: number;
  private compiled?: Compiled;

  /** @internal */
  constructor(cleaned: string, exclusion: boolean, source: string, line: number | undefined) {
    this.cleaned = cleaned;
    this.exclusion = exclusion;
    this.source = source;
    this.line = line;
    this.depth = cleaned.split('/').length;
  }

  /** The pattern as it reads in the ignore file after cleaning (`!` included for exceptions). */
  toString(): string {
    return (this.exclusion ? '!' : '') + this.cleaned;
  }

  /** How the pattern is matched (informative; mirrors upstream's classification). */
  get kind(): MatchKind | 'bad' {
    return this.compile().kind;
  }

  /**
   * Whether the pattern matches `path` itself (no parent logic).
   * @throws OcibuildError `DOCKERIGNORE_PATTERN` when the pattern passed the syntax
   *   check but cannot be compiled (e.g. the range in `[z-a]`), as upstream.
   */
  match(path: string): boolean {
    const c = this.compile();
    switch (c.kind) {
      case 'exact':
        return path === this.cleaned;
      case 'prefix':
        return path.startsWith(this.cleaned.slice(0, -2));
      case 'suffix': {
        const suffix = this.cleaned.slice(2);
        if (path.endsWith(suffix)) return true;
        return suffix[0] === '/' && path === suffix.slice(1);
      }
      case 'regexp':
        return c.re!.test(path);
      case 'bad':
        throw badPattern(this);
    }
  }

  private compile(): Compiled {
    if (this.compiled === undefined) this.compiled = compilePattern(this.cleaned);
    return this.compiled;
  }
}

function badPattern(p: { toString(): string; line?: number }, cause?: unknown): OcibuildError {
  const where = p.line !== undefined ? ` (line ${p.line})` : '';
  return new OcibuildError('DOCKERIGNORE_PATTERN', `syntax error in pattern: ${JSON.stringify(p.toString())}${where}`, {
    cause,
    details: { pattern: p.toString(), line: p.line },
  });
}

/** Upstream's regexp-escaped characters that have no meaning in filepath.Match. */
const SHOULD_ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

/**
 * patternmatcher's `Pattern.compile` for the `/` separator: builds the RE2 source
 * exactly as upstream, classifies the pattern, then translates the RE2 to JS.
 */
function compilePattern(pattern: string): Compiled {
  let reg = '^';
  let kind: MatchKind = 'exact';
  const cps = Array.from(pattern);
  let k = 0;
  if (cps[0] === '\ufeff') k = 1; // Go text/scanner skips a leading BOM
  for (let i = 0; k < cps.length; i++) {
    const ch = cps[k++]!;
    if (ch === '*') {
      if (cps[k] === '*') {
        k++;
        if (cps[k] === '/') k++;
        if (k >= cps.length) {
          if (kind === 'exact') kind = 'prefix';
          else {
            reg += '.*';
            kind = 'regexp';
          }
        } else {
          reg += '(.*/)?';
          kind = 'regexp';
        }
        if (i === 0) kind = 'suffix';
      } else {
        reg += '[^/]*';
        kind = 'regexp';
      }
    } else if (ch === '?') {
      reg += '[^/]';
      kind = 'regexp';
    } else if (SHOULD_ESCAPE.has(ch)) {
      reg += '\\' + ch;
    } else if (ch === '\\') {
      if (k < cps.length) {
        reg += '\\' + cps[k++]!;
        kind = 'regexp';
      } else {
        reg += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      reg += ch;
      kind = 'regexp';
    } else {
      reg += ch;
    }
  }
  if (kind !== 'regexp') return { kind };
  try {
    return { kind, re: compileRe2(reg + '$') };
  } catch (e) {
    if (e instanceof Re2SyntaxError) return { kind: 'bad' };
    throw e;
  }
}

/** Per-pattern results for a directory, passed to its children (upstream `MatchInfo`). */
export interface MatchInfo {
  readonly parentMatched: readonly boolean[];
}

/** The outcome of matching a path, with the pattern that decided it. */
export interface MatchResult {
  /** Whether the path is matched (excluded, for an ignore file). */
  matched: boolean;
  /** The last pattern that applied: when `matched`, the one that excluded the path. */
  by?: MatcherPattern;
}

/**
 * A list of `.dockerignore`-style patterns (moby/patternmatcher `PatternMatcher`).
 * @example
 *   const pm = new PatternMatcher(['*.md', '!README.md']);
 *   pm.matchesOrParentMatches('docs/a.md') // true
 */
export class PatternMatcher {
  /** The compiled patterns, in order (empty lines dropped). */
  readonly patterns: readonly MatcherPattern[];
  /** True when some pattern is an exception (`!`). */
  readonly hasExclusions: boolean;

  /**
   * @param patterns pattern strings, or `{ pattern, line }` from {@link readIgnorePatterns}.
   * @throws OcibuildError `DOCKERIGNORE_PATTERN`: `illegal exclusion pattern: "!"` or
   *   `syntax error in pattern` (Go `filepath.Match` syntax).
   */
  constructor(patterns: readonly (string | IgnorePattern)[]) {
    const list: MatcherPattern[] = [];
    let exclusions = false;
    for (const item of patterns) {
      const source = typeof item === 'string' ? item : item.pattern;
      const line = typeof item === 'string' ? undefined : item.line;
      let p = goTrimSpace(source);
      if (p === '') continue;
      p = goClean(p);
      let exclusion = false;
      if (p[0] === '!') {
        if (p.length === 1) {
          const where = line !== undefined ? ` (line ${line})` : '';
          throw new OcibuildError('DOCKERIGNORE_PATTERN', `illegal exclusion pattern: "!"${where}`, {
            details: { pattern: source, line },
          });
        }
        exclusion = true;
        p = p.slice(1);
        exclusions = true;
      }
      try {
        goMatch(p, '.');
      } catch (e) {
        if (e instanceof BadPatternError) throw badPattern({ toString: () => source, line }, e);
        throw e;
      }
      list.push(new MatcherPattern(p, exclusion, source, line));
    }
    this.patterns = list;
    this.hasExclusions = exclusions;
  }

  /**
   * Whether `path` (slash-separated, relative to the context root) is matched: the
   * last pattern that matches the path or one of its parent directories decides.
   * This is the semantics of `.dockerignore`.
   * @throws OcibuildError `DOCKERIGNORE_PATTERN` for a pattern that cannot compile.
   */
  matchesOrParentMatches(path: string): boolean {
    return this.explain(path).matched;
  }

  /** Like {@link matchesOrParentMatches}, and says which pattern decided. */
  explain(path: string): MatchResult {
    const file = path;
    const parent = dirOf(file);
    const parentDirs = parent === '.' ? [] : parent.split('/');
    let matched = false;
    let by: MatcherPattern | undefined;
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(file);
      if (!match && parentDirs.length > 0) {
        let prefix = '';
        for (let i = 0; i < parentDirs.length; i++) {
          prefix = i === 0 ? parentDirs[0]! : prefix + '/' + parentDirs[i]!;
          if (pattern.match(prefix)) {
            match = true;
            break;
          }
        }
      }
      if (match) {
        matched = !pattern.exclusion;
        by = pattern;
      }
    }
    return { matched, by };
  }

  /**
   * The deprecated upstream `PatternMatcher.Matches`: like matchesOrParentMatches
   * but tries only the one parent directory with as many parts as the pattern.
   * docker/cli still uses it to decide whether the Dockerfile is excluded.
   */
  matches(path: string): boolean {
    const file = path;
    const parent = dirOf(file);
    const parentDirs = parent.split('/');
    let matched = false;
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(file);
      if (!match && parent !== '.' && pattern.depth <= parentDirs.length) {
        match = safeMatch(pattern, parentDirs.slice(0, pattern.depth).join('/'));
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /** Whether some pattern matches `path` exactly (no parent logic; upstream `MatchesExact`). */
  matchesExact(path: string): boolean {
    let matched = false;
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      if (pattern.match(path)) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * The incremental form BuildKit's context walker uses (upstream
   * `MatchesUsingParentResults`): pass the `info` returned for the parent directory
   * (or nothing at the top or when unknown). Gives the same answer as
   * matchesOrParentMatches on the conformance tables at a fraction of the cost.
   */
  matchesUsingParentResults(path: string, parentInfo?: MatchInfo): MatchResult & { info: MatchInfo } {
    const parentMatched = parentInfo?.parentMatched ?? [];
    if (parentMatched.length !== 0 && parentMatched.length !== this.patterns.length) {
      throw new OcibuildError('DOCKERIGNORE_PATTERN', 'wrong number of values in parentMatched');
    }
    let matched = false;
    let by: MatcherPattern | undefined;
    const out: boolean[] = new Array<boolean>(this.patterns.length).fill(false);
    for (let i = 0; i < this.patterns.length; i++) {
      const pattern = this.patterns[i]!;
      let match = parentMatched.length !== 0 ? parentMatched[i]! : false;
      if (!match) {
        if (pattern.exclusion !== matched) continue;
        match = pattern.match(path);
        if (!match && parentMatched.length === 0) {
          const parent = dirOf(path);
          if (parent !== '.') {
            const dirs = parent.split('/');
            let prefix = '';
            for (let j = 0; j < dirs.length; j++) {
              prefix = j === 0 ? dirs[0]! : prefix + '/' + dirs[j]!;
              if (safeMatch(pattern, prefix)) {
                match = true;
                break;
              }
            }
          }
        }
      }
      out[i] = match;
      if (match) {
        matched = !pattern.exclusion;
        by = pattern;
      }
    }
    return { matched, by, info: { parentMatched: out } };
  }
}

/** Upstream ignores errors when matching parent directories (`match, _ = ...`). */
function safeMatch(pattern: MatcherPattern, path: string): boolean {
  try {
    return pattern.match(path);
  } catch {
    return false;
  }
}

/** Go `filepath.Dir` for the relative, already-clean paths used here. */
function dirOf(p: string): string {
  const i = p.lastIndexOf('/');
  if (i < 0) return '.';
  return goClean(p.slice(0, i + 1));
}

/**
 * The deprecated top-level upstream helper `patternmatcher.Matches(file, patterns)`:
 * cleans the path (a path equal to `.` never matches) and applies
 * {@link PatternMatcher.matches}. docker/cli uses it for the Dockerfile and
 * `.dockerignore` themselves.
 */
export function matches(path: string, patterns: readonly (string | IgnorePattern)[]): boolean {
  const pm = new PatternMatcher(patterns);
  const file = goClean(path);
  if (file === '.') return false;
  return pm.matches(file);
}

/** Top-level `patternmatcher.MatchesOrParentMatches(file, patterns)`: cleans the path; `.` never matches. */
export function matchesOrParentMatches(path: string, patterns: readonly (string | IgnorePattern)[]): boolean {
  const pm = new PatternMatcher(patterns);
  const file = goClean(path);
  if (file === '.') return false;
  return pm.matchesOrParentMatches(file);
}

/**
 * The message COPY/ADD use for a source the ignore file excludes:
 * `"<path>" is excluded by .dockerignore line N: <pattern>`.
 */
export function formatExclusion(path: string, by: MatcherPattern | undefined, ignoreFileName = '.dockerignore'): string {
  if (!by) return `"${path}" is excluded by ${ignoreFileName}`;
  const where = by.line !== undefined ? `${ignoreFileName} line ${by.line}` : ignoreFileName;
  return `"${path}" is excluded by ${where}: ${goTrimSpace(by.source)}`;
}
