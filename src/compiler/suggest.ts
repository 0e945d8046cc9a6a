/**
 * "Did you mean" suggestions, as BuildKit's util/suggest does them:
 * Levenshtein distance below 3, an exact match means no suggestion.
 */

/** Levenshtein edit distance (insert, delete, substitute; each costs 1). */
export function levenshtein(a: string, b: string): number {
  const s = [...a];
  const t = [...b];
  if (s.length === 0) return t.length;
  if (t.length === 0) return s.length;
  let prev = Array.from({ length: t.length + 1 }, (_, i) => i);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = cur;
  }
  return prev[t.length];
}

function matchCase(value: string, orig: string): string {
  if (orig === orig.toLowerCase()) return value.toLowerCase();
  if (orig === orig.toUpperCase()) return value.toUpperCase();
  return value;
}

/**
 * The closest option to `value` (distance < 3), or undefined. With
 * `caseSensitive` false, comparison ignores case and the suggestion takes the
 * case of `value` when that is all-lower or all-upper.
 */
export function suggest(value: string, options: Iterable<string>, caseSensitive: boolean): string | undefined {
  const val = caseSensitive ? value : value.toLowerCase();
  let match: string | undefined;
  let min = 3;
  for (const o of options) {
    const opt = caseSensitive ? o : o.toLowerCase();
    if (opt === val) return undefined;
    const d = levenshtein(val, opt);
    if (d < min) {
      match = caseSensitive ? opt : matchCase(opt, value);
      min = d;
    }
  }
  return match;
}

/** ` (did you mean X?)` or an empty string. */
export function didYouMean(value: string, options: Iterable<string>, caseSensitive: boolean, prefix = ''): string {
  const m = suggest(value, options, caseSensitive);
  return m === undefined ? '' : ` (did you mean ${prefix}${m}?)`;
}

/** The first suggestion found for any of `values` (BuildKit's wrapSuggestAny). */
export function didYouMeanAny(values: Iterable<string>, options: readonly string[], caseSensitive: boolean): string {
  for (const v of [...values].sort()) {
    const s = didYouMean(v, options, caseSensitive);
    if (s) return s;
  }
  return '';
}
