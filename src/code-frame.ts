/**
 * A code frame like babel's: a few lines around a range, line numbers in a
 * gutter, `>` on the lines of the range and `^` under it.
 *
 * ```
 *   1 | FROM alpine
 * > 2 | RUN <<EOF
 *     |     ^^^^^
 *   3 | echo hi
 * ```
 *
 * Pure: no IO, no terminal detection (the CLI decides about `color`).
 */
import type { SourceRange } from './errors.js';

/** Options of formatCodeFrame. */
export interface CodeFrameOptions {
  /** Lines shown before and after the range (default 2). */
  contextLines?: number;
  /** Wrap gutter, marker and underline in ANSI colors (default false). */
  color?: boolean;
  /** Longer lines are cut to a window of this many characters around the range (default 160). */
  maxLineLength?: number;
}

const ANSI = {
  gray: (s: string) => `\u001b[90m${s}\u001b[39m`,
  redBold: (s: string) => `\u001b[31m\u001b[1m${s}\u001b[22m\u001b[39m`,
};

/** Replace control characters so a hostile file cannot drive the terminal; one char stays one char. */
function visible(line: string): string {
  return line.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => {
    const code = c.charCodeAt(0);
    if (code < 0x20) return String.fromCharCode(0x2400 + code);
    if (code === 0x7f) return '\u2421';
    return '\ufffd';
  });
}

/**
 * Format the lines of `source` around `range` (1-based lines and columns, as in
 * OcibuildError.range). A range outside the source is clamped to it.
 */
export function formatCodeFrame(source: string, range: SourceRange, options: CodeFrameOptions = {}): string {
  const contextLines = Math.max(0, options.contextLines ?? 2);
  const maxLen = Math.max(20, options.maxLineLength ?? 160);
  const color = options.color ?? false;
  const lines = source.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  // A final line ending does not start another line worth showing.
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  if (range.start.line > lines.length) {
    // Past the end (e.g. "file with no instructions" after a trailing newline): point after the last line.
    const column = lines[lines.length - 1]!.length + 1;
    const end = { line: lines.length, column, offset: range.start.offset };
    range = { start: end, end };
  }
  const clampLine = (n: number): number => Math.min(Math.max(1, n), lines.length);
  const startLine = clampLine(range.start.line);
  const endLine = Math.max(startLine, clampLine(range.end.line));
  const first = Math.max(1, startLine - contextLines);
  const last = Math.min(lines.length, endLine + contextLines);
  const width = String(last).length;

  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    let text = lines[n - 1]!;
    const marked = n >= startLine && n <= endLine;
    // Underline columns [from, to) on this line, 0-based.
    let from = 0;
    let to = 0;
    if (marked) {
      from = n === startLine ? Math.max(0, range.start.column - 1) : 0;
      to = n === endLine ? Math.max(0, range.end.column - 1) : text.length;
      if (n === endLine && range.end.line > endLine) to = text.length;
      from = Math.min(from, text.length);
      to = Math.min(Math.max(to, from), text.length);
      if (to === from && (n === startLine || text.length > 0)) to = from + 1;
    }
    // Cut long lines to a window that keeps the start of the underline in view.
    let shift = 0;
    let prefix = '';
    if (text.length > maxLen) {
      const anchor = marked ? from : 0;
      shift = Math.max(0, Math.min(anchor - Math.floor(maxLen / 4), text.length - maxLen));
      const suffix = shift + maxLen < text.length ? '…' : '';
      prefix = shift > 0 ? '…' : '';
      text = prefix + text.slice(shift, shift + maxLen) + suffix;
      from = Math.max(0, from - shift) + prefix.length;
      to = Math.min(Math.max(0, to - shift) + prefix.length, prefix.length + maxLen);
    }
    const num = String(n).padStart(width, ' ');
    const gutter = ` ${num} |`;
    const marker = marked ? (color ? ANSI.redBold('>') : '>') : ' ';
    const shown = visible(text);
    out.push(`${marker}${color ? ANSI.gray(gutter) : gutter}${shown.length > 0 ? ' ' + shown : ''}`);
    if (marked && to > from) {
      const pad = shown.slice(0, from).replace(/[^\t]/g, ' ');
      const carets = '^'.repeat(to - from);
      const blankGutter = ` ${' '.repeat(width)} |`;
      out.push(` ${color ? ANSI.gray(blankGutter) : blankGutter} ${pad}${color ? ANSI.redBold(carets) : carets}`);
    }
  }
  return out.join('\n');
}
