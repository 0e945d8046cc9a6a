/**
 * Small ports of Go's path helpers that .dockerignore semantics depend on:
 * `filepath.Clean`, `strings.TrimSpace`, `filepath.Match` (syntax and matching) and
 * the byte order in which Go sorts directory entries. Pure functions.
 */

const RE_EDGE_SPACE = /^\p{White_Space}+|\p{White_Space}+$/gu;

/** Go `strings.TrimSpace`: trims Unicode White_Space (unlike `String.prototype.trim`, keeps U+FEFF, trims U+0085). */
export function goTrimSpace(s: string): string {
  if (s === '') return s;
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(s.length - 1);
  // Fast path: nothing to trim.
  if (first > 0x20 && first < 0x7f && last > 0x20 && last < 0x7f) return s;
  return s.replace(RE_EDGE_SPACE, '');
}

/** Go `path/filepath.Clean` for `/`-separated paths (lexical: `//`, `.`, `..`, trailing `/`; empty → `.`). */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.charCodeAt(0) === 0x2f;
  // Fast path: already clean (no empty, '.', or '..' segments, no trailing slash).
  if (!p.includes('//') && !p.includes('.') && (p.length === 1 || !p.endsWith('/'))) return p;
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const joined = out.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

/**
 * Compare two strings by the byte order of their UTF-8 encodings (Go's string
 * order, used by `os.ReadDir`), which is code point order, not UTF-16 order.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800..DFFF) encode code points above U+FFFF: move them above U+E000..FFFF.
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

/** Thrown by {@link goMatch} for a malformed pattern (Go `filepath.ErrBadPattern`). */
export class BadPatternError extends Error {
  constructor() {
    super('syntax error in pattern');
  }
}

/**
 * Go `path/filepath.Match` on Unix: shell pattern against a whole name; `*` and `?`
 * never match `/`; `[...]` classes with ranges and `^`; `\` escapes. Also checks
 * the syntax of the whole pattern (Go does so even after a mismatch).
 * @throws BadPatternError
 */
export function goMatch(pattern: string, name: string): boolean {
  let pat = pattern;
  let nm = name;
  outer: while (pat.length > 0) {
    const sc = scanChunk(pat);
    const star = sc.star;
    const chunk = sc.chunk;
    pat = sc.rest;
    if (star && chunk === '') return !nm.includes('/');
    const r = matchChunk(chunk, nm);
    if (r !== undefined && (r.length === 0 || pat.length > 0)) {
      nm = r;
      continue;
    }
    if (star) {
      for (let i = 0; i < nm.length && nm[i] !== '/'; i++) {
        const t = matchChunk(chunk, nm.slice(i + 1));
        if (t !== undefined) {
          if (pat.length === 0 && t.length > 0) continue;
          nm = t;
          continue outer;
        }
      }
    }
    // Before returning false, check that the rest of the pattern is well-formed.
    while (pat.length > 0) {
      const sc2 = scanChunk(pat);
      pat = sc2.rest;
      matchChunk(sc2.chunk, '');
    }
    return false;
  }
  return nm.length === 0;
}

function scanChunk(pattern: string): { star: boolean; chunk: string; rest: string } {
  let star = false;
  let p = pattern;
  while (p.length > 0 && p[0] === '*') {
    p = p.slice(1);
    star = true;
  }
  let inrange = false;
  let i = 0;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case '\\':
        if (i + 1 < p.length) i++;
        break;
      case '[':
        inrange = true;
        break;
      case ']':
        inrange = false;
        break;
      case '*':
        if (!inrange) break scan;
        break;
    }
  }
  return { star, chunk: p.slice(0, i), rest: p.slice(i) };
}

/** Returns the rest of `s` after matching `chunk`, or undefined on mismatch. Throws on bad syntax. */
function matchChunk(chunkIn: string, sIn: string): string | undefined {
  let chunk = chunkIn;
  let s = sIn;
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    const c = chunk[0];
    if (c === '[') {
      let r = -1;
      if (!failed) {
        r = s.codePointAt(0)!;
        s = s.slice(r > 0xffff ? 2 : 1);
      }
      chunk = chunk.slice(1);
      let negated = false;
      if (chunk.length > 0 && chunk[0] === '^') {
        negated = true;
        chunk = chunk.slice(1);
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (chunk.length > 0 && chunk[0] === ']' && nrange > 0) {
          chunk = chunk.slice(1);
          break;
        }
        const lo = getEsc(chunk);
        chunk = lo.rest;
        let hi = lo.r;
        if (chunk[0] === '-') {
          const h = getEsc(chunk.slice(1));
          hi = h.r;
          chunk = h.rest;
        }
        if (lo.r <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (c === '?') {
      if (!failed) {
        if (s[0] === '/') failed = true;
        const cp = s.codePointAt(0)!;
        s = s.slice(cp > 0xffff ? 2 : 1);
      }
      chunk = chunk.slice(1);
    } else {
      if (c === '\\') {
        chunk = chunk.slice(1);
        if (chunk.length === 0) throw new BadPatternError();
      }
      if (!failed) {
        if (chunk[0] !== s[0]) failed = true;
        s = s.slice(1);
      }
      chunk = chunk.slice(1);
    }
  }
  return failed ? undefined : s;
}

function getEsc(chunkIn: string): { r: number; rest: string } {
  let chunk = chunkIn;
  if (chunk.length === 0 || chunk[0] === '-' || chunk[0] === ']') throw new BadPatternError();
  if (chunk[0] === '\\') {
    chunk = chunk.slice(1);
    if (chunk.length === 0) throw new BadPatternError();
  }
  const r = chunk.codePointAt(0)!;
  const rest = chunk.slice(r > 0xffff ? 2 : 1);
  if (rest.length === 0) throw new BadPatternError();
  return { r, rest };
}
