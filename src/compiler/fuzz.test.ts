/**
 * Compiler robustness: every fuzz input the parser accepts is compiled and
 * checked; the only exception allowed out is OcibuildError (anything else is
 * a bug). Seeded, so a failure reproduces by its index.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from '@jest/globals';
import { isOcibuildError } from '../errors.js';
import { parseDockerfile } from '../parser/index.js';
import { generateFuzzInputs, loadParserCorpus } from '../../test/fuzz-inputs.js';
import { checkDockerfile, compileDockerfile } from './compile.js';
import { formatPlan, levels } from '../graph/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const conformance = path.resolve(repoRoot, '../shared/conformance');
const COUNT = Number(process.env.OCIBUILD_COMPILER_FUZZ ?? 2000);

it(`compiles ${COUNT} fuzzed Dockerfiles without a non-OcibuildError`, () => {
  const corpus = loadParserCorpus(conformance);
  let parsed = 0;
  let compiled = 0;
  const failures: string[] = [];
  for (const input of generateFuzzInputs({ seed: 0x0c1b, count: COUNT, corpus })) {
    let ast;
    try {
      ast = parseDockerfile(input.bytes);
    } catch (e) {
      if (isOcibuildError(e)) continue;
      continue; // the parser's own fuzz test owns parser failures
    }
    parsed++;
    for (const run of [
      () => {
        const g = compileDockerfile(ast, { buildArgs: { A: '1' } }).value;
        formatPlan(g);
        levels(g);
        compiled++;
      },
      () => checkDockerfile(ast, { check: 'experimental=all' }),
    ]) {
      try {
        run();
      } catch (e) {
        if (!isOcibuildError(e)) failures.push(`#${input.index} (${input.kind}): ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
      }
    }
  }
  console.log(`compiler fuzz: ${COUNT} inputs, ${parsed} parsed, ${compiled} compiled`);
  expect(failures.slice(0, 5)).toEqual([]);
  expect(parsed).toBeGreaterThan(COUNT / 10);
});
