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
import { build, Store, type BuildOptions, type ProgressEvent } from '../../src/index.js';
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

function cachedSteps(events: ProgressEvent[]): boolean[] {
  const steps = new Set(events.filter((e) => e.type === 'vertex.started' && e.kind === 'step').map((e) => e.vertex));
  return events
    .filter((e): e is Extract<ProgressEvent, { type: 'vertex.completed' }> => e.type === 'vertex.completed' && steps.has(e.vertex))
    .sort((a, b) => (a.vertex < b.vertex ? -1 : 1))
    .map((e) => e.cached);
}

async function buildOnce(dockerfile: string, storeRoot: string, extra: Partial<BuildOptions> = {}) {
  const ctx = await mkdtemp(path.join(tmp, 'ctx-'));
  await writeFile(path.join(ctx, 'Dockerfile'), dockerfile);
  const events: ProgressEvent[] = [];
  server.commands.length = 0;
  const result = await build({ context: ctx, store: await Store.open(storeRoot), env: {}, platforms: ['linux/amd64'], onProgress: (e) => events.push(e), ...extra });
  return { result, cached: cachedSteps(events), fetched: server.commands.includes('fetch') };
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
