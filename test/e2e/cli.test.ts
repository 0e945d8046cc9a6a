/** The CLI end to end, in-process: every command and the build flags that change outputs. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../cli-io.js';

const exec = promisify(execFile);
const HELLO = 'fixtures/examples/hello';

describe('ocibuild CLI', () => {
  let tmp: string;
  let store: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-cli-'));
    store = path.join(tmp, 'store');
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('parse prints the BuildKit dump and our JSON tree', async () => {
    const r = await runCli(['parse', HELLO]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('(from "scratch" "AS" "base")');
    const j = await runCli(['parse', '-f', `${HELLO}/Dockerfile`, '--format=json']);
    const tree = JSON.parse(j.stdout);
    expect(tree.instructions[0].keyword).toBe('from');
    expect(tree.instructions[0].range.start).toEqual({ line: 3, column: 1, offset: expect.any(Number) });
  });

  it('parse reports syntax errors with file:line:column and a code frame, exit 1, no stack', async () => {
    const r = await runCli(['parse', '-f', '-'], { stdin: 'FROM scratch\nCOPY <<EOF /x\nno terminator\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: <stdin>:2:\d+: .*heredoc/m);
    expect(r.stderr).toMatch(/> 2 \| COPY <<EOF \/x/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('check prints warnings under BuildKit rule names and honours check=error=true', async () => {
    const df = path.join(tmp, 'Dockerfile.lint');
    await writeFile(df, 'FROM scratch as Build\nCMD echo hi\n');
    const r = await runCli(['check', '-f', df, tmp]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/FromAsCasing/);
    expect(r.stdout).toMatch(/StageNameCasing/);
    expect(r.stdout).toMatch(/JSONArgsRecommended/);
    await writeFile(df, '# check=error=true\nFROM scratch as Build\n');
    const failing = await runCli(['check', '-f', df, tmp]);
    expect(failing.code).toBe(1);
    await writeFile(df, '# check=skip=all\nFROM scratch as Build\n');
    const skipped = await runCli(['check', '-f', df, tmp]);
    expect(skipped.stdout).toBe('Check complete, no warnings found.\n');
  });

  it('build --dry-run prints the plan and builds nothing', async () => {
    const df = path.join(tmp, 'Dockerfile.plan');
    await writeFile(df, 'FROM scratch AS a\nCOPY x /x\nFROM scratch AS b\nCOPY y /y\nFROM scratch AS unused\nFROM scratch\nCOPY --from=a /x /x\nCOPY --from=b /y /y\nRUN echo later\n');
    const r = await runCli(['build', '--dry-run', '-f', df, tmp, '--store', store]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/unused/);
    expect(r.stdout).toMatch(/RUN echo later/);
    const mixed = await runCli(['build', '--dry-run', '-f', df, tmp, '-t', 'x:1', '--push']);
    // A usage error: exit 2, as README says (issue 9).
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/--dry-run builds nothing, so -t, --push cannot apply/);
  });

  it('build writes docker-archive, local and OCI tar outputs, iidfile and metadata', async () => {
    const archive = path.join(tmp, 'hello-docker.tar');
    const local = path.join(tmp, 'rootfs');
    const ociTar = path.join(tmp, 'hello-oci.tar');
    const meta = path.join(tmp, 'meta.json');
    const iid = path.join(tmp, 'iid');
    const r = await runCli([
      HELLO, '-t', 'hello:cli', '-t', 'registry.example:5000/team/hello:2',
      '-o', `type=docker,dest=${archive}`, '-o', `type=local,dest=${local}`, '-o', `type=oci,dest=${ociTar},tar=true`,
      '--label', 'extra=yes', '--annotation', 'org.opencontainers.image.source=https://example.invalid/x',
      '--metadata-file', meta, '--iidfile', iid, '--store', store, '--build-arg', 'GREETING=bonjour',
    ]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const docker = JSON.parse((await exec('skopeo', ['inspect', `docker-archive:${archive}`])).stdout);
    expect(docker.Labels.extra).toBe('yes');
    expect(docker.Env).toContain('GREETING=bonjour');
    const manifest = JSON.parse((await exec('tar', ['-xOf', archive, 'manifest.json'])).stdout);
    expect(manifest[0].RepoTags).toEqual(['hello:cli', 'registry.example:5000/team/hello:2']);
    expect((await readdir(local)).sort()).toEqual(['app', 'etc']);
    expect(await readFile(path.join(local, 'etc/greeting'), 'utf8')).toBe('hello from ocibuild\n');
    const oci = JSON.parse((await exec('skopeo', ['inspect', '--raw', `oci-archive:${ociTar}:cli`])).stdout);
    expect(oci.annotations['org.opencontainers.image.source']).toBe('https://example.invalid/x');
    const m = JSON.parse(await readFile(meta, 'utf8'));
    expect(m['containerimage.digest']).toBe(r.stdout.trim());
    expect(await readFile(iid, 'utf8')).toBe(m['containerimage.config.digest']);
    expect(m['image.name']).toBe('hello:cli,registry.example:5000/team/hello:2');
    const images = await runCli(['images', '--store', store]);
    expect(images.stdout).toMatch(/hello:cli/);
    const rmi = await runCli(['rmi', 'hello:cli', '--store', store]);
    expect(rmi.code).toBe(0);
    expect(rmi.stdout).toMatch(/Untagged: hello:cli/);
    const gone = await runCli(['rmi', 'hello:cli', '--store', store]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no such image: hello:cli \[IMAGE_NOT_FOUND\]/);
    const prune = await runCli(['prune', '--all', '--store', store]);
    expect(prune.code).toBe(0);
  });

  it('refuses unknown flags, outputs and output keys with usage errors', async () => {
    const bad = await runCli(['build', HELLO, '--chown', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown argument/);
    // compression= is an oci/image/registry key (issue 12); a docker archive refuses it.
    const out = await runCli(['build', HELLO, '-o', 'type=docker,dest=x.tar,compression=zstd', '--store', store]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/does not take compression=/);
  });

  it('a COPY of a missing file names it, with the instruction frame', async () => {
    const ctx = path.join(tmp, 'ctx-missing');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY missing.txt /\n');
    const r = await runCli([ctx, '--store', store]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Dockerfile:2:1: COPY source "missing.txt" not found/);
    expect(r.stderr).toMatch(/> 2 \| COPY missing.txt \//);
  });
});

describe('ocibuild - (Dockerfile on stdin, empty context)', () => {
  it('builds a Dockerfile read from stdin', async () => {
    const store = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-stdin-'));
    try {
      const r = await runCli(['-', '--store', store, '-t', 'stdin:1', '-q'], { stdin: 'FROM scratch\nLABEL from=stdin\n' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      const bad = await runCli(['-', '--store', store], { stdin: 'FROM scratch\nCOPY x /\n' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/<stdin>:2:1: COPY source "x" not found/);
    } finally {
      await rm(store, { recursive: true, force: true });
    }
  });
});

describe('ocibuild parse - / check -', () => {
  it('read the Dockerfile from stdin', async () => {
    const r = await runCli(['parse', '-'], { stdin: 'FROM a\n' });
    expect(r.stdout).toBe('(from "a")\n');
    const c = await runCli(['check', '-f', '-'], { stdin: 'FROM a as B\n' });
    expect(c.stdout).toMatch(/<stdin>:1:1: warning: FromAsCasing/);
  });
});

describe('ocibuild rmi --no-prune', () => {
  it('untags without collecting blobs', async () => {
    const store = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-noprune-'));
    try {
      expect((await runCli(['-', '--store', store, '-t', 'keep:1', '-q'], { stdin: 'FROM scratch\nLABEL a=b\n' })).code).toBe(0);
      const r = await runCli(['rmi', 'keep:1', '--no-prune', '--store', store]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Untagged: keep:1/);
      expect(r.stdout).not.toMatch(/Deleted/);
    } finally {
      await rm(store, { recursive: true, force: true });
    }
  });
});
