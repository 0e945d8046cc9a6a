/**
 * fixtures/dockerfiles/<case>/Dockerfile with `expected-error.txt` (location,
 * message, hint and code frame) or `expected-tree.json` (the tree without its
 * source text). `UPDATE_FIXTURES=1` rewrites the expectations on purpose.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatCodeFrame } from '../code-frame.js';
import { isOcibuildError } from '../errors.js';
import { decodeDockerfileSource, parseDockerfile } from './index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(repoRoot, 'fixtures/dockerfiles');
const update = process.env.UPDATE_FIXTURES === '1';

const cases = fs
  .readdirSync(fixtures, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

/** What the parser makes of a fixture, as text. */
function render(bytes: Uint8Array): { kind: 'error' | 'tree'; text: string } {
  try {
    const { source: _source, ...tree } = parseDockerfile(bytes, { file: 'Dockerfile' });
    return { kind: 'tree', text: JSON.stringify(tree, null, 2) + '\n' };
  } catch (e) {
    if (!isOcibuildError(e) || !e.range) throw e;
    const head = `${e.location}: ${e.message}` + (e.hint ? `\nhint: ${e.hint}` : '');
    return { kind: 'error', text: `${head}\n${formatCodeFrame(decodeDockerfileSource(bytes), e.range)}\n` };
  }
}

let ran = 0;
afterAll(() => console.log(`parser fixtures: ${ran} cases`));

test('there are fixtures', () => {
  expect(cases.length).toBeGreaterThanOrEqual(8);
});

test.each(cases)('%s', (name) => {
  const dir = path.join(fixtures, name);
  const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'Dockerfile')));
  const errorFile = path.join(dir, 'expected-error.txt');
  const treeFile = path.join(dir, 'expected-tree.json');
  const got = render(bytes);
  const file = got.kind === 'error' ? errorFile : treeFile;
  if (update) {
    fs.rmSync(errorFile, { force: true });
    fs.rmSync(treeFile, { force: true });
    fs.writeFileSync(file, got.text);
  }
  // Each case has exactly one expectation, and the parser's outcome must match its kind.
  expect([fs.existsSync(errorFile), fs.existsSync(treeFile)].filter(Boolean)).toHaveLength(1);
  expect(fs.existsSync(file)).toBe(true);
  expect(got.text).toBe(fs.readFileSync(file, 'utf8'));
  ran++;
});
