/**
 * Adapters from src/context's PatternMatcher to what the copy planner needs:
 * the .dockerignore view of the build context (with the line that excluded a
 * path) and `--exclude` matchers.
 */
import { goTrimSpace } from '../context/go-path.js';
import { PatternMatcher, type IgnorePattern } from '../context/pattern-matcher.js';
import { ContextFilter } from '../context/walk.js';
import { containsWildcards } from './glob.js';
import type { ExcludeMatcher } from './plan.js';
import type { IgnoreView } from './source-fs.js';

/**
 * Whether an excluded directory may hold entries an exception pattern
 * re-includes (fsutil: an exception pattern starting with `dir/`; an exception
 * with a wildcard in the leading segments is taken as "maybe", which only
 * costs a look inside).
 */
function mayReinclude(pm: PatternMatcher, dirRel: string): boolean {
  if (!pm.hasExclusions) return false;
  const dirSlash = dirRel + '/';
  const depth = dirRel.split('/').length;
  for (const p of pm.patterns) {
    if (!p.exclusion) continue;
    if ((p.cleaned + '/').startsWith(dirSlash)) return true;
    const lead = p.cleaned.split('/').slice(0, depth);
    if (lead.some((seg) => containsWildcards(seg))) return true;
  }
  return false;
}

/**
 * The .dockerignore of a build as an {@link IgnoreView}: `fileName` is what
 * messages call the file (`.dockerignore`, `Dockerfile.dockerignore`).
 */
export function ignoreViewFromPatterns(patterns: readonly (string | IgnorePattern)[], fileName = '.dockerignore'): IgnoreView {
  const pm = new PatternMatcher(patterns);
  // Decide as BuildKit's context walk (fsutil) does, which differs from
  // matchesOrParentMatches in corners such as `a/b` then `!a` (a/b/x stays out).
  const filter = new ContextFilter({ excludes: pm });
  return {
    excludedBy(rel: string) {
      if (pm.patterns.length === 0) return undefined;
      const r = filter.check(rel);
      if (r.allowed) return undefined;
      return { file: fileName, line: r.excludedBy?.line ?? 0, pattern: r.excludedBy ? goTrimSpace(r.excludedBy.source) : '' };
    },
    mayReinclude: (dirRel: string) => mayReinclude(pm, dirRel),
    excludesNothing: pm.patterns.length === 0,
  };
}

/** An `--exclude` matcher (dockerignore syntax, parents considered). */
export function excludeMatcher(patterns: readonly string[]): ExcludeMatcher {
  const pm = new PatternMatcher(patterns);
  return {
    matches: (rel: string) => pm.matchesOrParentMatches(rel),
    mayReinclude: (dirRel: string) => mayReinclude(pm, dirRel),
  };
}
