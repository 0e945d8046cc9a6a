/**
 * Heredoc detection, as BuildKit does it: the logical line is split into shell
 * words (quotes and escapes kept raw, variables left as written), each word is
 * matched against the marker grammar (`[fd]<<[-][blanks]name`, grammar.ne), and
 * the name must lex to exactly one shell word.
 *
 * The small shell lexer here only serves that purpose; it mirrors BuildKit's
 * shell.Lex with an empty environment and unset variables kept as written.
 * Variable expansion proper is the compiler's job.
 */
import type { ByteString } from './bytes.js';
import { decodeRune, encodeRune, isSpaceRune } from './bytes.js';
import type { LineGrammars } from './grammars.js';

const EOF = -1;
const BACKSLASH = 0x5c;

/** A shell-lexing failure (unterminated quote, bad `${...}`); the message is BuildKit's. */
export class ShellLexError extends Error {
  override readonly name = 'ShellLexError';
}

/** One word from the shell lexer: its text and the byte index it starts at. */
export interface ShellWord {
  text: ByteString;
  start: number;
}

class Words {
  readonly words: ShellWord[] = [];
  private word = '';
  private start = 0;
  private inWord = false;

  addChar(ch: number, pos: number): void {
    if (isSpaceRune(ch) && this.inWord) {
      if (this.word.length !== 0) {
        // `<<` followed by blanks stays attached to the next word (BuildKit >= 0.22).
        if (endsWithHeredocOperator(this.word)) {
          this.word += encodeRune(ch);
          return;
        }
        this.words.push({ text: this.word, start: this.start });
        this.word = '';
        this.inWord = false;
      }
    } else if (!isSpaceRune(ch)) {
      this.addRawChar(ch, pos);
    }
  }

  addRawChar(ch: number, pos: number): void {
    this.addRawString(encodeRune(ch), pos);
  }

  addString(s: ByteString, pos: number): void {
    let i = 0;
    while (i < s.length) {
      const [r, w] = decodeRune(s, i);
      this.addChar(r, pos);
      i += w;
    }
  }

  addRawString(s: ByteString, pos: number): void {
    if (!this.inWord) this.start = pos;
    this.word += s;
    this.inWord = true;
  }

  finish(): ShellWord[] {
    if (this.word.length > 0) {
      this.words.push({ text: this.word, start: this.start });
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/**
 * How deep `${...}` substitutions may nest (`${a:-${b:-...}}`), here and in the
 * compiler's expansion: both scanners recurse once per level, so a deeper word
 * is refused with a located error instead of running out of stack. Real
 * Dockerfiles nest a handful of levels.
 */
export const MAX_SUBSTITUTION_DEPTH = 256;

/** Our limit, not a lexing failure: a line past it is refused, never read as "no heredocs". */
export class SubstitutionDepthError extends ShellLexError {}

function endsWithHeredocOperator(word: ByteString): boolean {
  let end = word.length;
  while (end > 0) {
    const c = word.charCodeAt(end - 1);
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) end--;
    else break;
  }
  return end >= 2 && word.charCodeAt(end - 1) === 0x3c && word.charCodeAt(end - 2) === 0x3c;
}

const DIGIT = /^\p{Nd}$/u;
const LETTER = /^\p{L}$/u;
const isDigit = (r: number): boolean => r >= 0 && DIGIT.test(String.fromCodePoint(r));
const isLetter = (r: number): boolean => r >= 0 && LETTER.test(String.fromCodePoint(r));

function isSpecialParam(r: number): boolean {
  return '@*#?-$!0'.includes(String.fromCharCode(r)) && r < 0x80 && r >= 0;
}

class ShellLexer {
  private pos = 0;
  private rawEscapes: boolean;

  constructor(
    private readonly src: ByteString,
    private readonly rawQuotes: boolean,
    rawEscapes: boolean,
  ) {
    this.rawEscapes = rawEscapes;
    // Go's text/scanner skips a byte order mark at the very start.
    if (src.length > 0) {
      const [r, w] = decodeRune(src, 0);
      if (r === 0xfeff) this.pos = w;
    }
  }

  private depth = 0;

  private peek(): number {
    if (this.pos >= this.src.length) return EOF;
    return decodeRune(this.src, this.pos)[0];
  }

  private next(): number {
    if (this.pos >= this.src.length) return EOF;
    const [r, w] = decodeRune(this.src, this.pos);
    this.pos += w;
    return r;
  }

  processWords(): ShellWord[] {
    return this.processStopOn(EOF, this.rawEscapes).words;
  }

  private processStopOn(stop: number, rawEscapes: boolean): { result: ByteString; words: ShellWord[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = new Words();
      while (this.peek() !== EOF) {
        const start = this.pos;
        let ch = this.peek();
        if (stop !== EOF && ch === stop) {
          this.next();
          return { result, words: words.finish() };
        }
        if (ch === 0x24 /* $ */ || ch === 0x27 /* ' */ || ch === 0x22 /* " */) {
          const tmp = ch === 0x24 ? this.processDollar() : ch === 0x27 ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          if (ch === 0x24) words.addString(tmp, start);
          else words.addRawString(tmp, start);
          continue;
        }
        ch = this.next();
        if (ch === BACKSLASH) {
          if (this.rawEscapes) {
            words.addRawChar(ch, start);
            result += encodeRune(ch);
          }
          ch = this.next();
          if (ch === EOF) break;
          words.addRawChar(ch, start);
        } else {
          words.addChar(ch, start);
        }
        result += encodeRune(ch);
      }
      if (stop !== EOF) {
        throw new ShellLexError(
          `unexpected end of statement while looking for matching ${String.fromCodePoint(stop)}`,
        );
      }
      return { result, words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): ByteString {
    let result = '';
    this.next();
    if (this.rawQuotes) result += "'";
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw new ShellLexError('unexpected end of statement while looking for matching single-quote');
      if (ch === 0x27) {
        if (this.rawQuotes) result += "'";
        return result;
      }
      result += encodeRune(ch);
    }
  }

  private processDoubleQuote(): ByteString {
    let result = '';
    this.next();
    if (this.rawQuotes) result += '"';
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new ShellLexError('unexpected end of statement while looking for matching double-quote');
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
      if (ch === BACKSLASH) {
        if (this.rawEscapes) result += '\\';
        const q = this.peek();
        if (q === EOF) continue;
        if (q === 0x22 || q === 0x24 || q === BACKSLASH) ch = this.next();
      }
      result += encodeRune(ch);
    }
  }

  private processName(): ByteString {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name === '' && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += encodeRune(this.next());
        return name;
      }
      if (name === '' && isSpecialParam(ch)) return encodeRune(this.next());
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += encodeRune(this.next());
    }
    return name;
  }

  /** `$...` with every variable unset and kept as written. */
  private processDollar(): ByteString {
    this.next();
    if (this.peek() !== 0x7b /* { */) {
      const name = this.processName();
      return name === '' ? '$' : '$' + name;
    }
    this.next();
    if (this.depth >= MAX_SUBSTITUTION_DEPTH) {
      throw new SubstitutionDepthError(`substitutions nested deeper than ${MAX_SUBSTITUTION_DEPTH} levels are not supported`);
    }
    this.depth++;
    try {
      return this.processBraced();
    } finally {
      this.depth--;
    }
  }

  /** `${...}` after the brace. */
  private processBraced(): ByteString {
    const p = this.peek();
    if (p === EOF) throw new ShellLexError("syntax error: missing '}'");
    if (p === 0x7b || p === 0x7d || p === 0x3a) throw new ShellLexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let chs = encodeRune(ch === EOF ? 0xfffd : ch);
    if (ch === 0x7d) return '${' + name + '}';
    if (ch === 0x3a /* : */ || ch === 0x2b || ch === 0x2d || ch === 0x3f || ch === 0x23 || ch === 0x25) {
      if (ch === 0x3a) {
        ch = this.next();
        chs += encodeRune(ch === EOF ? 0xfffd : ch);
      }
      const rawEscapes = ch === 0x23 || ch === 0x25;
      let word: ByteString;
      try {
        word = this.processStopOn(0x7d, rawEscapes).result;
      } catch (e) {
        if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '}'");
        throw e;
      }
      return '${' + name + chs + word + '}';
    }
    if (ch === 0x2f /* / */) {
      if (this.peek() === 0x2f) this.next();
      let pattern: ByteString;
      try {
        pattern = this.processStopOn(0x2f, true).result;
      } catch (e) {
        if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '/' in ${}");
        throw e;
      }
      let replacement: ByteString;
      try {
        replacement = this.processStopOn(0x7d, true).result;
      } catch (e) {
        if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '}'");
        throw e;
      }
      return '${' + name + '/' + pattern + '/' + replacement + '}';
    }
    throw new ShellLexError(`unsupported modifier (${chs}) in substitution`);
  }
}

/**
 * Split a byte string into shell words with BuildKit's lexer (escape `\`, no
 * environment, unset variables kept). Throws ShellLexError like `ProcessWords`.
 */
export function lexShellWords(
  src: ByteString,
  options: { rawQuotes: boolean; rawEscapes: boolean },
): ShellWord[] {
  return new ShellLexer(src, options.rawQuotes, options.rawEscapes).processWords();
}

/** What a heredoc marker word says. */
export interface HeredocMarker {
  /** Terminator name with quotes removed (a byte string). */
  name: ByteString;
  fileDescriptor: number;
  expand: boolean;
  chomp: boolean;
}

function countQuotes(s: ByteString): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x27 || c === 0x22) n++;
  }
  return n;
}

/**
 * BuildKit's ParseHeredoc for one word: undefined when the word is not a
 * heredoc marker; throws ShellLexError when its name does not lex.
 */
export function parseHeredocMarker(grammars: LineGrammars, word: ByteString): HeredocMarker | undefined {
  const parsed = grammars.parseHeredocMarker(word);
  if (!parsed.ok) return undefined;
  const { fd, chomp, name } = parsed.value;
  const rest = name.text;
  const words = lexShellWords(rest, { rawQuotes: false, rawEscapes: false });
  if (words.length !== 1) return undefined;
  const wordsRaw = lexShellWords(rest, { rawQuotes: true, rawEscapes: false });
  if (wordsRaw.length !== words.length) {
    throw new ShellLexError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const word0 = words[0]!.text;
  const digits = fd?.text ?? '';
  // Go's strconv.ParseUint error is ignored upstream: empty → 0, overflow → max.
  const fileDescriptor = digits === '' ? 0 : Math.min(Number(digits), Number.MAX_SAFE_INTEGER);
  return {
    name: word0,
    fileDescriptor,
    chomp,
    expand: countQuotes(word0) === countQuotes(wordsRaw[0]!.text),
  };
}

/** A heredoc marker found in a line, with the byte range of its word. */
export interface LineHeredoc extends HeredocMarker {
  start: number;
  end: number;
}

/**
 * BuildKit's heredocsFromLine: the heredoc markers of a logical line, in order.
 * A line that does not lex as shell words has none.
 */
export function heredocMarkersInLine(grammars: LineGrammars, line: ByteString): LineHeredoc[] {
  let words: ShellWord[];
  try {
    words = lexShellWords(line, { rawQuotes: true, rawEscapes: true });
  } catch (e) {
    if (e instanceof ShellLexError && !(e instanceof SubstitutionDepthError)) return [];
    throw e;
  }
  const out: LineHeredoc[] = [];
  for (const w of words) {
    const marker = parseHeredocMarker(grammars, w.text);
    if (marker) out.push({ ...marker, start: w.start, end: w.start + w.text.length });
  }
  return out;
}

/**
 * `<<-` body processing: remove the leading TAB characters of every line
 * (BuildKit's ChompHeredocContent). Lines are separated by `\n` only.
 */
export function chompHeredocContent(content: string): string {
  return content
    .split('\n')
    .map((line) => line.replace(/^\t+/, ''))
    .join('\n');
}
