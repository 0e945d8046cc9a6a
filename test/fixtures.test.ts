/**
 * Golden builds: every `fixtures/builds/<case>/` holds a Dockerfile, a
 * `context/` and `expected.txt` (the exact image: manifest digest, config, and
 * every layer entry with mode, owner, size, content digest and mtime), or the
 * exact error with its code frame. `case.json` may set target/buildArgs/platforms.
 * One loop runs them all; `UPDATE_FIXTURES=1` rewrites the expectations on purpose.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from '../src/build.js';
import { Store } from '../src/cache/store.js';
import { formatError } from '../src/cli/errors.js';
import { decodeDockerfileSource } from '../src/parser/index.js';
import { describeImage } from './image-listing.js';

const ROOT = path.resolve('fixtures/builds');
const cases = readdirSync(ROOT).filter((d) => existsSync(path.join(ROOT, d, 'Dockerfile'))).sort();
const EPOCH = 1700000000;

describe('golden builds (fixtures/builds)', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-fixtures-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
    console.log(`golden builds: ${cases.length} cases ran`);
  });

  it('finds the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  it.each(cases)('%s', async (name) => {
    const dir = path.join(ROOT, name);
    const opts = existsSync(path.join(dir, 'case.json')) ? JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8')) : {};
    const bytes = readFileSync(path.join(dir, 'Dockerfile'));
    const store = await Store.open(path.join(tmp, name));
    let actual: string;
    try {
      const result = await build({
        context: path.join(dir, 'context'),
        file: path.join(dir, 'Dockerfile'),
        dockerfile: bytes,
        store,
        sourceDateEpoch: EPOCH,
        env: {},
        platforms: opts.platforms ?? ['linux/amd64'],
        ...(opts.target ? { target: opts.target } : {}),
        ...(opts.buildArgs ? { buildArgs: opts.buildArgs } : {}),
      });
      actual = await describeImage(store, result.descriptor);
    } catch (e) {
      const file = path.join(dir, 'Dockerfile');
      actual = formatError(e, new Map([[file, decodeDockerfileSource(bytes)]])).split(ROOT + '/').join('');
    }
    const expectedFile = path.join(dir, 'expected.txt');
    if (process.env.UPDATE_FIXTURES === '1' || !existsSync(expectedFile)) {
      if (process.env.CI) throw new Error(`${expectedFile} is missing: run UPDATE_FIXTURES=1 locally and review it`);
      await writeFile(expectedFile, actual);
    }
    expect(actual).toBe(readFileSync(expectedFile, 'utf8'));
  });
});
