/**
 * Walking a build context the way BuildKit's context transfer does
 * (tonistiigi/fsutil `FilterFS.Walk` over moby/patternmatcher): depth-first,
 * entries of a directory in byte order of their names, a directory before its
 * contents, symlinks never followed, include and exclude patterns applied
 * incrementally, excluded directories listed only when something below them is
 * kept, and excluded subtrees skipped without reading them when no exception
 * pattern could re-include anything below.
 *
 * This is the hot path of COPY: one `readdir` (with file types) per directory,
 * pattern decisions from the parent's cached per-pattern results (no per-file
 * regexp work beyond one test per pattern), synchronous `lstat` in batches with
 * a turn of the event loop between batches, and one flat generator (no nested
 * `yield*` per directory level).
 */
import type { Dirent, Stats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { decodeFsName, fsPath } from '../fs-names.js';
import { compareUtf8, goClean } from './go-path.js';
import { PatternMatcher, type IgnorePattern, type MatchInfo, type MatcherPattern } from './pattern-matcher.js';

/** The kind of a context entry, from `lstat`. */
export type ContextEntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

/** One entry of the build context. */
export interface ContextEntry {
  /** Slash-separated path relative to the context root (no leading `./` or `/`). */
  path: string;
  /**
   * Absolute path on disk. A name that is not valid UTF-8 is kept losslessly
   * (its bytes as U+DC80..U+DCFF, see `fsPath`): give `fsPath(absolutePath)` to fs calls.
   */
  absolutePath: string;
  type: ContextEntryType;
  /** `lstat` of the entry (a symlink's own stat; it is never followed). */
  stat: Stats;
}

/** Patterns accepted by the walker and the filter: strings, ignore-file patterns, or a built matcher. */
export type PatternInput = readonly (string | IgnorePattern)[] | PatternMatcher;

/** Options of {@link walkContext}. */
export interface WalkContextOptions {
  /** `.dockerignore` patterns: matching paths are left out. */
  excludes?: PatternInput;
  /** When given, only paths matching one of these (or below a match) are kept. */
  includes?: PatternInput;
  /** Symlinks are always yielded as links, never followed (the only mode BuildKit's transfer has). */
  followSymlinks?: false;
  /** Abort the walk. */
  signal?: AbortSignal;
}

function toMatcher(input: PatternInput | undefined): PatternMatcher | undefined {
  if (input === undefined) return undefined;
  if (input instanceof PatternMatcher) return input.patterns.length > 0 ? input : undefined;
  if (input.length === 0) return undefined;
  const m = new PatternMatcher(input);
  return m.patterns.length > 0 ? m : undefined;
}

const PATTERN_CHARS = /[*[\]?^\\]/;

/** fsutil `patternWithoutTrailingGlob`. */
function withoutTrailingGlob(p: MatcherPattern): string {
  let s = p.cleaned;
  if (s.endsWith('/**')) s = s.slice(0, -3);
  if (s.endsWith('/*')) s = s.slice(0, -2);
  return s;
}

/**
 * Include and exclude patterns of a build context, with BuildKit's rules. Use it to
 * ask about single paths (COPY sources) and to learn which ignore line excluded one.
 */
export class ContextFilter {
  readonly includes?: PatternMatcher;
  readonly excludes?: PatternMatcher;
  /** True when every include pattern is a plain path prefix (lets the walker skip whole directories). */
  readonly onlyPrefixIncludes: boolean;
  /** True when every exception (`!`) pattern is a plain path prefix (lets the walker skip excluded directories). */
  readonly onlyPrefixExcludeExceptions: boolean;

  /** @throws OcibuildError `DOCKERIGNORE_PATTERN` for invalid patterns. */
  constructor(options: { excludes?: PatternInput; includes?: PatternInput } = {}) {
    this.includes = toMatcher(options.includes);
    this.excludes = toMatcher(options.excludes);
    this.onlyPrefixIncludes = !(this.includes?.patterns.some((p) => !p.exclusion && PATTERN_CHARS.test(withoutTrailingGlob(p))) ?? false);
    this.onlyPrefixExcludeExceptions = !(this.excludes?.patterns.some((p) => p.exclusion && PATTERN_CHARS.test(withoutTrailingGlob(p))) ?? false);
  }

  /**
   * Whether a single path is in the filtered context, decided exactly as
   * {@link walkContext} decides it (incremental parent results and the same
   * subtree pruning), so it agrees with the walk.
   */
  allows(relPath: string): boolean {
    return this.check(relPath).allowed;
  }

  /**
   * Like {@link allows}, and says why a path is not in the context: `excludedBy` is
   * the ignore pattern (text, line) that excluded it or the directory above it,
   * `notIncluded` when include patterns leave it out. An excluded directory that
   * has kept descendants is "not allowed" here but still listed by the walk.
   */
  check(relPath: string): { allowed: boolean; excludedBy?: MatcherPattern; notIncluded?: boolean } {
    const p = normalizeRel(relPath);
    if (p === '') return { allowed: true };
    const parts = p.split('/');
    let inclInfo: MatchInfo | undefined;
    let exclInfo: MatchInfo | undefined;
    let rel = '';
    for (let i = 0; i < parts.length; i++) {
      rel = i === 0 ? parts[0]! : rel + '/' + parts[i]!;
      const last = i === parts.length - 1;
      let notIncluded = false;
      let excludedBy: MatcherPattern | undefined;
      if (this.includes) {
        const r = this.includes.matchesUsingParentResults(rel, inclInfo);
        inclInfo = r.info;
        if (!r.matched) {
          if (!last && this.canSkipNotIncludedDir(rel)) return { allowed: false, notIncluded: true };
          notIncluded = true;
        }
      }
      if (this.excludes) {
        const r = this.excludes.matchesUsingParentResults(rel, exclInfo);
        exclInfo = r.info;
        if (r.matched) {
          if (!last && this.canSkipExcludedDir(rel)) return { allowed: false, excludedBy: r.by };
          excludedBy = r.by;
        }
      }
      if (last) {
        if (notIncluded) return { allowed: false, notIncluded: true };
        if (excludedBy) return { allowed: false, excludedBy };
      }
    }
    return { allowed: true };
  }

  /** Whether the walker may skip all of an excluded directory (no exception could re-include below it). */
  canSkipExcludedDir(relDir: string): boolean {
    if (!this.onlyPrefixExcludeExceptions || !this.excludes) return false;
    if (!this.excludes.hasExclusions) return true;
    const dirSlash = relDir + '/';
    for (const p of this.excludes.patterns) {
      if (!p.exclusion) continue;
      if ((withoutTrailingGlob(p) + '/').startsWith(dirSlash)) return false;
    }
    return true;
  }

  /** Whether the walker may skip all of a directory that is not included. */
  canSkipNotIncludedDir(relDir: string): boolean {
    if (!this.onlyPrefixIncludes || !this.includes) return false;
    const dirSlash = relDir + '/';
    for (const p of this.includes.patterns) {
      if (p.exclusion) continue;
      if ((withoutTrailingGlob(p) + '/').startsWith(dirSlash)) return false;
    }
    return true;
  }
}

function normalizeRel(p: string): string {
  const c = goClean('/' + p);
  return c === '/' ? '' : c.slice(1);
}

function entryType(st: Stats): ContextEntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char';
  return 'block';
}

interface PendingDir {
  rel: string;
  abs: string;
  emitted: boolean;
}

interface Planned {
  rel: string;
  abs: string;
  skip: boolean;
  inclInfo?: MatchInfo;
  exclInfo?: MatchInfo;
}

/** One directory being walked: its decided entries and where we are in them. */
interface Frame {
  dir: PendingDir;
  plan: Planned[];
  next: number;
}

function fsError(e: unknown, what: string): OcibuildError {
  const err = e as NodeJS.ErrnoException;
  return new OcibuildError('CONTEXT_NOT_FOUND', `${what}: ${err.message}`, {
    cause: e,
    details: { errno: err.code },
  });
}

/**
 * `lstat` without a round trip through the thread pool: for the many small
 * calls of a context walk this is 2-4x faster than `fs.promises.lstat` (measured
 * on 20,000 files). The walker yields to the event loop every STAT_BATCH calls.
 */
function lstatOrUndefined(abs: string): Stats | undefined {
  try {
    return lstatSync(fsPath(abs));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Removed since readdir: gone from the context, as fsutil treats it.
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw fsError(e, `lstat ${abs}`);
  }
}

const STAT_BATCH = 256;

/**
 * Walk the build context rooted at `root` and yield the entries that belong to it,
 * in BuildKit's order (byte order of names, a directory before its contents). The
 * root itself is not yielded. Excluded directories are yielded (before their
 * contents) only when some entry below them is kept.
 * @throws OcibuildError `CONTEXT_NOT_FOUND` when `root` is not a readable directory
 *   or a kept directory cannot be read; `DOCKERIGNORE_PATTERN` for a bad pattern.
 */
export async function* walkContext(root: string, options: WalkContextOptions = {}): AsyncGenerator<ContextEntry> {
  const filter = new ContextFilter({ excludes: options.excludes, includes: options.includes });
  const signal = options.signal;
  const absRoot = path.resolve(root);
  let rootStat: Stats;
  try {
    // The root itself may be a symlink to the context directory (only entries below are never followed).
    rootStat = await stat(absRoot);
  } catch (e) {
    throw fsError(e, `build context ${absRoot} not found`);
  }
  if (!rootStat.isDirectory()) {
    throw new OcibuildError('CONTEXT_NOT_FOUND', `build context ${absRoot} is not a directory`);
  }

  const stack: Frame[] = [];
  let sinceYield = 0;
  const rootDir: PendingDir = { rel: '', abs: absRoot, emitted: true };
  const first = await planDir(filter, rootDir, undefined, undefined);
  if (first) stack.push({ dir: rootDir, plan: first, next: 0 });

  while (stack.length > 0) {
    signal?.throwIfAborted();
    const frame = stack[stack.length - 1]!;
    if (frame.next >= frame.plan.length) {
      stack.pop();
      continue;
    }
    const p = frame.plan[frame.next++]!;
    if (p.skip) {
      // Filtered-out directory: walk it; it is listed only if something below is kept.
      const dir: PendingDir = { rel: p.rel, abs: p.abs, emitted: false };
      const plan = await planDir(filter, dir, p.inclInfo, p.exclInfo);
      if (plan && plan.length > 0) stack.push({ dir, plan, next: 0 });
      continue;
    }
    if (++sinceYield >= STAT_BATCH) {
      sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const st = lstatOrUndefined(p.abs);
    if (!st) continue;
    // Emit filtered-out parents that now have a kept descendant, outermost first.
    for (const f of stack) {
      if (f.dir.emitted) continue;
      f.dir.emitted = true;
      const pst = lstatOrUndefined(f.dir.abs);
      if (pst) yield { path: f.dir.rel, absolutePath: f.dir.abs, type: entryType(pst), stat: pst };
    }
    const type = entryType(st);
    yield { path: p.rel, absolutePath: p.abs, type, stat: st };
    if (type === 'dir') {
      const dir: PendingDir = { rel: p.rel, abs: p.abs, emitted: true };
      const plan = await planDir(filter, dir, p.inclInfo, p.exclInfo);
      if (plan && plan.length > 0) stack.push({ dir, plan, next: 0 });
    }
  }
}

/**
 * Read one directory and decide each entry (pure pattern work, no stat): kept,
 * filtered-out directory to descend into, or skipped. Undefined when the
 * directory vanished or is an unreadable filtered-out one (fsutil ignores those).
 */
async function planDir(
  filter: ContextFilter,
  dir: PendingDir,
  parentIncl: MatchInfo | undefined,
  parentExcl: MatchInfo | undefined,
): Promise<Planned[] | undefined> {
  // Names are read as bytes and decoded losslessly (src/fs-names.ts): one that is not valid UTF-8 is kept.
  let dirents: { name: string; isDirectory(): boolean }[];
  try {
    const raw = (await readdir(fsPath(dir.abs), { withFileTypes: true, encoding: 'buffer' })) as unknown as Dirent[];
    dirents = raw.map((d) => ({ name: decodeFsName(d.name as unknown as Buffer), isDirectory: () => d.isDirectory() }));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if ((code === 'EACCES' || code === 'EPERM') && !dir.emitted) return undefined;
    throw fsError(e, `cannot read directory ${dir.abs}`);
  }
  dirents.sort((a, b) => compareUtf8(a.name, b.name));
  const plan: Planned[] = [];
  const relDir = dir.rel;
  const prefix = dir.abs + path.sep;
  for (const d of dirents) {
    const name = d.name;
    const rel = relDir === '' ? name : relDir + '/' + name;
    const isDir = d.isDirectory();
    let skip = false;
    let inclInfo: MatchInfo | undefined;
    let exclInfo: MatchInfo | undefined;
    if (filter.includes) {
      const r = filter.includes.matchesUsingParentResults(rel, parentIncl);
      inclInfo = r.info;
      if (!r.matched) {
        if (isDir && filter.canSkipNotIncludedDir(rel)) continue;
        skip = true;
      }
    }
    if (filter.excludes) {
      const r = filter.excludes.matchesUsingParentResults(rel, parentExcl);
      exclInfo = r.info;
      if (r.matched) {
        if (isDir && filter.canSkipExcludedDir(rel)) continue;
        skip = true;
      }
    }
    if (skip && !isDir) continue;
    plan.push({ rel, abs: prefix + name, skip, inclInfo, exclInfo });
  }
  return plan;
}
