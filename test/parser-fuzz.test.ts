/**
 * Parser fuzz test: random and mutated Dockerfiles (fixed seed). Every input
 * either parses into a tree whose ranges agree with its source, or fails with
 * an OcibuildError carrying a range; nothing else may escape.
 * 20,000 inputs when CI is set, 3,000 otherwise (OCIBUILD_FUZZ_COUNT overrides).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatCodeFrame } from '../src/code-frame.js';
import { isOcibuildError, type SourcePosition, type SourceRange } from '../src/errors.js';
import {
  decodeDockerfileSource,
  detectSyntax,
  dumpBuildkit,
  heredocNamesFromLine,
  parseDirectiveCheck,
  parseDockerfile,
  parseHeredocWord,
  parseJsonArgs,
  parseWords,
  type DockerfileAst,
} from '../src/parser/index.js';
import { generateFuzzInputs, loadParserCorpus } from './fuzz-inputs.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const conformance = path.resolve(repoRoot, '../shared/conformance');
const COUNT = Number(process.env.OCIBUILD_FUZZ_COUNT ?? (process.env.CI ? 20_000 : 3_000));
const SEED = 0x0c1b01d;

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function checkPosition(text: string, starts: number[], p: SourcePosition, what: string): void {
  if (p.offset < 0 || p.offset > text.length) throw new Error(`${what}: offset ${p.offset} outside 0..${text.length}`);
  const line = starts[p.line - 1];
  if (line === undefined) throw new Error(`${what}: no line ${p.line}`);
  if (line + p.column - 1 !== p.offset) {
    throw new Error(`${what}: line ${p.line} column ${p.column} is not offset ${p.offset}`);
  }
}

function checkRange(text: string, starts: number[], r: SourceRange, what: string): void {
  checkPosition(text, starts, r.start, `${what}.start`);
  checkPosition(text, starts, r.end, `${what}.end`);
  if (r.end.offset < r.start.offset) throw new Error(`${what}: end before start`);
}

function checkTree(ast: DockerfileAst): void {
  const text = ast.source;
  const starts = lineStarts(text);
  for (const d of ast.directives) checkRange(text, starts, d.range, 'directive');
  for (const w of ast.warnings) checkRange(text, starts, w.range, 'warning');
  let previousEnd = -1;
  for (const node of ast.instructions) {
    for (const n of node.trigger ? [node, node.trigger] : [node]) {
      checkRange(text, starts, n.range, 'range');
      checkRange(text, starts, n.keywordRange, 'keywordRange');
      checkRange(text, starts, n.argRange, 'argRange');
      for (const f of n.flags) checkRange(text, starts, f.range, 'flag');
      for (const h of n.heredocs) {
        checkRange(text, starts, h.range, 'heredoc');
        if (h.markerRange) checkRange(text, starts, h.markerRange, 'heredoc marker');
      }
      if (n.keywordRange.start.offset < n.range.start.offset || n.argRange.end.offset > n.range.end.offset) {
        throw new Error('keyword/argument range outside the instruction');
      }
    }
    if (node.range.start.offset < previousEnd) throw new Error('instructions overlap');
    previousEnd = node.range.end.offset;
  }
}

function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

test(`parser survives ${COUNT} fuzz inputs`, () => {
  const corpus = loadParserCorpus(conformance);
  expect(corpus.length).toBeGreaterThan(30);
  const stats = { parsed: 0, rejected: 0, random: 0, mutated: 0 };
  const messages = new Map<string, number>();
  for (const input of generateFuzzInputs({ seed: SEED, count: COUNT, corpus })) {
    stats[input.kind]++;
    const where = `input #${input.index} (${input.kind}, seed ${SEED}): ${JSON.stringify(Buffer.from(input.bytes).toString('latin1').slice(0, 300))}`;
    // The string-level helpers on the lines of every fifth input: a result or an OcibuildError.
    if (input.index % 5 === 0) {
      const text = Buffer.from(input.bytes).toString('utf8');
      try {
        detectSyntax(input.bytes);
        parseDirectiveCheck(input.bytes);
        for (const line of text.split('\n').slice(0, 20)) {
          for (const run of [
            () => heredocNamesFromLine(line),
            () => parseJsonArgs(line),
            () => parseWords(line),
            () => parseHeredocWord(line.trim()),
          ]) {
            try {
              run();
            } catch (e) {
              if (!isOcibuildError(e) || e.code !== 'DOCKERFILE_SYNTAX') throw e;
            }
          }
        }
      } catch (e) {
        throw new Error(`${where}\nhelper threw: ${(e as Error)?.stack ?? String(e)}`);
      }
    }
    let ast: DockerfileAst | undefined;
    try {
      ast = parseDockerfile(input.bytes, { file: 'Dockerfile' });
    } catch (e) {
      if (!isOcibuildError(e) || e.code !== 'DOCKERFILE_SYNTAX' || !e.range) {
        throw new Error(`${where}\nnot a located OcibuildError: ${(e as Error)?.stack ?? String(e)}`);
      }
      const text = decodeDockerfileSource(input.bytes);
      try {
        checkRange(text, lineStarts(text), e.range, 'error range');
        formatCodeFrame(text, e.range);
      } catch (inner) {
        throw new Error(`${where}\n${e.message}: ${(inner as Error).message}`);
      }
      const key = e.message.replace(/".*"/, '"…"').replace(/'.*'/, "'…'");
      messages.set(key, (messages.get(key) ?? 0) + 1);
      stats.rejected++;
      continue;
    }
    try {
      checkTree(ast);
      const dump = dumpBuildkit(ast);
      // A string with the same text parses the same (only well-defined for valid UTF-8).
      if (isValidUtf8(input.bytes)) {
        expect(dumpBuildkit(parseDockerfile(Buffer.from(input.bytes).toString('utf8')))).toBe(dump);
      }
    } catch (e) {
      throw new Error(`${where}\n${(e as Error).stack}`);
    }
    stats.parsed++;
  }
  console.log(
    `parser fuzz: ${COUNT} inputs (${stats.random} random, ${stats.mutated} mutated): ` +
      `${stats.parsed} parsed, ${stats.rejected} rejected\n` +
      [...messages].map(([m, n]) => `  ${n} × ${m}`).join('\n'),
  );
  // Both outcomes must be exercised, or the generator has gone blind.
  expect(stats.parsed).toBeGreaterThan(COUNT / 10);
  expect(stats.rejected).toBeGreaterThan(COUNT / 100);
});
