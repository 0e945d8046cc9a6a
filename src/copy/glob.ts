/**
 * Source wildcards of COPY/ADD: Go `filepath.Match` per path (from
 * src/context), wildcard detection and splitting as fsutil does, and the
 * `**`-aware prefix matching that `COPY --parents` include patterns need.
 */
import { BadPatternError, goMatch } from '../context/go-path.js';
import { OcibuildError } from '../errors.js';

export { BadPatternError };

/** True when `name` contains an unescaped `*`, `?` or `[` (fsutil containsWildcards). */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/** Remove `\` escapes from a pattern that has no wildcards (a literal path). */
export function unescapeLiteral(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\' && i + 1 < p.length) i++;
    out += p[i];
  }
  return out;
}

/**
 * Go's `filepath.Match(pattern, name)` (Unix): `*` and `?` never match `/`,
 * `[...]` classes, `\\` escapes. Throws BadPatternError for a malformed pattern.
 */
export function filepathMatch(pattern: string, name: string): boolean {
  return goMatch(pattern, name);
}

/** Result of matching a path against a `--parents` include pattern. */
export type IncludeMatch = 'none' | 'partial' | 'full';

/**
 * Match a slash-separated relative path against an include pattern the way
 * `COPY --parents` does (fsutil prefix matching): `full` when the path itself
 * matches (then everything below it is included), `partial` when the path is a
 * directory that could still contain a match, `none` otherwise. Segments are
 * matched with {@link filepathMatch}; a `**` segment matches any number of
 * segments, including none.
 */
export function matchInclude(pattern: string, path: string, isDir: boolean): IncludeMatch {
  const pat = pattern.split('/').filter((s) => s !== '');
  const nm = path === '' ? [] : path.split('/');
  const res = matchSegs(pat, 0, nm, 0);
  if (res === 'full') return 'full';
  if (res === 'partial' && isDir) return 'partial';
  return 'none';
}

function matchSegs(pat: string[], pi: number, nm: string[], ni: number): 'none' | 'partial' | 'full' {
  if (ni === nm.length) {
    if (pi === pat.length) return 'full';
    // Only `**` segments left: the path itself matches (** matches none).
    if (pat.slice(pi).every((s) => s === '**')) return 'full';
    return 'partial';
  }
  if (pi === pat.length) return 'none';
  const seg = pat[pi]!;
  if (seg === '**') {
    // zero segments, or consume one name segment and stay on **
    const a = matchSegs(pat, pi + 1, nm, ni);
    if (a === 'full') return a;
    const b = matchSegs(pat, pi, nm, ni + 1);
    if (b === 'full') return b;
    return a === 'partial' || b === 'partial' ? 'partial' : 'none';
  }
  let ok: boolean;
  try {
    ok = filepathMatch(seg, nm[ni]!);
  } catch (e) {
    if (e instanceof BadPatternError) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', `--parents: syntax error in pattern ${JSON.stringify(pattern(pat))}`);
    }
    throw e;
  }
  return ok ? matchSegs(pat, pi + 1, nm, ni + 1) : 'none';
}

function pattern(segs: string[]): string {
  return segs.join('/');
}

/**
 * Split an absolute clean source path at its first segment holding a
 * wildcard (fsutil splitWildcards): `/a/b*` + `/c` → [`/a`, `b*\/c`]. The
 * second part is '' when there is no wildcard.
 */
export function splitWildcards(p: string): [string, string] {
  const parts = p.split('/').filter((s) => s !== '');
  const idx = parts.findIndex((s) => containsWildcards(s));
  if (idx < 0) return [p, ''];
  return ['/' + parts.slice(0, idx).join('/'), parts.slice(idx).join('/')];
}
