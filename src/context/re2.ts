/**
 * Translate a Go RE2 regular expression (the subset moby/patternmatcher produces
 * from .dockerignore patterns) into an equivalent JavaScript `u`-mode RegExp.
 *
 * The upstream matcher builds an RE2 string in which parts of the user's pattern
 * pass through unchanged (`[...]` classes and `\x` escapes), so RE2's reading of
 * them decides what matches: `[[:alpha:]]` is a POSIX class, `\d` a digit class,
 * `[z-a]` or `\q` a compile error (which patternmatcher reports as a bad pattern).
 * This module reproduces that reading: escapes, classes (ranges, negation, POSIX
 * names, Perl classes, `\p{..}`), `.`, `^`, `$`, groups, `|` and repetition, with
 * RE2's non-multiline, `.`-excludes-newline semantics. Pure.
 */

/** An RE2 compile error (patternmatcher turns it into `syntax error in pattern`). */
export class Re2SyntaxError extends Error {}

type Range = [number, number];

const MAX_RUNE = 0x10ffff;

const PERL: Record<string, Range[]> = {
  d: [[0x30, 0x39]],
  s: [
    [0x09, 0x0a],
    [0x0c, 0x0d],
    [0x20, 0x20],
  ],
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
};

const POSIX: Record<string, Range[]> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

const GENERAL_CATEGORIES = new Set([
  'C', 'Cc', 'Cf', 'Co', 'Cs', 'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu', 'M', 'Mc', 'Me', 'Mn', 'N', 'Nd', 'Nl', 'No',
  'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps', 'S', 'Sc', 'Sk', 'Sm', 'So', 'Z', 'Zl', 'Zp', 'Zs',
]);

function complement(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}

function cpLiteral(cp: number): string {
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f) {
    return String.fromCharCode(cp);
  }
  return `\\u{${cp.toString(16)}}`;
}

function rangesToClassBody(ranges: Range[]): string {
  let out = '';
  for (const [lo, hi] of ranges) out += lo === hi ? cpLiteral(lo) : `${cpLiteral(lo)}-${cpLiteral(hi)}`;
  return out;
}

function isHex(cp: number): number {
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  if (cp >= 0x41 && cp <= 0x46) return cp - 0x41 + 10;
  if (cp >= 0x61 && cp <= 0x66) return cp - 0x61 + 10;
  return -1;
}

function isAlnum(cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
}

class Parser {
  private readonly cps: number[];
  private i = 0;

  constructor(source: string) {
    this.cps = Array.from(source, (c) => c.codePointAt(0)!);
  }

  private peek(off = 0): number {
    const j = this.i + off;
    return j < this.cps.length ? this.cps[j]! : -1;
  }

  /** Go regexp/syntax parseEscape: a single escaped character (the `\` is at this.i). */
  private parseEscape(): number {
    this.i++; // backslash
    if (this.i >= this.cps.length) throw new Re2SyntaxError('trailing backslash at end of expression');
    const c = this.cps[this.i++]!;
    if (c < 0x80 && !isAlnum(c)) return c;
    if (c >= 0x31 && c <= 0x37) {
      // A single non-zero digit would be a backreference: unsupported.
      const n = this.peek();
      if (!(n >= 0x30 && n <= 0x37)) throw new Re2SyntaxError('invalid escape sequence');
    }
    if (c >= 0x30 && c <= 0x37) {
      let r = c - 0x30;
      for (let k = 1; k < 3; k++) {
        const n = this.peek();
        if (!(n >= 0x30 && n <= 0x37)) break;
        r = r * 8 + (n - 0x30);
        this.i++;
      }
      return r;
    }
    switch (c) {
      case 0x78: {
        // x
        if (this.i >= this.cps.length) break;
        let d = this.cps[this.i++]!;
        if (d === 0x7b) {
          let nhex = 0;
          let r = 0;
          for (;;) {
            if (this.i >= this.cps.length) throw new Re2SyntaxError('invalid escape sequence');
            d = this.cps[this.i++]!;
            if (d === 0x7d) break;
            const v = isHex(d);
            if (v < 0) throw new Re2SyntaxError('invalid escape sequence');
            r = r * 16 + v;
            if (r > MAX_RUNE) throw new Re2SyntaxError('invalid escape sequence');
            nhex++;
          }
          if (nhex === 0) throw new Re2SyntaxError('invalid escape sequence');
          return r;
        }
        if (this.i >= this.cps.length) throw new Re2SyntaxError('invalid escape sequence');
        const x = isHex(d);
        const y = isHex(this.cps[this.i++]!);
        if (x < 0 || y < 0) break;
        return x * 16 + y;
      }
      case 0x61:
        return 0x07; // \a
      case 0x66:
        return 0x0c; // \f
      case 0x6e:
        return 0x0a; // \n
      case 0x72:
        return 0x0d; // \r
      case 0x74:
        return 0x09; // \t
      case 0x76:
        return 0x0b; // \v
    }
    throw new Re2SyntaxError('invalid escape sequence');
  }

  /** `\d` `\D` `\s` `\S` `\w` `\W` at this.i, or undefined. */
  private perlClass(): Range[] | undefined {
    if (this.peek() !== 0x5c) return undefined;
    const c = this.peek(1);
    const name = c >= 0 ? String.fromCodePoint(c) : '';
    const base = PERL[name.toLowerCase()];
    if (!base || !'dswDSW'.includes(name)) return undefined;
    this.i += 2;
    return name === name.toLowerCase() ? base : complement(base);
  }

  /** `\pX`, `\p{Name}`, `\PX`, `\P{^Name}` at this.i, or undefined. Returns a JS class item. */
  private unicodeClass(): string | undefined {
    if (this.peek() !== 0x5c) return undefined;
    const c = this.peek(1);
    if (c !== 0x70 && c !== 0x50) return undefined;
    let negate = c === 0x50;
    this.i += 2;
    if (this.i >= this.cps.length) throw new Re2SyntaxError('invalid character class range');
    let name: string;
    if (this.peek() === 0x7b) {
      const start = this.i + 1;
      let j = start;
      while (j < this.cps.length && this.cps[j] !== 0x7d) j++;
      if (j >= this.cps.length) throw new Re2SyntaxError('invalid character class range');
      name = String.fromCodePoint(...this.cps.slice(start, j));
      this.i = j + 1;
    } else {
      name = String.fromCodePoint(this.cps[this.i++]!);
    }
    if (name.startsWith('^')) {
      negate = !negate;
      name = name.slice(1);
    }
    let item: string;
    if (name === 'Any') item = '\\u{0}-\\u{10ffff}';
    else if (GENERAL_CATEGORIES.has(name)) item = `\\p{${name}}`;
    else if (/^[A-Z][A-Za-z_]*$/.test(name)) item = `\\p{Script=${name}}`;
    else throw new Re2SyntaxError('invalid character class range');
    try {
      new RegExp(`[${item}]`, 'u');
    } catch {
      throw new Re2SyntaxError('invalid character class range');
    }
    if (name === 'Any') return negate ? '' : item;
    return negate ? item.replace('\\p{', '\\P{') : item;
  }

  private classChar(): number {
    if (this.i >= this.cps.length) throw new Re2SyntaxError('missing closing ]');
    if (this.peek() === 0x5c) return this.parseEscape();
    return this.cps[this.i++]!;
  }

  /** Go regexp/syntax parseClass with Perl flags; this.i is at `[`. Returns a JS class. */
  private parseClass(): string {
    this.i++; // [
    let negate = false;
    if (this.peek() === 0x5e) {
      negate = true;
      this.i++;
    }
    const ranges: Range[] = [];
    const items: string[] = [];
    let first = true;
    while (this.i >= this.cps.length || this.peek() !== 0x5d || first) {
      first = false;
      if (this.i >= this.cps.length) throw new Re2SyntaxError('missing closing ]');
      // POSIX [:alpha:] (searches for ":]" anywhere after, as Go does).
      if (this.peek() === 0x5b && this.peek(1) === 0x3a) {
        let j = this.i + 2;
        while (j + 1 < this.cps.length && !(this.cps[j] === 0x3a && this.cps[j + 1] === 0x5d)) j++;
        if (j + 1 < this.cps.length) {
          const inner = String.fromCodePoint(...this.cps.slice(this.i + 2, j));
          const neg = inner.startsWith('^');
          const g = POSIX[neg ? inner.slice(1) : inner];
          if (!g) throw new Re2SyntaxError('invalid character class range');
          ranges.push(...(neg ? complement(g) : g));
          this.i = j + 2;
          continue;
        }
      }
      const u = this.unicodeClass();
      if (u !== undefined) {
        if (u !== '') items.push(u); // '' is \P{Any}: contributes nothing
        continue;
      }
      const perl = this.perlClass();
      if (perl) {
        ranges.push(...perl);
        continue;
      }
      const lo = this.classChar();
      let hi = lo;
      if (this.peek() === 0x2d && this.i + 1 < this.cps.length && this.peek(1) !== 0x5d) {
        this.i++;
        hi = this.classChar();
        if (hi < lo) throw new Re2SyntaxError('invalid character class range');
      }
      ranges.push([lo, hi]);
    }
    this.i++; // ]
    const body = rangesToClassBody(ranges) + items.join('');
    if (body === '') return negate ? '[\\u{0}-\\u{10ffff}]' : '[]';
    return `[${negate ? '^' : ''}${body}]`;
  }

  /** Parse the whole expression and return JS regexp source. */
  translate(): string {
    let out = '';
    // What precedes a repetition operator: nothing/alternation start, an atom, or a repetition.
    let last: 'none' | 'atom' | 'repeat' = 'none';
    let depth = 0;
    const repeat = (op: string) => {
      if (last === 'none') throw new Re2SyntaxError('missing argument to repetition operator');
      if (last === 'repeat') throw new Re2SyntaxError('invalid nested repetition operator');
      out += op;
      if (this.peek() === 0x3f) {
        this.i++;
        out += '?';
      }
      last = 'repeat';
    };
    while (this.i < this.cps.length) {
      const c = this.cps[this.i]!;
      switch (c) {
        case 0x28: // (
          if (this.peek(1) === 0x3f) throw new Re2SyntaxError('unsupported group flags');
          this.i++;
          depth++;
          out += '(?:';
          last = 'none';
          continue;
        case 0x29: // )
          if (depth === 0) throw new Re2SyntaxError('unexpected )');
          this.i++;
          depth--;
          out += ')';
          last = 'atom';
          continue;
        case 0x7c: // |
          this.i++;
          out += '|';
          last = 'none';
          continue;
        case 0x2a: // *
        case 0x2b: // +
        case 0x3f: // ?
          this.i++;
          repeat(String.fromCharCode(c));
          continue;
        case 0x7b: {
          // { : a repetition {n}, {n,}, {n,m}; otherwise a literal
          const rest = String.fromCodePoint(...this.cps.slice(this.i, this.i + 24));
          const m = /^\{(\d+)(,(\d*))?\}/.exec(rest);
          if (m) {
            const min = Number(m[1]);
            const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
            if (min > 1000 || max > 1000 || (max >= 0 && max < min)) throw new Re2SyntaxError('invalid repeat count');
            this.i += m[0].length;
            repeat(m[0]);
            continue;
          }
          this.i++;
          out += cpLiteral(c);
          last = 'atom';
          continue;
        }
        case 0x2e: // .
          this.i++;
          out += '[^\\n]';
          last = 'atom';
          continue;
        case 0x5e: // ^  (begin of text: no multiline flag)
          this.i++;
          out += '(?:^)';
          last = 'atom';
          continue;
        case 0x24: // $  (end of text)
          this.i++;
          out += '(?:$)';
          last = 'atom';
          continue;
        case 0x5b: // [
          out += this.parseClass();
          last = 'atom';
          continue;
        case 0x5c: {
          // backslash
          const n = this.peek(1);
          if (n === 0x41 || n === 0x7a) {
            this.i += 2;
            out += n === 0x41 ? '(?:^)' : '(?:$)';
            last = 'atom';
            continue;
          }
          if (n === 0x62 || n === 0x42) {
            this.i += 2;
            out += n === 0x62 ? '(?:\\b)' : '(?:\\B)';
            last = 'atom';
            continue;
          }
          if (n === 0x43) throw new Re2SyntaxError('invalid escape sequence');
          if (n === 0x51) {
            // \Q...\E literal text
            this.i += 2;
            let lit = '';
            while (this.i < this.cps.length && !(this.cps[this.i] === 0x5c && this.peek(1) === 0x45)) {
              lit += cpLiteral(this.cps[this.i++]!);
            }
            if (this.i < this.cps.length) this.i += 2;
            if (lit !== '') {
              out += `(?:${lit})`;
              last = 'atom';
            }
            continue;
          }
          const u = this.unicodeClass();
          if (u !== undefined) {
            out += u === '' ? '[]' : `[${u}]`;
            last = 'atom';
            continue;
          }
          const perl = this.perlClass();
          if (perl) {
            out += `[${rangesToClassBody(perl)}]`;
            last = 'atom';
            continue;
          }
          out += cpLiteral(this.parseEscape());
          last = 'atom';
          continue;
        }
        default:
          this.i++;
          out += cpLiteral(c);
          last = 'atom';
      }
    }
    if (depth !== 0) throw new Re2SyntaxError('missing closing )');
    return out;
  }
}

/**
 * Compile a Go RE2 expression to a JS RegExp with the same matches.
 * @throws Re2SyntaxError where Go's `regexp.Compile` fails.
 */
export function compileRe2(source: string): RegExp {
  const js = new Parser(source).translate();
  try {
    return new RegExp(js, 'u');
  } catch (e) {
    throw new Re2SyntaxError(`cannot translate regexp: ${(e as Error).message}`);
  }
}
