/**
 * BuildKit parser conformance, read at run time from ../shared/conformance
 * (README section 1). Every directory and every table row that exists is run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isOcibuildError, OcibuildError } from '../errors.js';
import {
  chompHeredocContent,
  detectSyntax,
  dumpBuildkit,
  heredocNamesFromLine,
  parseDirectiveCheck,
  parseDirectives,
  parseDockerfile,
  parseHeredocWord,
  parseJsonArgs,
  parseNameValue,
  parseWords,
} from './index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const conformance = path.resolve(repoRoot, '../shared/conformance');
const parserDir = path.join(conformance, 'buildkit-parser');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const cases: any = JSON.parse(fs.readFileSync(path.join(parserDir, 'parser-cases.json'), 'utf8'));

const counts: Record<string, number> = {};
const count = (suite: string): void => {
  counts[suite] = (counts[suite] ?? 0) + 1;
};

afterAll(() => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(
    `parser conformance: ${total} cases\n` +
      Object.entries(counts)
        .map(([k, v]) => `  ${k}: ${v}`)
        .join('\n'),
  );
});

function dirs(sub: string): string[] {
  const dir = path.join(parserDir, sub);
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

function expectSyntaxError(fn: () => unknown, message?: string): OcibuildError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isOcibuildError(caught)).toBe(true);
  const err = caught as OcibuildError;
  expect(err.code).toBe('DOCKERFILE_SYNTAX');
  if (message !== undefined) expect(err.message).toBe(message);
  return err;
}

describe('testfiles: AST dump byte for byte', () => {
  const names = dirs('testfiles');
  test('the corpus is there', () => {
    expect(names.length).toBeGreaterThanOrEqual(33);
  });
  test.each(names)('%s', (name) => {
    const bytes = fs.readFileSync(path.join(parserDir, 'testfiles', name, 'Dockerfile'));
    const expected = fs.readFileSync(path.join(parserDir, 'testfiles', name, 'result'));
    const ast = parseDockerfile(new Uint8Array(bytes), { file: `${name}/Dockerfile` });
    expect(Buffer.from(dumpBuildkit(ast) + '\n', 'utf8').toString('latin1')).toBe(expected.toString('latin1'));
    // The same text given as a string parses the same (all testfiles are UTF-8).
    expect(dumpBuildkit(parseDockerfile(bytes.toString('utf8')))).toBe(dumpBuildkit(ast));
    count('testfiles');
  });
});

describe('testfiles-negative are rejected', () => {
  const messages = new Map<string, string>(
    cases.negativeParses.cases.map((c: { dir: string; error: string }) => [c.dir, c.error]),
  );
  test.each(dirs('testfiles-negative'))('%s', (name) => {
    const bytes = fs.readFileSync(path.join(parserDir, 'testfiles-negative', name, 'Dockerfile'));
    const err = expectSyntaxError(() => parseDockerfile(new Uint8Array(bytes)), messages.get(name));
    expect(err.range).toBeDefined();
    count('testfiles-negative');
  });
});

test('testfile-line: line numbers', () => {
  const ln = cases.lineNumbers;
  const ast = parseDockerfile(new Uint8Array(fs.readFileSync(path.join(conformance, ln.file))));
  const nodes = ast.instructions;
  expect(nodes[0]!.range.start.line).toBe(ln.root.startLine);
  expect(nodes[nodes.length - 1]!.range.end.line).toBe(ln.root.endLine);
  expect(nodes.map((n) => [n.range.start.line, n.range.end.line])).toEqual(ln.children);
  count('lineNumbers');
});

test('emptyContinuationWarnings', () => {
  const c = cases.emptyContinuationWarnings;
  const ast = parseDockerfile(c.dockerfile);
  expect(ast.warnings).toHaveLength(c.expectedWarningCount);
  c.warningsShortContain.forEach((subs: string[], i: number) => {
    const w = ast.warnings[i]!;
    expect(w.rule).toBe('NoEmptyContinuation');
    for (const s of subs) expect(w.message).toContain(s);
  });
  expect(ast.warnings[0]!.detail).toContain(c.firstWarningDetailContains);
  count('emptyContinuationWarnings');
});

test('lineTooLong', () => {
  const c = cases.lineTooLong;
  const df = (c.dockerfileTemplate as string).replace('{A}', 'a'.repeat(65536));
  const err = expectSyntaxError(() => parseDockerfile(df), c.expectedError);
  expect(err.range!.start.line).toBe(3);
  count('lineTooLong');
});

describe('parseWords', () => {
  test.each(cases.parseWords.cases as { input: string; expect: string[] }[])('%j', ({ input, expect: words }) => {
    expect(parseWords(input)).toEqual(words);
    count('parseWords');
  });
});

describe('jsonArrays', () => {
  test.each(cases.jsonArrays.valid as { input: string; expect: string[] }[])('valid %j', ({ input, expect: out }) => {
    expect(parseJsonArgs(input)).toEqual(out);
    // and through a whole instruction
    const node = parseDockerfile(`CMD ${input}`).instructions[0]!;
    expect(node.json).toBe(true);
    expect(node.args).toEqual(out);
    count('jsonArrays');
  });
  test.each(cases.jsonArrays.invalidNotStrings as string[])('not strings %s', (input) => {
    const msg = 'when using JSON array syntax, arrays must be comprised of strings only';
    expectSyntaxError(() => parseJsonArgs(input), msg);
    const err = expectSyntaxError(() => parseDockerfile(`FROM a\nRUN ${input}`), msg);
    expect(err.range!.start.line).toBe(2);
    count('jsonArrays');
  });
});

describe('nameValue', () => {
  test.each(cases.nameValue.cases as { instruction: 'ENV' | 'LABEL'; args: string; expectNodes?: string[]; expectError?: string }[])(
    '%j',
    (c) => {
      const line = `${c.instruction} ${c.args}`;
      if (c.expectError) {
        expectSyntaxError(() => parseNameValue(c.instruction, c.args), c.expectError);
        expectSyntaxError(() => parseDockerfile(line), c.expectError);
      } else {
        expect(parseNameValue(c.instruction, c.args)).toEqual(c.expectNodes);
        expect(parseDockerfile(line).instructions[0]!.args).toEqual(c.expectNodes);
      }
      count('nameValue');
    },
  );
});

test('heredocs', () => {
  const c = cases.heredocs;
  const ast = parseDockerfile(c.dockerfile);
  expect(ast.instructions).toHaveLength(c.instructions.length);
  c.instructions.forEach((want: { instruction: string; heredocs: unknown[] | null }, i: number) => {
    const node = ast.instructions[i]!;
    expect(node.original.trim()).toBe(want.instruction);
    if (want.heredocs === null) {
      expect(node.heredocs).toEqual([]);
    } else {
      expect(
        node.heredocs.map((h) => ({
          name: h.name,
          fileDescriptor: h.fileDescriptor,
          expand: h.expand,
          chomp: h.chomp,
          content: h.content,
        })),
      ).toEqual(want.heredocs);
    }
    count('heredocs');
  });
});

test('jsonFormHasNoHeredoc', () => {
  const c = cases.jsonFormHasNoHeredoc;
  const ast = parseDockerfile(c.dockerfile);
  for (const i of c.expectNoHeredocsOnInstructions as number[]) {
    expect(ast.instructions[i]!.json).toBe(true);
    expect(ast.instructions[i]!.heredocs).toEqual([]);
    count('jsonFormHasNoHeredoc');
  }
});

test('chompHeredocContent', () => {
  for (const c of cases.chompHeredocContent.cases as { input: string; expect: string }[]) {
    expect(chompHeredocContent(c.input)).toBe(c.expect);
    count('chompHeredocContent');
  }
});

describe('parseHeredocWord', () => {
  const c = cases.parseHeredocWord;
  test.each(c.valid as string[])('valid %j', (word) => {
    expect(parseHeredocWord(word)?.name).toBe('EOF');
    count('parseHeredocWord');
  });
  test.each(c.invalid as string[])('invalid %j', (word) => {
    expectSyntaxError(() => parseHeredocWord(word));
    count('parseHeredocWord');
  });
  test.each(c.notHeredoc as string[])('not a heredoc %j', (word) => {
    expect(parseHeredocWord(word)).toBeUndefined();
    count('parseHeredocWord');
  });
});

describe('heredocsFromLine', () => {
  test.each(cases.heredocsFromLine.cases as { line: string; names: string[] }[])('%j', ({ line, names }) => {
    expect(heredocNamesFromLine(line)).toEqual(names);
    count('heredocsFromLine');
  });
});

function directiveInput(c: { input?: string; inputHex?: string }): string | Uint8Array {
  return c.inputHex !== undefined ? new Uint8Array(Buffer.from(c.inputHex, 'hex')) : c.input!;
}

describe('directives', () => {
  const d = cases.directives;
  test.each(d.parseAll as { input: string; expect: { name: string; value: string }[] }[])('parseAll %j', (c) => {
    expect(parseDirectives(c.input).map(({ name, value }) => ({ name, value }))).toEqual(c.expect);
    count('directives');
  });
  type Lookup = { input?: string; inputHex?: string; found: boolean; ref?: string; cmdline?: string; line?: number };
  const check = (fn: typeof detectSyntax, c: Lookup): void => {
    const got = fn(directiveInput(c));
    if (!c.found) {
      expect(got).toBeUndefined();
      return;
    }
    expect(got).toBeDefined();
    if (c.ref !== undefined) expect(got!.ref).toBe(c.ref);
    if (c.cmdline !== undefined) expect(got!.cmdline).toBe(c.cmdline);
    if (c.line !== undefined) expect(got!.line).toBe(c.line);
  };
  test.each(d.detectSyntax as Lookup[])('detectSyntax %j', (c) => {
    check(detectSyntax, c);
    count('directives');
  });
  test.each(d.parseDirectiveCheck as Lookup[])('parseDirectiveCheck %j', (c) => {
    check(parseDirectiveCheck, c);
    count('directives');
  });
});
