/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`), with BuildKit's
 * rules: only at the top of the file, names case-insensitive, each at most once,
 * the first other line (blank, comment, instruction, unknown name) ends them.
 */
import { OcibuildError, type SourceRange } from '../errors.js';
import type { ByteString } from './bytes.js';
import { decodeByteString, leftSpaceEnd } from './bytes.js';
import { inputToByteString, SourceText } from './source.js';

/** Directive names BuildKit knows. */
export const DIRECTIVE_NAMES = ['syntax', 'escape', 'check'] as const;
export type DirectiveName = (typeof DIRECTIVE_NAMES)[number];

const SHEBANG = /^#!/;

// Go: ^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$ with \s = [\t\n\f\r ] and `.` = any
// byte but \n, applied after the comment prefix and leading Unicode whitespace.
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;

/** A directive as the line parser sees it (byte strings). */
export interface RawDirective {
  name: DirectiveName;
  value: ByteString;
  /** 1-based line number as BuildKit counts it. */
  line: number;
}

/**
 * BuildKit's DirectiveParser: feed it lines in order. A shebang line is not
 * special here (it ends the directives like any comment); only detectSyntax
 * and parseDirectiveCheck skip one.
 */
export class DirectiveParser {
  private lineNo: number;
  private readonly seen = new Set<string>();
  done = false;

  constructor(
    private readonly prefix: '#' | '//' = '#',
    startLine = 0,
  ) {
    this.lineNo = startLine;
  }

  /**
   * Look at one line (without its line ending). Returns the directive, or
   * undefined; throws a plain Error with BuildKit's message for a repeated one.
   */
  parseLine(line: ByteString): RawDirective | undefined {
    this.lineNo++;
    if (this.done) return undefined;
    if (!line.startsWith(this.prefix)) {
      this.done = true;
      return undefined;
    }
    const body = line.slice(leftSpaceEnd(line, this.prefix.length));
    const m = DIRECTIVE.exec(body);
    if (!m) {
      this.done = true;
      return undefined;
    }
    const name = m[1]!.toLowerCase();
    if (!(DIRECTIVE_NAMES as readonly string[]).includes(name)) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(name)) throw new Error(`only one ${name} parser directive can be used`);
    this.seen.add(name);
    return { name: name as DirectiveName, value: m[2]!, line: this.lineNo };
  }
}

/** Split like bufio.ScanLines: at `\n`, one trailing `\r` dropped. */
function scanLines(bytes: ByteString): { text: ByteString; start: number }[] {
  const out: { text: ByteString; start: number }[] = [];
  let start = 0;
  while (start < bytes.length) {
    const nl = bytes.indexOf('\n', start);
    const end = nl < 0 ? bytes.length : nl;
    let text = bytes.slice(start, end);
    if (text.endsWith('\r')) text = text.slice(0, -1);
    out.push({ text, start });
    start = nl < 0 ? bytes.length : nl + 1;
  }
  return out;
}

/** A directive found by `parseDirectives`. */
export interface FoundDirective {
  name: DirectiveName;
  value: string;
  /** 1-based line. */
  line: number;
  range: SourceRange;
}

/**
 * The `#` directives at the top of a Dockerfile (BuildKit's ParseAll), without
 * parsing the rest. A UTF-8 BOM is skipped. A repeated directive is a
 * DOCKERFILE_SYNTAX error.
 */
export function parseDirectives(source: string | Uint8Array, options: { file?: string } = {}): FoundDirective[] {
  const src = new SourceText(inputToByteString(source));
  const parser = new DirectiveParser('#');
  const found: FoundDirective[] = [];
  for (const { text, start } of scanLines(src.bytes)) {
    if (parser.done) break;
    const range = src.range(start, start + text.length);
    let d: RawDirective | undefined;
    try {
      d = parser.parseLine(text);
    } catch (e) {
      throw new OcibuildError('DOCKERFILE_SYNTAX', (e as Error).message, { file: options.file ?? 'Dockerfile', range });
    }
    if (d) found.push({ name: d.name, value: decodeByteString(d.value), line: d.line, range });
  }
  return found;
}

/** A directive looked up by `detectSyntax` / `parseDirectiveCheck`. */
export interface DirectiveLookup {
  /** The value up to the first space (`docker/dockerfile:1`). */
  ref: string;
  /** The whole value. */
  cmdline: string;
  /** 1-based line of the directive. */
  line: number;
}

function lookup(key: DirectiveName, source: string | Uint8Array, anyFormat: boolean): DirectiveLookup | undefined {
  let dt = inputToByteString(source);
  if (dt.startsWith('\xef\xbb\xbf')) dt = dt.slice(3);
  let line = 0;
  const nl = dt.indexOf('\n');
  const first = nl < 0 ? dt : dt.slice(0, nl);
  if (SHEBANG.test(first)) {
    dt = nl < 0 ? '' : dt.slice(nl + 1);
    line = 1;
  }
  const prefixes: ('#' | '//')[] = anyFormat ? ['#', '//'] : ['#'];
  for (const prefix of prefixes) {
    const parser = new DirectiveParser(prefix, line);
    for (const { text } of scanLines(dt)) {
      if (parser.done) break;
      let d: RawDirective | undefined;
      try {
        d = parser.parseLine(text);
      } catch {
        break; // upstream keeps what was found before the error
      }
      if (d && d.name === key) {
        const value = decodeByteString(d.value);
        const sp = value.indexOf(' ');
        return { ref: sp < 0 ? value : value.slice(0, sp), cmdline: value, line: d.line };
      }
    }
  }
  if (anyFormat) {
    let obj: unknown;
    try {
      obj = JSON.parse(decodeByteString(dt));
    } catch {
      return undefined;
    }
    if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
      const v = (obj as Record<string, unknown>)[key];
      if (typeof v === 'string') return { ref: v, cmdline: v, line: line + 1 };
    }
  }
  return undefined;
}

/**
 * BuildKit's DetectSyntax: the `syntax` directive, also written as `//syntax=`
 * or as a whole-file JSON object `{"syntax": "..."}`; a leading `#!` line is
 * skipped. Undefined when there is none.
 */
export function detectSyntax(source: string | Uint8Array): DirectiveLookup | undefined {
  return lookup('syntax', source, true);
}

/** The `# check=` directive (BuildKit's ParseDirective("check"), `#` form only). */
export function parseDirectiveCheck(source: string | Uint8Array): DirectiveLookup | undefined {
  return lookup('check', source, false);
}
