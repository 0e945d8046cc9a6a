/**
 * Issue 9: the command line read as docker build reads it (repeatable flags
 * take one value; the context may come after any of them; `-f -`), help with
 * an example per flag; issue 7: a usage error stops before any work.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../cli-io.js';

let tmp: string;
let store: string;
/** A context whose Dockerfile says which context it is (the cwd has none). */
let ctx: string;
let cwd: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-cli-args-'));
  store = path.join(tmp, 'store');
  ctx = path.join(tmp, 'ctx');
  cwd = path.join(tmp, 'cwd');
  await mkdir(ctx);
  await mkdir(cwd);
  await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nARG X=none\nCOPY marker.txt /marker-from-ctx\nLABEL x=$X\n');
  await writeFile(path.join(ctx, 'marker.txt'), 'ctx\n');
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const cli = (args: string[], options: { stdin?: string } = {}) => runCli(args, { cwd, ...options });

describe('repeatable flags before the context (each takes one value)', () => {
  // Every `array` option of `build`, with a value that works without a registry.
  const cases: [string, string][] = [
    ['-t', 'app:1'],
    ['--tag', 'app:2'],
    ['--build-arg', 'X=1'],
    ['--platform', 'linux/amd64'],
    ['--label', 'a=b'],
    ['--annotation', 'org.example.a=b'],
    ['--creds', 'localhost:5999=u:p'],
    ['--insecure-registry', 'localhost:5999'],
    ['--registry-mirror', 'docker.io=localhost:5999'],
  ];
  it.each(cases)('build %s %s CTX builds CTX', async (flag, value) => {
    const r = await cli(['build', flag, value, '../ctx', '--store', store, '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  });

  it('build -o DEST CTX and --output DEST CTX build CTX', async () => {
    for (const flag of ['-o', '--output']) {
      const dest = path.join(tmp, `out${flag}`);
      const r = await cli(['build', flag, `type=local,dest=${dest}`, '../ctx', '--store', store, '-q']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(await readFile(path.join(dest, 'marker-from-ctx'), 'utf8')).toBe('ctx\n');
    }
  });

  it('build --registry-ca FILE CTX builds CTX (the file is read as PEM)', async () => {
    const r = await cli(['build', '--registry-ca', '/etc/ssl/certs/ca-certificates.crt', '../ctx', '--store', store, '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('the default command (no "build") too, and repeated flags accumulate', async () => {
    const dest = path.join(tmp, 'oci-default');
    const r = await cli(['-t', 'app:3', '-t', 'app:4', '--build-arg', 'X=2', '../ctx', '-o', `type=oci,dest=${dest}`, '--store', store, '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const index = JSON.parse(await readFile(path.join(dest, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations['io.containerd.image.name'])).toEqual(['docker.io/library/app:3', 'docker.io/library/app:4']);
    const images = await cli(['images', '--store', store]);
    expect(images.stdout).toMatch(/app:3/);
    expect(images.stdout).toMatch(/app:4/);
  });

  it("docker build's own example, in any order", async () => {
    const d = (n: number) => `type=oci,dest=${path.join(tmp, `d${n}`)}`;
    const orders = [
      ['-t', 'app', '--build-arg', 'X=1', '--label', 'a=b', '--platform', 'linux/amd64', '-o', d(1), '../ctx'],
      ['../ctx', '-o', d(2), '--platform', 'linux/amd64', '--label', 'a=b', '--build-arg', 'X=1', '-t', 'app'],
      ['--label', 'a=b', '../ctx', '-t', 'app', '--platform', 'linux/amd64', '--build-arg', 'X=1', '-o', d(3)],
    ];
    const digests = new Set<string>();
    for (const [i, args] of orders.entries()) {
      const r = await cli(['build', ...args, '--store', store, '-q']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      digests.add(r.stdout);
      expect(existsSync(path.join(tmp, `d${i + 1}`, 'index.json'))).toBe(true);
    }
    expect(digests.size).toBe(1);
  });

  it('check --build-arg X=1 CTX checks CTX', async () => {
    const r = await cli(['check', '--build-arg', 'X=1', '../ctx']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('-f - reads the Dockerfile from stdin while the context stays a directory', async () => {
    const dest = path.join(tmp, 'stdin-out');
    const r = await cli(['build', '-f', '-', '../ctx', '-o', `type=local,dest=${dest}`, '--store', store, '-q'], { stdin: 'FROM scratch\nCOPY marker.txt /from-stdin-dockerfile\n' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await readdir(dest)).toEqual(['from-stdin-dockerfile']);
  });
});

describe('usage errors stop before any work (issue 7)', () => {
  const registryFlags: [string, string][] = [
    ['--creds', 'localhost:5999=u:p'],
    ['--registry-ca', '/etc/ssl/certs/ca-certificates.crt'],
    ['--insecure-registry', 'localhost:5999'],
    ['--registry-mirror', 'docker.io=localhost:5999'],
  ];
  it.each(registryFlags)('--bogus with %s: exit 2, nothing written', async (flag, value) => {
    for (const args of [
      ['--bogus', flag, value],
      [flag, value, '--bogus'],
    ]) {
      const dest = path.join(tmp, `never-${flag.slice(2)}`);
      const iid = path.join(tmp, `never-iid-${flag.slice(2)}`);
      const r = await cli(['build', '../ctx', ...args, '-o', `type=oci,dest=${dest}`, '--iidfile', iid, '--store', path.join(tmp, 'never-store')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/Unknown argument: bogus/);
      expect(r.stdout).toBe('');
      expect(existsSync(dest)).toBe(false);
      expect(existsSync(iid)).toBe(false);
      expect(existsSync(path.join(tmp, 'never-store'))).toBe(false);
    }
  });

  it('a flag missing its value, a bad --progress, conflicting flags: exit 2, nothing written', async () => {
    const never = path.join(tmp, 'never-store');
    for (const args of [
      ['build', '../ctx', '--store', never, '-t'],
      ['build', '../ctx', '--store', never, '--progress', 'fancy'],
      ['build', '../ctx', '--store', never, '--dry-run', '-t', 'x:1'],
      ['build', '../ctx', '--store', never, '--label', '=x'],
    ]) {
      const r = await cli(args);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(never)).toBe(false);
    }
  });
});

describe('malformed values fail before the store is opened', () => {
  it.each([
    ['-o', 'type=bogus', /--output type=bogus is not supported.*\[OUTPUT_INVALID\]/],
    ['-t', 'UPPER:bad:tag', /invalid reference "UPPER:bad:tag".*\[REFERENCE_INVALID\]/],
  ])('%s %s', async (flag, value, message) => {
    const never = path.join(tmp, `never-store-${value.replace(/\W/g, '')}`);
    const r = await cli(['build', '../ctx', flag, value, '--store', never]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(existsSync(never)).toBe(false);
  });
});

describe('help', () => {
  const commands = ['build', 'compose', 'parse', 'check', 'images', 'rmi', 'prune', 'pull', 'push'];

  /** The flags a help text lists under Options, each with its aliases. */
  function flags(help: string): string[][] {
    const options = help.slice(help.indexOf('Options:'), help.indexOf('Examples:') >= 0 ? help.indexOf('Examples:') : undefined);
    return [...options.matchAll(/^\s+((?:-\w, )?--[\w-]+)/gm)].map((m) => m[1]!.split(', ')).filter((f) => !f.includes('--help') && !f.includes('--version'));
  }

  it.each(commands)('%s --help lists each flag with an example', async (command) => {
    const r = await cli([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Examples:/);
    const examples = r.stdout.slice(r.stdout.indexOf('Examples:'));
    const listed = flags(r.stdout);
    expect(listed.length).toBeGreaterThan(0);
    for (const names of listed) {
      const used = names.some((n) => new RegExp(`\\$ .*ocibuild .*(?:^|\\s)${n}(?:[ =]|$)`, 'm').test(examples));
      expect([command, names.join(', '), used]).toEqual([command, names.join(', '), true]);
    }
  });

  it('ocibuild --help lists the commands and the build flags with examples', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of commands) expect(r.stdout).toMatch(new RegExp(`ocibuild ${c}\\b`));
    expect(r.stdout).toMatch(/--progress/);
    expect(r.stdout).toMatch(/\$ ocibuild build -t app:1\.0 \./);
  });
});
