/**
 * Parser behaviour beyond the conformance tables: byte-level quirks, ranges,
 * comments, heredoc details, limits.
 */
import { isOcibuildError, type OcibuildError } from '../errors.js';
import { goQuoteBytes } from './bytes.js';
import { LineGrammars } from './grammars.js';
import {
  dumpBuildkit,
  encodeSourceText,
  goQuote,
  parseDockerfile,
  parseJsonArgs,
  type DockerfileAst,
} from './index.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const dump = (src: string | Uint8Array): string => dumpBuildkit(parseDockerfile(src));

function syntaxError(fn: () => unknown): OcibuildError {
  try {
    fn();
  } catch (e) {
    if (isOcibuildError(e) && e.code === 'DOCKERFILE_SYNTAX' && e.range) return e;
    throw e;
  }
  throw new Error('expected a DOCKERFILE_SYNTAX error');
}

/** The source text a range covers. */
const slice = (ast: DockerfileAst, r: { start: { offset: number }; end: { offset: number } }): string =>
  ast.source.slice(r.start.offset, r.end.offset);

describe('Go strconv.Quote', () => {
  test.each([
    ['plain', '"plain"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\x07\b\f\n\r\t\v', '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['\x00\x1b\x7f', '"\\x00\\x1b\\x7f"'],
    ['\u00a0', '"\\u00a0"'],
    ['\u200b\ufeff', '"\\u200b\\ufeff"'],
    ['\u{e0001}', '"\\U000e0001"'],
    ['♥ é 日本 😀', '"♥ é 日本 😀"'],
    ['\ufffd', '"�"'],
  ])('%j', (input, quoted) => {
    expect(goQuote(input)).toBe(quoted);
  });
  test('invalid UTF-8 bytes print as \\xHH', () => {
    expect(goQuoteBytes('a\xff\xc3(\xed\xa0\x80')).toBe('"a\\xff\\xc3(\\xed\\xa0\\x80"');
  });
});

describe('bytes as BuildKit reads them', () => {
  test('flag words are read byte by byte (Latin-1 quirk)', () => {
    expect(dump('FROM a\nCOPY --chown=é x y\n')).toBe('(from "a")\n(copy ["--chown=Ã©"] "x" "y")');
    // 0xA0 (second byte of à) is a space for the byte-wise flag splitter
    expect(dump('FROM a\nCOPY --x=à y\n')).toBe('(from "a")\n(copy ["--x=Ã"] "y")');
  });
  test('invalid UTF-8 survives into shell-form arguments and the dump', () => {
    const ast = parseDockerfile(bytes('FROM a\nRUN echo \xff\xfe\n'));
    expect(dumpBuildkit(ast)).toBe('(from "a")\n(run "echo \\xff\\xfe")');
    expect(Buffer.from(encodeSourceText(ast.instructions[1]!.args[0]!)).toString('latin1')).toBe('echo \xff\xfe');
  });
  test('ENV/LABEL words decode runes, so invalid bytes become U+FFFD', () => {
    expect(dump(bytes('FROM a\nENV a=\xff\n'))).toBe('(from "a")\n(env "a" "�" "=")');
  });
  test('HEALTHCHECK splits its type byte-wise too', () => {
    expect(dump('FROM a\nHEALTHCHECK CMDà ls\n')).toBe('(from "a")\n(healthcheck "CMD\\xc3" "ls")');
  });
  test('keywords lower-case as Go does; non-ASCII keywords keep their letters', () => {
    expect(dump('FrOm a\nRÜN x\n')).toBe('(from "a")\n(rün "")');
  });
  test('a BOM is dropped and CRLF endings are removed', () => {
    const ast = parseDockerfile(bytes('\xef\xbb\xbfFROM a\r\nRUN b\r\n'));
    expect(dumpBuildkit(ast)).toBe('(from "a")\n(run "b")');
    expect(ast.source.startsWith('FROM')).toBe(true);
    expect(ast.instructions[1]!.range.start).toEqual({ line: 2, column: 1, offset: 8 });
  });
  test('string input with lone surrogates is read as U+FFFD without shifting offsets', () => {
    const ast = parseDockerfile('FROM a\nRUN \ud800 x\n');
    expect(dumpBuildkit(ast)).toBe('(from "a")\n(run "� x")');
    expect(ast.source.length).toBe('FROM a\nRUN \ud800 x\n'.length);
  });
  test('an empty keyword from a lone continuation dumps like BuildKit', () => {
    expect(dump('FROM a\n\\\n\n')).toBe('(from "a")\n("")');
  });
});

describe('README 1.3 examples', () => {
  test.each([
    ['FROM a AS b', '(from "a" "AS" "b")'],
    ['ONBUILD RUN echo test', '(onbuild (run "echo test"))'],
    ['ONBUILD --f RUN x', '(onbuild ["--f"] (run "x"))'],
    ['ONBUILD ONBUILD RUN touch foobar', '(onbuild (onbuild (run "touch foobar")))'],
    ['ONBUILD', '(onbuild)'],
    ['WORKDIR a b', '(workdir "a b")'],
    ['EOF', '(eof "")'],
    ['FOO bar', '(foo "")'],
    ['CMD []', '(cmd)'],
    ['HEALTHCHECK', '(healthcheck)'],
    ['HEALTHCHECK --interval=5s CMD ["true"]', '(healthcheck ["--interval=5s"] "CMD" "true")'],
    ['ARG abc="123 456" d', '(arg "abc=\\"123 456\\"" "d")'],
    ['ENV a=b c=d', '(env "a" "b" "=" "c" "d" "=")'],
    ['LABEL "a b" c', '(label "\\"a" "b\\" c" "")'],
    ['COPY ["a", "b"] ', '(copy "a" "b")'],
    ['CMD ["a"]xyz', '(cmd "[\\"a\\"]xyz")'],
    ['EXPOSE 80\t443', '(expose "80" "443")'],
    ['RUN echo hello\\\n  world', '(run "echo hello  world")'],
  ])('%j', (line, expected) => {
    expect(dump(line)).toBe(expected);
  });
});

describe('directives', () => {
  test('a shebang ends the directive block in a full parse (only detectSyntax skips it)', () => {
    const ast = parseDockerfile('#!/usr/bin/env ocibuild\n# escape=`\nFROM a\nRUN x `\n');
    expect(ast.escapeToken).toBe('\\');
    expect(ast.directives).toEqual([]);
    expect(dumpBuildkit(ast)).toBe('(from "a")\n(run "x `")');
  });
  test('whitespace after # may be any Unicode space; directive lines have ranges', () => {
    const ast = parseDockerfile('#\u00a0escape = `\n#\tsyntax=x\nFROM a\nRUN x `\n  y\n');
    expect(ast.escapeToken).toBe('`');
    expect(ast.directives.map((d) => [d.name, d.value, d.range.start.line])).toEqual([
      ['escape', '`', 1],
      ['syntax', 'x', 2],
    ]);
    expect(dumpBuildkit(ast)).toBe('(from "a")\n(run "x   y")');
  });
  test('names are case-insensitive; a repeat is an error at its line', () => {
    const err = syntaxError(() => parseDockerfile('# Syntax=a\n# SYNTAX=b\nFROM a\n'));
    expect(err.message).toBe('only one syntax parser directive can be used');
    expect(err.range!.start.line).toBe(2);
  });
  test('a directive after an instruction or comment is only a comment', () => {
    expect(parseDockerfile('FROM a\n# escape=`\n').directives).toEqual([]);
    expect(parseDockerfile('# hi\n# escape=`\nFROM a\n').escapeToken).toBe('\\');
  });
  test('invalid escape value', () => {
    expect(syntaxError(() => parseDockerfile('# escape=x\nFROM a')).message).toBe(
      "invalid escape token 'x' does not match ` or \\",
    );
  });
});

describe('comments', () => {
  test('comment lines directly above an instruction, reset by an empty comment', () => {
    const ast = parseDockerfile('# syntax=x\nFROM a\n# one\n#\n# two\n\n#   three  \nARG V=1\nRUN x\n');
    expect(ast.instructions[0]!.comments).toEqual([]); // directives are not comments
    expect(ast.instructions[1]!.comments).toEqual(['two', 'three']);
    expect(ast.instructions[2]!.comments).toEqual([]);
  });
  test('a shebang is a comment, and so is everything after it', () => {
    const ast = parseDockerfile('#!/bin/sh\n# syntax=x\n# about a\nFROM a\n');
    expect(ast.instructions[0]!.comments).toEqual(['!/bin/sh', 'syntax=x', 'about a']);
  });
  test('comments inside a continuation are skipped and not recorded', () => {
    const ast = parseDockerfile('FROM a\nRUN x \\\n# note\n  y\nARG z\n');
    expect(ast.instructions[1]!.args).toEqual(['x   y']);
    expect(ast.instructions[2]!.comments).toEqual([]);
  });
  test('# after instruction text is text', () => {
    expect(dump('FROM a # x\n')).toBe('(from "a" "#" "x")');
  });
});

describe('ranges', () => {
  const src = 'FROM a\n  COPY --from=build \\\n     --chown="a b" \\\n     src/ /dst/\nRUN echo ü\n';
  const ast = parseDockerfile(src);
  const copy = ast.instructions[1]!;
  test('keyword, flags and arguments point at their text', () => {
    expect(slice(ast, copy.keywordRange)).toBe('COPY');
    expect(copy.keywordRange.start).toEqual({ line: 2, column: 3, offset: 9 });
    expect(copy.flags.map((f) => [f.name, f.value, slice(ast, f.range), f.range.start.line])).toEqual([
      ['from', 'build', '--from=build', 2],
      ['chown', 'a b', '--chown="a b"', 3],
    ]);
    expect(slice(ast, copy.argRange)).toBe('src/ /dst/');
    expect(copy.argText).toBe('src/ /dst/');
    expect(copy.range.start.line).toBe(2);
    expect(copy.range.end.line).toBe(4);
    expect(copy.original).toBe('COPY --from=build      --chown="a b"      src/ /dst/');
  });
  test('columns count UTF-16 units', () => {
    const run = ast.instructions[2]!;
    expect(slice(ast, run.argRange)).toBe('echo ü');
    expect(run.range.end.column).toBe(11);
  });
  test('an instruction ends at the last line it consumed', () => {
    const a = parseDockerfile('FROM a\nRUN x \\\n\n# c\n');
    expect(a.instructions[1]!.range.end.line).toBe(4);
  });
  test('errors point at the offending word', () => {
    const err = syntaxError(() => parseDockerfile('FROM a\nENV a=b \\\n  c d=e\n'));
    expect(err.message).toBe('Syntax error - can\'t find = in "c". Must be of the form: name=value');
    expect(err.range).toEqual({ start: { line: 3, column: 3, offset: 19 }, end: { line: 3, column: 4, offset: 20 } });
  });
});

describe('flags', () => {
  test('-- ends flags; later --words are arguments', () => {
    const n = parseDockerfile('COPY --a=1 -- --b=2 x\n').instructions[0]!;
    expect(n.flags.map((f) => f.text)).toEqual(['--a=1']);
    expect(n.args).toEqual(['--b=2', 'x']);
  });
  test('bare flags, escapes and unterminated quotes', () => {
    const n = parseDockerfile('RUN --network --x=a\\ b --y="c\n').instructions[0]!;
    expect(n.flags.map((f) => [f.name, f.value])).toEqual([
      ['network', undefined],
      ['x', 'a b'],
      ['y', 'c'],
    ]);
    expect(n.args).toEqual([]);
  });
  test('flags are extracted for unknown keywords too', () => {
    expect(dump('FOO --bar baz\n')).toBe('(foo ["--bar"] "")');
  });
});

describe('heredocs', () => {
  test('<<- terminators may be indented with tabs; bodies keep CRLF', () => {
    const ast = parseDockerfile('FROM a\r\nCOPY <<-EOT /x\r\n\tline\r\n\tEOT\r\nRUN y\r\n');
    const h = ast.instructions[1]!.heredocs[0]!;
    expect(h).toMatchObject({ name: 'EOT', chomp: true, content: '\tline\r\n' });
    expect(slice(ast, h.markerRange!)).toBe('<<-EOT');
    expect(h.range.end.line).toBe(4);
    expect(ast.instructions[2]!.keyword).toBe('run');
  });
  test('ONBUILD triggers carry their heredocs', () => {
    const ast = parseDockerfile('FROM a\nONBUILD RUN <<EOF\nhi\nEOF\n');
    const n = ast.instructions[1]!;
    expect(dumpBuildkit(ast)).toBe('(from "a")\n(onbuild (run "<<EOF"))');
    expect(n.heredocs.map((h) => h.content)).toEqual(['hi\n']);
    expect(n.trigger!.heredocs.map((h) => h.name)).toEqual(['EOF']);
  });
  test('body lines are never directives, comments or continuations', () => {
    const ast = parseDockerfile('FROM a\nRUN <<X\n# escape=`\nfoo \\\n\nX\nRUN z\n');
    expect(ast.instructions[1]!.heredocs[0]!.content).toBe('# escape=`\nfoo \\\n\n');
    expect(ast.instructions).toHaveLength(3);
  });
  test('`<<- EOF` is not a heredoc: the next lines are instructions', () => {
    expect(dump('FROM a\nRUN cat <<- EOF\nhello\nEOF\n')).toBe('(from "a")\n(run "cat <<- EOF")\n(hello "")\n(eof "")');
  });
  test('unterminated heredoc points at its marker', () => {
    const err = syntaxError(() => parseDockerfile('FROM a\nRUN <<ONE <<TWO\nx\nONE\ny\n'));
    expect(err.message).toBe('unterminated heredoc');
    expect(err.range!.start).toEqual({ line: 2, column: 11, offset: 17 });
    expect(err.hint).toContain('"TWO"');
  });
  test('a line that does not lex as shell words has no heredocs', () => {
    expect(dump('FROM a\nRUN cat <<EOF "unclosed\nEOF\n')).toBe('(from "a")\n(run "cat <<EOF \\"unclosed")\n(eof "")');
    expect(dump('FROM a\nRUN cat <<EOF ${\nEOF\n')).toBe('(from "a")\n(run "cat <<EOF ${")\n(eof "")');
  });
  test('fd prefixes, blanks after <<, quoted and escaped names', () => {
    const ast = parseDockerfile('FROM a\nRUN 3<<  A cat <<"B C" <<D\\"E\n1\nA\n2\nB C\n3\nD"E\n');
    expect(ast.instructions[1]!.heredocs.map((h) => [h.name, h.fileDescriptor, h.expand, h.content])).toEqual([
      ['A', 3, true, '1\n'],
      ['B C', 0, false, '2\n'],
      ['D"E', 0, true, '3\n'],
    ]);
  });
  test('only RUN, COPY and ADD in shell form take heredocs', () => {
    expect(parseDockerfile('FROM a\nCMD <<EOF\n').instructions[1]!.heredocs).toEqual([]);
    expect(parseDockerfile('FROM a\nRUN ["<<EOF"]\n').instructions[1]!.heredocs).toEqual([]);
  });
});

describe('JSON form', () => {
  test('Go JSON details: surrogates, invalid bytes, whitespace', () => {
    expect(parseJsonArgs('["\\ud83d\\ude00", "\\ud800x", "\\u00e9"]')).toEqual(['😀', '\ufffdx', 'é']);
    expect(dump(bytes('CMD ["\xff"]'))).toBe('(cmd "�")');
    expect(parseJsonArgs('["a"]\v')).toBeUndefined(); // \v is not JSON whitespace
    expect(parseJsonArgs('["a"] ')).toEqual(['a']);
    expect(parseJsonArgs('["a" "b"]')).toBeUndefined();
    expect(parseJsonArgs('["a", 01]')).toBeUndefined();
    expect(parseJsonArgs('["\t"]')).toBeUndefined(); // raw control characters are not allowed
  });
  test('very deep nesting falls back to the shell form like Go', () => {
    const deep = '['.repeat(10001) + ']'.repeat(10001);
    expect(parseJsonArgs(deep)).toBeUndefined();
  });
});

describe('limits', () => {
  const big = (n: number): string => 'a'.repeat(n);
  test('a line may hold 65535 bytes plus its newline', () => {
    expect(() => parseDockerfile(`FROM a\nLABEL x=${big(65535 - 8)}\n`)).not.toThrow();
    expect(syntaxError(() => parseDockerfile(`FROM a\nLABEL x=${big(65536 - 8)}\n`)).message).toBe(
      'dockerfile line greater than max allowed size of 65535',
    );
  });
  test('a last line without newline may hold 65535 bytes', () => {
    expect(() => parseDockerfile(`FROM a\nLABEL x=${big(65535 - 8)}`)).not.toThrow();
    expect(() => parseDockerfile(`FROM a\nLABEL x=${big(65536 - 8)}`)).toThrow('greater than max');
  });
  test('errors before the long line win', () => {
    expect(syntaxError(() => parseDockerfile(`ENV X\nLABEL x=${big(70000)}\n`)).message).toBe(
      'ENV must have two arguments',
    );
  });
});

describe('grammar', () => {
  test('every line shape gives exactly one parse', () => {
    const g = new LineGrammars();
    for (const line of ['', 'FROM', 'RUN  --a  --b\u00a0x', 'X --', 'X -- y', 'COPY --a="b c" --d\\', 'X \x85--y']) {
      const r = g.parseInstruction(line);
      expect(r.ok).toBe(true);
    }
  });
});
