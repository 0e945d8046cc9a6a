/**
 * ADD <git ref> and the step cache, through build() against a git smart-HTTP server that records
 * what each upload-pack request asked. The step is keyed by the commit the remote names now
 * (`git ls-remote`, as BuildKit resolves a git source before asking its cache): a rebuild of the
 * same commit lists the refs and fetches nothing; a moved branch fetches and misses; a full
 * commit SHA names itself and asks the remote nothing; a commit --checksum that does not match
 * still fails the step.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BuildOptions } from '../../src/index.js';
import { buildOnce as buildInStore } from './build-once.js';
import { gitIn, startGitHttpServer, type GitHttpServer } from '../../src/copy/testing/git-server.js';

let tmp: string;
let server: GitHttpServer;
let work: string;
let first: string;
const git = (...args: string[]) => gitIn(work, tmp, ...args);

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-add-git-cache-'));
  work = path.join(tmp, 'work');
  await rm(work, { recursive: true, force: true });
  gitIn(tmp, tmp, 'init', '-q', '-b', 'main', work);
  await writeFile(path.join(work, 'README.md'), 'version 1\n');
  git('add', '.');
  git('commit', '-q', '-m', 'v1');
  first = git('rev-parse', 'HEAD');
  gitIn(tmp, tmp, 'clone', '-q', '--bare', work, path.join(tmp, 'repo.git'));
  server = await startGitHttpServer(tmp);
});
afterAll(async () => {
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function buildOnce(dockerfile: string, storeRoot: string, extra: Partial<BuildOptions> = {}) {
  server.commands.length = 0;
  const built = await buildInStore(tmp, dockerfile, storeRoot, extra);
  return { ...built, fetched: server.commands.includes('fetch') };
}

test('a rebuild of the same commit lists the refs and fetches nothing; a moved branch fetches and misses', async () => {
  const storeRoot = path.join(tmp, 'store-branch');
  const dockerfile = `FROM scratch\nADD ${server.base}/repo.git#main /src\n`;
  const one = await buildOnce(dockerfile, storeRoot);
  expect([one.cached, one.fetched]).toEqual([[false], true]);
  const two = await buildOnce(dockerfile, storeRoot);
  expect([two.cached, two.fetched]).toEqual([[true], false]);
  expect(two.result.descriptor.digest).toBe(one.result.descriptor.digest);
  // A new commit on main: the ref moved, so the step checks out again and misses.
  await writeFile(path.join(work, 'README.md'), 'version 2\n');
  git('commit', '-q', '-am', 'v2');
  git('push', '-q', path.join(tmp, 'repo.git'), 'main');
  const three = await buildOnce(dockerfile, storeRoot);
  expect([three.cached, three.fetched]).toEqual([[false], true]);
  expect(three.result.descriptor.digest).not.toBe(one.result.descriptor.digest);
});

test('a full commit SHA names itself: a rebuild asks the remote nothing', async () => {
  const storeRoot = path.join(tmp, 'store-sha');
  const dockerfile = `FROM scratch\nADD ${server.base}/repo.git#${first} /src\n`;
  const one = await buildOnce(dockerfile, storeRoot);
  expect(one.cached).toEqual([false]);
  const two = await buildOnce(dockerfile, storeRoot);
  expect([two.cached, server.commands]).toEqual([[true], []]);
  expect(two.result.descriptor.digest).toBe(one.result.descriptor.digest);
});

test('a commit --checksum that does not match what the ref names fails the step', async () => {
  const storeRoot = path.join(tmp, 'store-branch');
  const wrong = buildOnce(`FROM scratch\nADD --checksum=${first.slice(0, 12)} ${server.base}/repo.git#main /src\n`, storeRoot);
  await expect(wrong).rejects.toMatchObject({ code: 'ADD_CHECKSUM' });
});
