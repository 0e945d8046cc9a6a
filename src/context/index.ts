/**
 * The build context: `.dockerignore` files and pattern matching (moby/patternmatcher
 * semantics), walking the context (BuildKit/fsutil order and filtering) and
 * resolving paths inside it (Docker's in-scope symlink resolution).
 */
export { readIgnoreFile, readIgnorePatterns, loadIgnoreFile, type LoadedIgnoreFile } from './ignore-file.js';
export {
  PatternMatcher,
  MatcherPattern,
  matches,
  matchesOrParentMatches,
  formatExclusion,
  type IgnorePattern,
  type MatchInfo,
  type MatchResult,
} from './pattern-matcher.js';
export {
  walkContext,
  ContextFilter,
  type ContextEntry,
  type ContextEntryType,
  type PatternInput,
  type WalkContextOptions,
} from './walk.js';
export { resolveInContext } from './resolve.js';
export { compareUtf8, goClean } from './go-path.js';
