import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from 'jest';

/**
 * Suites that are nothing but a conformance table from ../shared/conformance
 * (suites that mix tables and unit tests use test/conformance.ts instead).
 * A missing table skips its suite with one line naming the path; with
 * CI=true it fails the run. (Jest runs from the repository root: `npm test`.)
 */
const conformanceRoot = path.resolve(process.cwd(), '../shared/conformance');
const CONFORMANCE_SUITES: Record<string, string> = {
  'src/parser/conformance.test.ts': 'buildkit-parser',
  'src/compiler/fuzz.test.ts': 'buildkit-parser',
  'src/compiler/rule-docs.test.ts': 'docs/rules',
  'test/instructions-conformance.test.ts': 'instructions',
};
const skipped: string[] = [];
for (const [suite, sub] of Object.entries(CONFORMANCE_SUITES)) {
  const dir = path.join(conformanceRoot, sub);
  if (existsSync(dir)) continue;
  const line = `conformance table ${dir} is missing: put the shared conformance tables at ${conformanceRoot} (a checkout beside the repository, see its README.md)`;
  if (process.env.CI === 'true') throw new Error(`${line}; CI=true makes this a failure (${suite})`);
  process.stderr.write(`${line}; skipping ${suite}\n`);
  skipped.push(`<rootDir>/${suite}`);
}

const config: Config = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', ...skipped.map((s) => s.replace(/[.]/g, '\\.'))],
  testTimeout: 120_000,
  maxWorkers: 2,
};

export default config;
