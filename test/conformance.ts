/**
 * The conformance tables live outside the repository, in ../shared/conformance
 * (BuildKit's parser and shell tests, dockerignore cases, rule docs,
 * instruction tables). When a table is missing, its suite skips with one line
 * naming the path and how to provide it; with CI=true a missing table fails.
 * Issue 9.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the tables are looked for. */
export const CONFORMANCE_ROOT = path.resolve(repoRoot, '../shared/conformance');

/** The one line printed (or, on CI, the failure) for a missing table. */
export function missingConformanceMessage(p: string): string {
  return `conformance table ${p} is missing: put the shared conformance tables at ${CONFORMANCE_ROOT} (a checkout beside the repository, see its README.md); skipped unless CI=true`;
}

const announced = new Set<string>();

/**
 * The absolute path of `sub` under the conformance root when it exists.
 * When it is missing: on CI (`CI=true`) throws; otherwise prints one line
 * (once per path) and returns undefined.
 */
export function conformancePath(sub: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const p = path.join(CONFORMANCE_ROOT, sub);
  if (existsSync(p)) return p;
  if (env.CI === 'true') throw new Error(missingConformanceMessage(p));
  if (!announced.has(p)) {
    announced.add(p);
    process.stderr.write(`${missingConformanceMessage(p)}\n`);
  }
  return undefined;
}

/**
 * A `describe` over a conformance table: `fn` receives the table's path and
 * runs only when it exists; a missing one gives one skipped test naming it
 * (a failing one with CI=true).
 */
export function describeConformance(sub: string, name: string, fn: (file: string) => void): void {
  const p = path.join(CONFORMANCE_ROOT, sub);
  if (existsSync(p)) {
    describe(name, () => fn(p));
    return;
  }
  if (process.env.CI === 'true') {
    it(name, () => {
      throw new Error(missingConformanceMessage(p));
    });
    return;
  }
  conformancePath(sub);
  it.skip(`${name} (${p} missing)`, () => undefined);
}
