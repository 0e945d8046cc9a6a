import { formatCodeFrame } from './code-frame.js';
import type { SourceRange } from './errors.js';

const at = (line: number, column: number, endLine = line, endColumn = column + 1): SourceRange => ({
  start: { line, column, offset: 0 },
  end: { line: endLine, column: endColumn, offset: 0 },
});

const src = ['FROM alpine', 'ARG X', 'RUN <<EOF', 'echo hi', 'EOF', 'CMD ["sh"]'].join('\n');

describe('formatCodeFrame', () => {
  test('marks the line and underlines the range with context', () => {
    expect(formatCodeFrame(src, at(3, 5, 3, 10))).toBe(
      [
        '  1 | FROM alpine',
        '  2 | ARG X',
        '> 3 | RUN <<EOF',
        '    |     ^^^^^',
        '  4 | echo hi',
        '  5 | EOF',
      ].join('\n'),
    );
  });

  test('contextLines and the first line', () => {
    expect(formatCodeFrame(src, at(1, 1, 1, 5), { contextLines: 0 })).toBe('> 1 | FROM alpine\n    | ^^^^');
  });

  test('multi-line ranges mark every line', () => {
    expect(formatCodeFrame(src, at(3, 5, 5, 4), { contextLines: 0 })).toBe(
      ['> 3 | RUN <<EOF', '    |     ^^^^^', '> 4 | echo hi', '    | ^^^^^^^', '> 5 | EOF', '    | ^^^'].join('\n'),
    );
  });

  test('an empty range still points somewhere; wide gutters pad', () => {
    const many = Array.from({ length: 12 }, (_, i) => `L${i + 1}`).join('\n');
    expect(formatCodeFrame(many, at(10, 4, 10, 4), { contextLines: 1 })).toBe(
      ['   9 | L9', '> 10 | L10', '     |    ^', '  11 | L11'].join('\n'),
    );
  });

  test('tabs are kept in the underline padding, CRLF is dropped', () => {
    expect(formatCodeFrame('\tRUN x\r\n', at(1, 2, 1, 5), { contextLines: 0 })).toBe('> 1 | \tRUN x\n    | \t^^^');
  });

  test('control characters are made visible without moving columns', () => {
    expect(formatCodeFrame('a\u001b[2Jb', at(1, 6, 1, 7), { contextLines: 0 })).toBe('> 1 | a\u241b[2Jb\n    |      ^');
  });

  test('long lines are cut around the range', () => {
    const line = 'x'.repeat(1000) + 'HERE' + 'y'.repeat(1000);
    const frame = formatCodeFrame(line, at(1, 1001, 1, 1005), { maxLineLength: 40 });
    const [code, under] = frame.split('\n');
    expect(code!.length).toBeLessThan(60);
    expect(code).toContain('HERE');
    expect(code!.indexOf('HERE')).toBe(under!.indexOf('^'));
    expect(under).toMatch(/\^\^\^\^$/);
  });

  test('color wraps marker, gutter and carets only', () => {
    const frame = formatCodeFrame(src, at(2, 1, 2, 4), { contextLines: 0, color: true });
    expect(frame).toContain('\u001b[31m\u001b[1m>\u001b[22m\u001b[39m');
    expect(frame).toContain('\u001b[31m\u001b[1m^^^\u001b[22m\u001b[39m');
    expect(frame.replace(/\u001b\[[0-9;]*m/g, '')).toBe(formatCodeFrame(src, at(2, 1, 2, 4), { contextLines: 0 }));
  });

  test('ranges past the end are clamped', () => {
    expect(formatCodeFrame('FROM a', at(7, 1), { contextLines: 1 })).toBe('> 1 | FROM a\n    |       ^');
  });
});
