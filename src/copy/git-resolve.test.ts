import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkoutGit, resolveGitCommit } from './git.js';
import { gitIn, startGitHttpServer, type GitHttpServer } from './testing/git-server.js';

let tmp: string;
let server: GitHttpServer;
const commits: Record<string, string> = {};

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-git-resolve-'));
  const work = path.join(tmp, 'work');
  gitIn(tmp, tmp, 'init', '-q', '-b', 'main', work);
  const git = (...args: string[]) => gitIn(work, tmp, ...args);
  for (const v of ['one', 'two', 'three']) {
    await writeFile(path.join(work, 'f'), `${v}\n`);
    git('add', '.');
    git('commit', '-q', '-m', v);
    commits[v] = git('rev-parse', 'HEAD');
  }
  // A branch and an annotated tag of the same name on different commits.
  git('branch', 'same', commits.one!);
  git('tag', '-a', '-m', 'tag', 'same', commits.two!);
  git('tag', '-a', '-m', 'release', 'v1', commits.one!);
  gitIn(tmp, tmp, 'clone', '-q', '--bare', work, path.join(tmp, 'repo.git'));
  server = await startGitHttpServer(tmp);
});
afterAll(async () => {
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

const remote = () => `${server.base}/repo.git`;

test('a ref resolves to the commit a fetch of it checks out (an annotated tag to its commit, a tag before a branch)', async () => {
  expect(await resolveGitCommit({ remote: remote() })).toBe(commits.three);
  expect(await resolveGitCommit({ remote: remote(), ref: 'main' })).toBe(commits.three);
  expect(await resolveGitCommit({ remote: remote(), ref: 'v1' })).toBe(commits.one);
  expect(await resolveGitCommit({ remote: remote(), ref: 'refs/heads/same' })).toBe(commits.one);
  expect(await resolveGitCommit({ remote: remote(), ref: 'same' })).toBe(commits.two);
  for (const ref of ['same', 'v1', 'main']) {
    const co = await checkoutGit({ remote: remote(), ref }, tmp);
    expect([ref, co.commit]).toEqual([ref, await resolveGitCommit({ remote: remote(), ref })]);
    await rm(co.dir, { recursive: true, force: true });
  }
});

test('a full SHA names itself without asking; a prefix, an unknown ref or an unreachable remote is undefined', async () => {
  server.commands.length = 0;
  expect(await resolveGitCommit({ remote: 'http://127.0.0.1:1/none.git', ref: commits.two })).toBe(commits.two);
  expect(server.commands).toEqual([]);
  expect(await resolveGitCommit({ remote: remote(), ref: commits.two!.slice(0, 10) })).toBeUndefined();
  expect(await resolveGitCommit({ remote: remote(), ref: 'no-such-branch' })).toBeUndefined();
  expect(await resolveGitCommit({ remote: 'http://127.0.0.1:1/none.git', ref: 'main' })).toBeUndefined();
});
