/**
 * A git repository as the build context (issue 12: compose's `context: <git URL>`, and
 * `ocibuild build <git URL>` as docker build takes it): checked out into the store's temp
 * dir (`#ref:subdir` picked, `.git` left out), built as a directory, removed afterwards.
 * Served by `git http-backend` on 127.0.0.1 (smart HTTP).
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from '../../src/build.js';
import { compose } from '../../src/build-compose.js';
import { Store } from '../../src/cache/store.js';
import { gitIn, startGitHttpServer, type GitHttpServer } from '../../src/copy/testing/git-server.js';
import { runCli } from '../cli-io.js';

let tmp: string;
let server: GitHttpServer;
let storeDir: string;

function git(cwd: string, ...args: string[]): string {
  return gitIn(cwd, tmp, ...args);
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-git-ctx-'));
  const work = path.join(tmp, 'work');
  await mkdir(path.join(work, 'srv/docker'), { recursive: true });
  await writeFile(path.join(work, 'srv/app.txt'), 'v1\n');
  await writeFile(path.join(work, 'srv/Dockerfile'), 'FROM scratch\nCOPY . /app/\n');
  await writeFile(path.join(work, 'srv/docker/Dockerfile.alt'), 'FROM scratch\nCOPY app.txt /alt.txt\n');
  await writeFile(path.join(work, 'top.txt'), 'top\n');
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', 'v1');
  git(work, 'tag', 'v1');
  await writeFile(path.join(work, 'srv/app.txt'), 'v2\n');
  git(work, 'commit', '-q', '-am', 'v2');
  git(tmp, 'clone', '-q', '--bare', work, 'repo.git');
  server = await startGitHttpServer(tmp);
  storeDir = path.join(tmp, 'store');
}, 120_000);
afterAll(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

async function noCheckoutLeft(): Promise<void> {
  expect((await readdir(path.join(storeDir, 'tmp'))).filter((n) => n.includes('git-context'))).toEqual([]);
}

describe('a git repository as the build context', () => {
  it('ocibuild build URL#ref:subdir builds that directory of that ref, without .git, and removes the checkout', async () => {
    const out = path.join(tmp, 'out-cli');
    const r = await runCli(['build', `${server.base}/repo.git#v1:srv`, '--store', storeDir, '-o', `type=local,dest=${out}`, '--progress=quiet'], { env: {} });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await readFile(path.join(out, 'app/app.txt'), 'utf8')).toBe('v1\n');
    expect((await readdir(path.join(out, 'app'))).sort()).toEqual(['Dockerfile', 'app.txt', 'docker']);
    await noCheckoutLeft();
    // -f is a path inside the repository's context.
    const alt = path.join(tmp, 'out-cli-alt');
    const r2 = await runCli(['build', `${server.base}/repo.git#main:srv`, '-f', 'docker/Dockerfile.alt', '--store', storeDir, '-o', `type=local,dest=${alt}`, '--progress=quiet'], { env: {} });
    expect(r2.code).toBe(0);
    expect(await readFile(path.join(alt, 'alt.txt'), 'utf8')).toBe('v2\n');
  }, 120_000);

  it('build() and compose take the URL as the context', async () => {
    const store = await Store.open(storeDir);
    const out = path.join(tmp, 'out-lib');
    await build({ context: `${server.base}/repo.git#main:srv`, store, env: {}, outputs: [`type=local,dest=${out}`] });
    expect(await readFile(path.join(out, 'app/app.txt'), 'utf8')).toBe('v2\n');
    const project = path.join(tmp, 'project');
    await mkdir(project, { recursive: true });
    await writeFile(path.join(project, 'compose.yaml'), `services:\n  web:\n    image: gitweb:1\n    build:\n      context: ${server.base}/repo.git#v1:srv\n      dockerfile: docker/Dockerfile.alt\n`);
    const res = await compose({ cwd: project, store, env: {} });
    expect(res.ok).toBe(true);
    const built = res.services[0]!;
    expect(built.status).toBe('built');
    const alone = await build({ context: `${server.base}/repo.git#v1:srv`, file: 'docker/Dockerfile.alt', store, env: {} });
    expect(built.status === 'built' && built.result.descriptor.digest).toBe(alone.descriptor.digest);
    await noCheckoutLeft();
  }, 120_000);

  it('refuses a URL that is not a git repository, a ref that does not exist and a missing subdirectory, clearly', async () => {
    const notGit = await runCli(['build', 'https://127.0.0.1:1/context.tar.gz', '--store', storeDir], { env: {} });
    expect(notGit.code).toBe(1);
    expect(notGit.stderr).toMatch(/is a URL but not a git repository/);
    const store = await Store.open(storeDir);
    await expect(build({ context: `${server.base}/repo.git#nope`, store, env: {} })).rejects.toMatchObject({ code: 'ADD_GIT' });
    await expect(build({ context: `${server.base}/repo.git#v1:missing`, store, env: {} })).rejects.toMatchObject({ code: 'CONTEXT_NOT_FOUND' });
    await noCheckoutLeft();
  }, 120_000);
});
