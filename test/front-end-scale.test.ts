/**
 * The front end at scale and at depth (issues 8 and 13): parse, check and the
 * `--dry-run` plan do work linear in the input, counted (not timed); deep
 * nesting ends in a result or a located error, never a stack overflow; and
 * messages escape the non-printable bytes they quote.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { isOcibuildError, type OcibuildError } from '../src/errors.js';
import { dumpBuildkit, parseDockerfile } from '../src/parser/index.js';
import { checkDockerfile, compileDockerfile, MAX_SUBSTITUTION_DEPTH } from '../src/compiler/index.js';
import { formatPlan } from '../src/graph/plan.js';

/**
 * A deterministic work counter: every element that goes through an array or
 * Map iterator (spreads, for-of, Array.from, new Map(map)) counts one. Copying
 * a growing list once per line is what made the front end quadratic.
 */
function countIterations<T>(fn: () => T): number {
  const arrayIter = Object.getOwnPropertyDescriptor(Array.prototype, Symbol.iterator)!;
  const mapIter = Object.getOwnPropertyDescriptor(Map.prototype, Symbol.iterator)!;
  let n = 0;
  const wrap = (orig: (this: unknown) => Iterator<unknown>) =>
    function (this: unknown): Iterator<unknown> {
      const it = orig.call(this);
      return {
        next() {
          n++;
          return it.next();
        },
        [Symbol.iterator]() {
          return this;
        },
      } as Iterator<unknown>;
    };
  Object.defineProperty(Array.prototype, Symbol.iterator, { ...arrayIter, value: wrap(arrayIter.value as () => Iterator<unknown>) });
  Object.defineProperty(Map.prototype, Symbol.iterator, { ...mapIter, value: wrap(mapIter.value as () => Iterator<unknown>) });
  try {
    fn();
  } finally {
    Object.defineProperty(Array.prototype, Symbol.iterator, arrayIter);
    Object.defineProperty(Map.prototype, Symbol.iterator, mapIter);
  }
  return n;
}

const cmdArray = (n: number): string =>
  `FROM scratch\nCMD [ \\\n${Array.from({ length: n }, (_, i) => `"a${i}"`).join(', \\\n')} ]\n`;
const envLines = (n: number): string => `FROM scratch\n${Array.from({ length: n }, (_, i) => `ENV V${i}=x${i}\n`).join('')}`;
const argLines = (n: number): string => `FROM scratch\n${Array.from({ length: n }, (_, i) => `ARG A${i}=${i}\n`).join('')}RUN true\n`;

function parse(text: string): void {
  parseDockerfile(text, { file: 'Dockerfile' });
}
function check(text: string): void {
  const r = checkDockerfile(parseDockerfile(text, { file: 'Dockerfile' }));
  if (r.error) throw r.error;
}
function dryRun(text: string): void {
  formatPlan(compileDockerfile(parseDockerfile(text, { file: 'Dockerfile' })).value);
}

describe('front end work is linear in the input', () => {
  // linear work grows 4x from n to 4n; the quadratic code grew 10-16x
  const RATIO = 6;
  const cases: [string, (n: number) => string, (t: string) => void, number][] = [
    ['parse: a JSON array in CMD', cmdArray, parse, 1000],
    ['check: a JSON array in CMD', cmdArray, check, 1000],
    ['dry-run: a JSON array in CMD', cmdArray, dryRun, 1000],
    ['parse: ENV lines', envLines, parse, 500],
    ['check: ENV lines', envLines, check, 500],
    ['dry-run: ENV lines', envLines, dryRun, 500],
    ['dry-run: ARG lines', argLines, dryRun, 500],
  ];
  it.each(cases)('%s', (_name, make, run, n) => {
    const small = make(n);
    const large = make(4 * n);
    run(small); // warm: lazily built tables count once, not in the ratio
    const a = countIterations(() => run(small));
    const b = countIterations(() => run(large));
    expect(a).toBeGreaterThan(0);
    expect(b / a).toBeLessThan(RATIO);
  });

  it('16,000 JSON elements and 10,000 ENV lines go through (the sizes of the issue)', () => {
    const ast = parseDockerfile(cmdArray(16000), { file: 'Dockerfile' });
    expect(ast.instructions[1]!.args).toHaveLength(16000);
    const g = compileDockerfile(parseDockerfile(envLines(10000), { file: 'Dockerfile' })).value;
    const last = g.stages[0]!.steps[9999]!;
    expect(last.env).toHaveLength(10000); // PATH + V0..V9998 before the last ENV
    expect(last.env[0]).toMatch(/^PATH=/);
    expect(last.env[9999]).toBe('V9998=x9998');
  });
});

describe('deep nesting: a result or a located error, never a stack overflow', () => {
  const compileError = (text: string): OcibuildError | undefined => {
    try {
      compileDockerfile(parseDockerfile(text, { file: 'Dockerfile' }));
      return undefined;
    } catch (e) {
      if (isOcibuildError(e)) return e;
      throw e;
    }
  };

  it('8,000 nested ONBUILD parse (as BuildKit does) and dump; the compiler refuses the chain at its line', () => {
    const text = `FROM scratch\n${'ONBUILD '.repeat(8000)}RUN x\n`;
    const ast = parseDockerfile(text, { file: 'Dockerfile' });
    let depth = 0;
    for (let n = ast.instructions[1]; n?.trigger; n = n.trigger) depth++;
    expect(depth).toBe(8000);
    const dump = dumpBuildkit(ast);
    expect(dump.startsWith('(from "scratch")\n(onbuild (onbuild (onbuild')).toBe(true);
    expect(dump.endsWith(`(run "x")${')'.repeat(8000)}`)).toBe(true);
    const e = compileError(text);
    expect(e?.code).toBe('DOCKERFILE_INSTRUCTION');
    expect(e?.message).toBe('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
    expect(e?.range?.start.line).toBe(2);
  });

  const nested = (depth: number): string => {
    let w = 'x';
    for (let i = 0; i < depth; i++) w = `\${a:-${w}}`;
    return w;
  };

  it(`\${...} nests up to ${MAX_SUBSTITUTION_DEPTH} levels`, () => {
    const g = compileDockerfile(parseDockerfile(`FROM scratch\nENV b=${nested(MAX_SUBSTITUTION_DEPTH)}\n`, { file: 'Dockerfile' })).value;
    expect(g.stages[0]!.steps[0]).toMatchObject({ kind: 'env', pairs: [{ key: 'b', value: 'x' }] });
  });

  it('3,000 nested ${a:-...} is refused with a located expansion error', () => {
    const e = compileError(`FROM scratch\nENV b=${nested(3000)}\n`);
    expect(e?.code).toBe('DOCKERFILE_EXPANSION');
    expect(e?.message).toContain(`substitutions nested deeper than ${MAX_SUBSTITUTION_DEPTH} levels are not supported`);
    expect(e?.range?.start.line).toBe(2);
    const c = checkDockerfile(parseDockerfile(`FROM scratch\nWORKDIR ${nested(3000)}\n`, { file: 'Dockerfile' }));
    expect(c.error?.code).toBe('DOCKERFILE_EXPANSION');
    expect(c.error?.range?.start.line).toBe(2);
  });

  it('3,000 nested ${a:-...} on a heredoc line: the parser refuses it at its line too', () => {
    let err: unknown;
    try {
      parseDockerfile(`FROM scratch\nRUN <<EOF echo ${nested(3000)}\nhi\nEOF\n`, { file: 'Dockerfile' });
    } catch (e) {
      err = e;
    }
    expect(isOcibuildError(err) && err.code).toBe('DOCKERFILE_SYNTAX');
    expect(isOcibuildError(err) && err.message).toContain(`nested deeper than ${MAX_SUBSTITUTION_DEPTH} levels`);
    expect(isOcibuildError(err) && err.range?.start.line).toBe(2);
    // within the limit the heredoc is found
    const ast = parseDockerfile(`FROM scratch\nRUN <<EOF echo ${nested(MAX_SUBSTITUTION_DEPTH)}\nhi\nEOF\n`, { file: 'Dockerfile' });
    expect(ast.instructions[1]!.heredocs.map((h) => h.name)).toEqual(['EOF']);
  });

  it('5,000 nested JSON arrays and objects are a located syntax error', () => {
    for (const json of ['['.repeat(5000) + ']'.repeat(5000), `["a", ${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}]`]) {
      expect(() => parseDockerfile(`FROM scratch\nCMD ${json}\n`, { file: 'Dockerfile' })).toThrow(
        'when using JSON array syntax, arrays must be comprised of strings only',
      );
    }
  });
});

describe('messages escape the non-printable bytes they quote', () => {
  afterEach(() => undefined);
  it('an unknown instruction made of control bytes and an escape sequence', () => {
    const bytes = Buffer.concat([Buffer.from('FROM scratch\n'), Buffer.from([0x01, 0x02, 0x1b]), Buffer.from('[31mRED'), Buffer.from([0x7f, 0xff]), Buffer.from(' foo\n')]);
    let e: OcibuildError | undefined;
    try {
      compileDockerfile(parseDockerfile(bytes, { file: 'Dockerfile' }));
    } catch (err) {
      if (!isOcibuildError(err)) throw err;
      e = err;
    }
    expect(e?.message).toBe('unknown instruction: \\x01\\x02\\x1b[31mRED\\x7f\\xff');
    expect(e?.range?.start.line).toBe(2);
    // eslint-disable-next-line no-control-regex
    expect(e?.message).not.toMatch(/[\x00-\x1f\x7f]/);
  });

  it('flag errors and lint findings that quote the input', () => {
    let e: OcibuildError | undefined;
    try {
      compileDockerfile(parseDockerfile('FROM scratch\nCOPY --ch\x1bown=1 a b\n', { file: 'Dockerfile' }));
    } catch (err) {
      if (!isOcibuildError(err)) throw err;
      e = err;
    }
    expect(e?.message).toContain('--ch\\x1bown');
    const r = checkDockerfile(parseDockerfile('FROM scratch AS b\x1b[2J\n', { file: 'Dockerfile' }));
    // eslint-disable-next-line no-control-regex
    for (const w of r.warnings) expect(w.message).not.toMatch(/[\x00-\x1f\x7f]/);
  });
});
