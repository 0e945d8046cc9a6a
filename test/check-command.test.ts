/**
 * `ocibuild check` with what BuildKit knows before it checks: the base
 * image's config (from the store, or the registry unless --pull=false) and
 * the target platform (path rules), plus --build-arg and --target as build takes them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { build } from '../src/build.js';
import { Store } from '../src/cache/store.js';
import { runCli } from './cli-io.js';
import { startRegistry, type TestRegistry } from './registry/harness.js';

let tmp: string;
let storeDir: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-check-'));
  storeDir = path.join(tmp, 'store');
  const store = await Store.open(storeDir);
  // a local base image whose config sets GOPATH (and a WorkingDir)
  await build({
    context: tmp,
    dockerfile: 'FROM scratch\nENV GOPATH=/go\nWORKDIR /go\n',
    store,
    tags: ['gobase:local'],
    platforms: ['linux/amd64'],
    env: {},
    sourceDateEpoch: 0,
  });
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function check(dockerfile: string, args: string[] = [], env?: NodeJS.ProcessEnv) {
  const df = path.join(tmp, 'Dockerfile.check');
  await writeFile(df, dockerfile);
  return runCli(['check', '-f', df, tmp, '--store', storeDir, ...args], env ? { env } : {});
}

describe('ocibuild check reads the base image config', () => {
  const df = 'FROM gobase:local\nENV P=$GOPATH/bin\nWORKDIR $GOPATH/src\n';

  it('no UndefinedVar for a variable the local base image defines', async () => {
    const r = await check(df, ['--pull=false', '--platform', 'linux/amd64']);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toMatch(/UndefinedVar/);
    expect(r.stdout).toBe('Check complete, no warnings found.\n');
    expect(r.code).toBe(0);
  });

  it('--pull=false and a base not in the store: today\'s findings, and one warning saying why', async () => {
    const r = await check('FROM nothere:1\nENV P=$GOPATH/bin\nWORKDIR $GOPATH/src\n', ['--pull=false', '--platform', 'linux/amd64']);
    expect(r.stdout).toMatch(/UndefinedVar: Usage of undefined variable '\$GOPATH'/);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('nothere:1 (not in the store (--pull=false))');
  });

  it('the base config also gives the working directory a RUN --mount without target resolves against', async () => {
    const ok = await check('FROM gobase:local\nRUN --mount=type=cache true\n', ['--pull=false', '--platform', 'linux/amd64']);
    expect(ok.code).toBe(0);
  });
});

describe('ocibuild check --platform, --build-arg, --target', () => {
  it('WorkdirRelativePath judges paths for the target platform', async () => {
    // Windows Dockerfiles set the escape to ` so that C:\go stays as written
    const win = await check('# escape=`\nFROM scratch\nWORKDIR C:\\go\n', ['--platform', 'windows/amd64']);
    expect(win.stdout).toBe('Check complete, no warnings found.\n');
    const slash = await check('FROM scratch\nWORKDIR C:/go\n', ['--platform', 'windows/amd64']);
    expect(slash.stdout).toBe('Check complete, no warnings found.\n');
    const linux = await check('# escape=`\nFROM scratch\nWORKDIR C:\\go\n', ['--platform', 'linux/amd64']);
    expect(linux.stdout).toMatch(/WorkdirRelativePath: Relative workdir "C:\\\\go"/);
    // with the default escape, C:\go expands to C:go, relative to the drive's current directory (BuildKit warns too)
    const driveRelative = await check('FROM scratch\nWORKDIR C:\\go\n', ['--platform', 'windows/amd64']);
    expect(driveRelative.stdout).toMatch(/WorkdirRelativePath: Relative workdir "C:go"/);
  });

  it('--build-arg (KEY=VALUE and KEY from the environment) and --target', async () => {
    const df = 'FROM scratch AS a\nARG V\nENV X=${V:?unset}\nFROM scratch AS b\n';
    const withArg = await check(df, ['--build-arg', 'V=1', '--target', 'a']);
    expect(withArg.stdout).toBe('Check complete, no warnings found.\n');
    const fromEnv = await check(df, ['--build-arg', 'V', '--target', 'a'], { ...process.env, V: 'set' });
    expect(fromEnv.stdout).toBe('Check complete, no warnings found.\n');
    const missing = await check(df, ['--target', 'a']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/V: unset/);
    const noTarget = await check(df, ['--build-arg', 'V=1', '--target', 'c']);
    expect(noTarget.stderr).toMatch(/target stage "c" could not be found/);
  });
});

describe('ocibuild check reads a base config from the registry when the store lacks it', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'none' });
    const pushed = await runCli(['push', 'gobase:local', `${registry.host}/gobase:1`, '--store', storeDir]);
    expect(pushed.code).toBe(0);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('manifest and config only: no UndefinedVar, nothing stored; --pull=false keeps to the store', async () => {
    const empty = path.join(tmp, 'empty-store');
    const df = path.join(tmp, 'Dockerfile.remote');
    await writeFile(df, `FROM ${registry.host}/gobase:1\nENV P=$GOPATH/bin\n`);
    const r = await runCli(['check', '-f', df, tmp, '--store', empty, '--platform', 'linux/amd64']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('Check complete, no warnings found.\n');
    expect(await (await Store.open(empty)).listTags()).toEqual([]);
    const offline = await runCli(['check', '-f', df, tmp, '--store', empty, '--platform', 'linux/amd64', '--pull=false']);
    expect(offline.stdout).toMatch(/UndefinedVar: Usage of undefined variable '\$GOPATH'/);
    expect(offline.stderr.match(/^warning:/gm)).toHaveLength(1);
  });

  it('an unreachable registry: today\'s findings and one warning', async () => {
    const df = path.join(tmp, 'Dockerfile.unreachable');
    const port = registry.port;
    await registry.stop();
    await writeFile(df, `FROM 127.0.0.1:${port}/gobase:1\nENV P=$GOPATH/bin\n`);
    const r = await runCli(['check', '-f', df, tmp, '--store', path.join(tmp, 'empty-store'), '--platform', 'linux/amd64']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/UndefinedVar/);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`127.0.0.1:${port}/gobase:1`);
  });
});
