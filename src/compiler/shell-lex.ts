/**
 * Shell-style word expansion for Dockerfile arguments, with BuildKit's semantics
 * (moby/buildkit frontend/dockerfile/shell/lex.go): quotes, escapes, `$name`,
 * `${name}` and the modifiers `:-` `-` `:+` `+` `:?` `?` `#` `##` `%` `%%` `/` `//`,
 * positional and special parameters (never set), and word splitting.
 *
 * One deliberate difference: current BuildKit shares one word buffer between
 * nested `${...}` scans, so its ProcessWords drops the text before a modified
 * variable (`a${X:-b}c` gives `bc`); we keep it (`abc`), as older BuildKit did.
 * No conformance row depends on this.
 *
 * Pure: no IO, no module-level mutable state. Every failure is an
 * `OcibuildError('DOCKERFILE_EXPANSION')` whose message is BuildKit's
 * (`failed to process "<word>": <reason>`); the bare reason is in `details.reason`.
 */
import { OcibuildError } from '../errors.js';
import { escapeNonPrintable, MAX_SUBSTITUTION_DEPTH } from '../parser/index.js';

/** Options of {@link processWord} and {@link processWords}. */
export interface ShellLexOptions {
  /** The Dockerfile escape character (`# escape=` directive). Default `\`. */
  escapeToken?: '\\' | '`';
  /** Keep the quote characters in the output (BuildKit `RawQuotes`). */
  rawQuotes?: boolean;
  /** Leave references to unset variables as written (`$X`, `${X:-y}`) instead of expanding them (BuildKit `SkipUnsetEnv`). */
  skipUnsetEnv?: boolean;
  /** Keep escape characters in the output (BuildKit `RawEscapes`, used for heredoc bodies). */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (BuildKit `SkipProcessQuotes`, used for heredoc bodies). */
  skipProcessQuotes?: boolean;
  /**
   * Variable names compare case-insensitively, as on Windows targets. Applies to
   * Map lookups; with a function lookup the function decides.
   */
  caseInsensitiveEnv?: boolean;
}

/** Where variables come from: a map (name → value) or a lookup function (`undefined` = unset). */
export type EnvLookup = ReadonlyMap<string, string> | ((name: string) => string | undefined);

/** Result of {@link processWord}. */
export interface ExpandResult {
  /** The expanded word. */
  result: string;
  /** Names that were looked up and found (set, possibly to the empty string). */
  matched: Set<string>;
  /** Names that were looked up and not set. */
  unmatched: Set<string>;
}

/** Result of {@link processWords}. */
export interface ExpandWordsResult {
  /** The expanded text split into words (quoted whitespace does not split). */
  words: string[];
  matched: Set<string>;
  unmatched: Set<string>;
}

const EOF = -1;
const RE_SPACE = /^\p{White_Space}$/u;
const RE_LETTER = /^\p{L}$/u;
const RE_DIGIT = /^\p{Nd}$/u;
const RE_PRINT = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function isSpace(cp: number): boolean {
  if (cp < 0x80) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d);
  return RE_SPACE.test(String.fromCodePoint(cp));
}
function isLetter(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return RE_LETTER.test(String.fromCodePoint(cp));
}
function isDigit(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x30 && cp <= 0x39;
  return RE_DIGIT.test(String.fromCodePoint(cp));
}
function isSpecialParam(cp: number): boolean {
  // @ * # ? - $ ! 0
  return cp === 0x40 || cp === 0x2a || cp === 0x23 || cp === 0x3f || cp === 0x2d || cp === 0x24 || cp === 0x21 || cp === 0x30;
}

/** Go's `strconv.Quote`, used in BuildKit's `failed to process %q` messages. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (cp) {
      case 0x22: out += '\\"'; continue;
      case 0x5c: out += '\\\\'; continue;
      case 0x07: out += '\\a'; continue;
      case 0x08: out += '\\b'; continue;
      case 0x0c: out += '\\f'; continue;
      case 0x0a: out += '\\n'; continue;
      case 0x0d: out += '\\r'; continue;
      case 0x09: out += '\\t'; continue;
      case 0x0b: out += '\\v'; continue;
    }
    if (cp === 0x20 || (cp > 0x20 && cp < 0x7f)) out += ch;
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd';
    else if (RE_PRINT.test(ch)) out += ch;
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + '"';
}

/**
 * How deep `${...}` substitutions may nest (the parser's limit, shared): past
 * it a word is refused with a DOCKERFILE_EXPANSION error located at its
 * instruction, instead of running out of stack.
 */
export { MAX_SUBSTITUTION_DEPTH };

/** An error inside the lexer; wrapped with the source word at the top. */
class LexError extends Error {}

/**
 * Accumulates split words (BuildKit's wordsStruct): unquoted whitespace ends a word,
 * quoted text is added raw.
 */
class Words {
  private buf = '';
  private words: string[] = [];
  private inWord = false;

  addChar(cp: number): void {
    if (isSpace(cp)) {
      if (this.inWord && this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(cp);
    }
  }
  addRawChar(cp: number): void {
    this.buf += String.fromCodePoint(cp);
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch.codePointAt(0)!);
  }
  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  getWords(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

interface Lookup {
  (name: string): string | undefined;
}

function makeLookup(env: EnvLookup, caseInsensitive: boolean): Lookup {
  if (typeof env === 'function') return env;
  if (!caseInsensitive) return (name) => env.get(name);
  return (name) => {
    const want = name.toUpperCase();
    let found: string | undefined;
    for (const [k, v] of env) if (k.toUpperCase() === want) found = v;
    return found;
  };
}

/** One expansion run over one word (BuildKit's shellWord). */
class ShellWord {
  private readonly cps: number[];
  private pos = 0;
  private depth = 0;
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly escapeToken: number;
  private readonly rawQuotes: boolean;
  private readonly skipUnsetEnv: boolean;
  private readonly skipProcessQuotes: boolean;

  constructor(word: string, private readonly lookup: Lookup, options: ShellLexOptions) {
    const cps: number[] = [];
    for (const ch of word) cps.push(ch.codePointAt(0)!);
    // Go's text/scanner skips a byte order mark at the very start.
    if (cps[0] === 0xfeff) cps.shift();
    this.cps = cps;
    this.escapeToken = (options.escapeToken ?? '\\').codePointAt(0)!;
    this.rawQuotes = options.rawQuotes ?? false;
    this.skipUnsetEnv = options.skipUnsetEnv ?? false;
    this.skipProcessQuotes = options.skipProcessQuotes ?? false;
    this.rawEscapes = options.rawEscapes ?? false;
  }

  private peek(): number {
    return this.pos < this.cps.length ? this.cps[this.pos]! : EOF;
  }
  private next(): number {
    return this.pos < this.cps.length ? this.cps[this.pos++]! : EOF;
  }

  run(): { result: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  private processStopOn(stopChar: number, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = new Words();
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stopChar !== EOF && ch === stopChar) {
          this.next();
          return { result, words: words.getWords() };
        }
        if (ch === 0x24 /* $ */) {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp);
        } else if (!this.skipProcessQuotes && (ch === 0x27 || ch === 0x22)) {
          const tmp = ch === 0x27 ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          words.addRawString(tmp);
        } else {
          ch = this.next();
          if (ch === this.escapeToken) {
            if (this.rawEscapes) {
              words.addRawChar(ch);
              result += String.fromCodePoint(ch);
            }
            // The escape character escapes the next one, except at the end.
            ch = this.next();
            if (ch === EOF) break;
            words.addRawChar(ch);
          } else {
            words.addChar(ch);
          }
          result += String.fromCodePoint(ch);
        }
      }
      if (stopChar !== EOF) {
        throw new LexError(`unexpected end of statement while looking for matching ${String.fromCodePoint(stopChar)}`);
      }
      return { result, words: words.getWords() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; ' cannot be escaped.
    let result = '';
    let ch = this.next();
    if (this.rawQuotes) result += String.fromCodePoint(ch);
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === 0x27) {
        if (this.rawQuotes) result += "'";
        return result;
      }
      result += String.fromCodePoint(ch);
    }
  }

  private processDoubleQuote(): string {
    // Literal up to the next ", except $ expansions; the escape character
    // escapes only ", $ and itself.
    let result = '';
    const open = this.next();
    if (this.rawQuotes) result += String.fromCodePoint(open);
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (p === 0x22) {
        this.next();
        if (this.rawQuotes) result += '"';
        return result;
      }
      if (p === 0x24) {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += String.fromCodePoint(ch);
        const q = this.peek();
        if (q === EOF) continue; // ignore a trailing escape
        if (q === 0x22 || q === 0x24 || q === this.escapeToken) ch = this.next();
      }
      result += String.fromCodePoint(ch);
    }
  }

  private getEnv(name: string): { value: string; set: boolean } {
    const v = this.lookup(name);
    if (v !== undefined) {
      this.matched.add(name);
      return { value: v, set: true };
    }
    this.unmatched.add(name);
    return { value: '', set: false };
  }

  private processName(): string {
    // A name is letters, digits and _; digits first = positional parameter;
    // a special parameter is a single character.
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += String.fromCodePoint(this.next());
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) {
        return String.fromCodePoint(this.next());
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += String.fromCodePoint(this.next());
    }
    return name;
  }

  private processDollar(): string {
    this.next(); // $
    if (this.peek() !== 0x7b /* { */) {
      const name = this.processName();
      if (name === '') return '$';
      const { value, set } = this.getEnv(name);
      if (!set && this.skipUnsetEnv) return '$' + name;
      return value;
    }
    this.next(); // {
    if (this.depth >= MAX_SUBSTITUTION_DEPTH) {
      throw new LexError(`substitutions nested deeper than ${MAX_SUBSTITUTION_DEPTH} levels are not supported`);
    }
    this.depth++;
    try {
      return this.processBraced();
    } finally {
      this.depth--;
    }
  }

  /** `${...}` after the brace. */
  private processBraced(): string {
    const first = this.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === 0x7b || first === 0x7d || first === 0x3a) throw new LexError('syntax error: bad substitution');

    const name = this.processName();
    let ch = this.next();
    let chs = ch === EOF ? '\ufffd' : String.fromCodePoint(ch);
    let nullIsUnset = false;

    if (ch === 0x7d /* } */) {
      const { value, set } = this.getEnv(name);
      if (!set && this.skipUnsetEnv) return `\${${name}}`;
      return value;
    }
    if (ch === 0x3a /* : */) {
      nullIsUnset = true;
      ch = this.next();
      chs += ch === EOF ? '\ufffd' : String.fromCodePoint(ch);
    } else if (ch === 0x2f /* / */) {
      return this.processReplace(name);
    } else if (!(ch === 0x2b || ch === 0x2d || ch === 0x3f || ch === 0x23 || ch === 0x25)) {
      throw new LexError(`unsupported modifier (${chs}) in substitution`);
    }
    // ch is now the modifier: + - ? # % (or anything after ':')
    const patternModifier = ch === 0x23 || ch === 0x25;
    if (nullIsUnset && patternModifier) throw new LexError(`unsupported modifier (${chs}) in substitution`);
    let word: string;
    try {
      word = this.processStopOn(0x7d, patternModifier).result;
    } catch (e) {
      if (e instanceof LexError && this.peek() === EOF) throw new LexError("syntax error: missing '}'");
      throw e;
    }
    const { value, set } = this.getEnv(name);
    if (this.skipUnsetEnv && !set) return `\${${name}${chs}${word}}`;

    switch (ch) {
      case 0x2d: // -
        return !set || (nullIsUnset && value === '') ? word : value;
      case 0x2b: // +
        return !set || (nullIsUnset && value === '') ? '' : word;
      case 0x3f: // ?
        if (!set) throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        return value;
      case 0x25: // %
      case 0x23: {
        // #
        let greedy = false;
        if (word.length > 0 && word.codePointAt(0) === ch) {
          greedy = true;
          word = word.slice(1);
        }
        return ch === 0x25 ? trimSuffix(word, value, greedy) : trimPrefix(word, value, greedy);
      }
      default:
        throw new LexError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const replaceAll = this.peek() === 0x2f;
    if (replaceAll) this.next();
    let pattern: string;
    try {
      pattern = this.processStopOn(0x2f, true).result;
    } catch (e) {
      if (e instanceof LexError && this.peek() === EOF) throw new LexError("syntax error: missing '/' in ${}");
      throw e;
    }
    let replacement: string;
    try {
      replacement = this.processStopOn(0x7d, true).result;
    } catch (e) {
      if (e instanceof LexError && this.peek() === EOF) throw new LexError("syntax error: missing '}'");
      throw e;
    }
    const { value, set } = this.getEnv(name);
    if (this.skipUnsetEnv && !set) return `\${${name}/${pattern}/${replacement}}`;
    const re = wrapPatternError(pattern, () => shellPatternRegex(pattern, true, false));
    if (replaceAll) return goReplaceAll(re, value, replacement);
    re.lastIndex = 0;
    const m = re.exec(value);
    if (!m) return value;
    return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
  }
}

/**
 * Translate a `${var#pattern}` / `${var%pattern}` / `${var/pattern/r}` pattern into a
 * regular expression: `*` any run (greedy or lazy), `?` one character, `\` escapes
 * `*`, `?` or `\` (before `}` or `/` it is dropped); everything else is literal.
 * The result has the `g` flag (for replace-all) and `u` (code points, like Go runes).
 * Throws a LexError for an invalid escape.
 */
function shellPatternRegex(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const cps: number[] = [];
  for (const ch of pattern) cps.push(ch.codePointAt(0)!);
  if (cps[0] === 0xfeff) cps.shift(); // text/scanner skips a leading BOM
  let out = anchored ? '^' : '';
  // Go's '.' does not match '\n'.
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < cps.length; i++) {
    let tok = cps[i]!;
    if (tok === 0x2a) {
      out += star;
      continue;
    }
    if (tok === 0x3f) {
      out += '[^\\n]';
      continue;
    }
    if (tok === 0x5c) {
      const nx = i + 1 < cps.length ? cps[i + 1]! : EOF;
      if (nx === 0x7d || nx === 0x2f) continue;
      i++;
      tok = nx;
      if (tok !== 0x2a && tok !== 0x3f && tok !== 0x5c) {
        throw new LexError(
          tok === EOF ? "invalid escape '\\' at end of pattern" : `invalid escape '\\${String.fromCodePoint(tok)}'`,
        );
      }
    }
    out += regexLiteral(tok);
  }
  return new RegExp(out, 'gu');
}

/** A code point as a literal in a `u`-mode regular expression. */
function regexLiteral(cp: number): string {
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f) {
    return String.fromCharCode(cp);
  }
  return `\\u{${cp.toString(16)}}`;
}

function wrapPatternError(pattern: string, fn: () => RegExp): RegExp {
  try {
    return fn();
  } catch (e) {
    if (e instanceof LexError) throw new LexError(`invalid pattern (${pattern}) in substitution: ${e.message}`);
    throw e;
  }
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = wrapPatternError(pattern, () => shellPatternRegex(pattern, greedy, true));
  re.lastIndex = 0;
  const m = re.exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/** Reverse a pattern by code points, keeping each escape before the character it escapes. */
function reversePattern(pattern: string): string {
  const cps = Array.from(pattern);
  const out: string[] = new Array<string>(cps.length);
  const last = cps.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = cps[i]!;
    const outIdx = last - i;
    if (tok === '\\' && i !== last) {
      out[outIdx - 1] = tok;
      out[outIdx] = cps[i + 1]!;
      i += 2;
    } else {
      out[outIdx] = tok;
      i++;
    }
  }
  return out.join('');
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // A regexp cannot find the shortest rightmost match, so reverse both and trim a prefix.
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/**
 * Go's `Regexp.ReplaceAllString`: non-overlapping matches left to right, an empty
 * match right after a previous match is not replaced, and the replacement is a
 * template where `$0`/`${0}` is the match, `$$` is `$`, other `$name` are empty.
 */
function goReplaceAll(re: RegExp, src: string, template: string): string {
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    re.lastIndex = searchPos;
    const m = re.exec(src);
    if (!m) break;
    const a0 = m.index;
    const a1 = m.index + m[0].length;
    out += src.slice(lastMatchEnd, a0);
    if (a1 > lastMatchEnd || a0 === 0) out += expandTemplate(template, m[0]);
    lastMatchEnd = a1;
    const cp = src.codePointAt(searchPos);
    const width = cp === undefined ? 0 : cp > 0xffff ? 2 : 1;
    if (searchPos + width > a1) searchPos += width;
    else if (searchPos + 1 > a1) searchPos++;
    else searchPos = a1;
  }
  return out + src.slice(lastMatchEnd);
}

function expandTemplate(template: string, match: string): string {
  if (!template.includes('$')) return template;
  let out = '';
  let t = template;
  for (;;) {
    const i = t.indexOf('$');
    if (i < 0) break;
    out += t.slice(0, i);
    t = t.slice(i + 1);
    if (t.startsWith('$')) {
      out += '$';
      t = t.slice(1);
      continue;
    }
    const ex = extractTemplateName(t);
    if (!ex) {
      out += '$';
      continue;
    }
    t = ex.rest;
    if (ex.num === 0) out += match;
  }
  return out + t;
}

function extractTemplateName(str: string): { num: number; rest: string } | undefined {
  if (str === '') return undefined;
  let s = str;
  const brace = s[0] === '{';
  if (brace) s = s.slice(1);
  let i = 0;
  const cps = Array.from(s);
  let name = '';
  for (; i < cps.length; i++) {
    const cp = cps[i]!.codePointAt(0)!;
    if (!isLetter(cp) && !isDigit(cp) && cp !== 0x5f) break;
    name += cps[i];
  }
  if (name === '') return undefined;
  let rest = s.slice(name.length);
  if (brace) {
    if (!rest.startsWith('}')) return undefined;
    rest = rest.slice(1);
  }
  let num = /^[0-9]+$/.test(name) && name.length <= 8 ? Number(name) : -1;
  if (name[0] === '0' && name.length > 1) num = -1;
  return { num, rest };
}

function run(word: string, env: EnvLookup, options: ShellLexOptions): { sw: ShellWord; out: { result: string; words: string[] } } {
  if (options.escapeToken !== undefined && options.escapeToken !== '\\' && options.escapeToken !== '`') {
    throw new OcibuildError('DOCKERFILE_EXPANSION', `invalid escape token ${JSON.stringify(options.escapeToken)}: must be \\ or \``);
  }
  const sw = new ShellWord(word, makeLookup(env, options.caseInsensitiveEnv ?? false), options);
  try {
    return { sw, out: sw.run() };
  } catch (e) {
    if (e instanceof LexError) {
      throw new OcibuildError('DOCKERFILE_EXPANSION', `failed to process ${goQuote(word)}: ${escapeNonPrintable(e.message)}`, {
        details: { word, reason: e.message, matched: [...sw.matched], unmatched: [...sw.unmatched] },
      });
    }
    throw e;
  }
}

/**
 * Expand variables in `word` and remove quotes and escapes, keeping whitespace
 * (BuildKit `ProcessWordWithMatches`). Unset variables expand to the empty string
 * unless `skipUnsetEnv` is set.
 * @throws OcibuildError `DOCKERFILE_EXPANSION` (bad substitution, missing `}`,
 *   unsupported modifier, `${VAR?msg}` → `VAR: msg`, unterminated quotes, bad pattern).
 */
export function processWord(word: string, env: EnvLookup, options: ShellLexOptions = {}): ExpandResult {
  const { sw, out } = run(word, env, options);
  return { result: out.result, matched: sw.matched, unmatched: sw.unmatched };
}

/**
 * Like {@link processWord}, then split into words on whitespace that came from
 * unquoted text or unquoted variable values (BuildKit `ProcessWords`).
 * @throws OcibuildError `DOCKERFILE_EXPANSION`
 */
export function processWords(word: string, env: EnvLookup, options: ShellLexOptions = {}): ExpandWordsResult {
  const { sw, out } = run(word, env, options);
  return { words: out.words, matched: sw.matched, unmatched: sw.unmatched };
}

/**
 * Build a variable map from `KEY=value` strings, as BuildKit does for an image's
 * Env: the first `=` separates key and value, a later entry for the same key wins,
 * and a bare `KEY` defines the key with an empty value.
 */
export function envFromList(list: readonly string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of list) {
    const i = entry.indexOf('=');
    if (i < 0) env.set(entry, '');
    else env.set(entry.slice(0, i), entry.slice(i + 1));
  }
  return env;
}

/**
 * The regular expression BuildKit builds for a `#`/`%`/`/` pattern (exported for
 * tests and tools). `anchored` adds `^`; `greedy` makes `*` match the longest run.
 * @throws OcibuildError `DOCKERFILE_EXPANSION` for an invalid escape.
 */
export function shellPatternToRegex(pattern: string, greedy = true, anchored = true): RegExp {
  try {
    return shellPatternRegex(pattern, greedy, anchored);
  } catch (e) {
    if (e instanceof LexError) {
      throw new OcibuildError('DOCKERFILE_EXPANSION', `invalid pattern (${pattern}) in substitution: ${e.message}`, {
        details: { reason: e.message },
      });
    }
    throw e;
  }
}
