import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../cli-io.js';

const exec = promisify(execFile);

describe('ocibuild build fixtures/examples/hello (the README example)', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-hello-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('builds, tags in the store, writes an OCI layout skopeo and umoci read', async () => {
    const store = path.join(tmp, 'store');
    const oci = path.join(tmp, 'hello.oci');
    const r = await runCli(['build', 'fixtures/examples/hello', '-t', 'hello:latest', '--output', `type=oci,dest=${oci}`, '--store', store, '--iidfile', path.join(tmp, 'iid')]);
    expect(r.stderr).not.toMatch(/internal error/);
    if (r.code !== 0) throw new Error(r.stderr);
    expect(r.code).toBe(0);
    const digest = r.stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const { stdout } = await exec('skopeo', ['inspect', `oci:${oci}`]);
    const info = JSON.parse(stdout);
    expect(info.Digest).toBe(digest);
    expect(info.Labels).toEqual({ 'org.opencontainers.image.title': 'ocibuild hello example' });
    expect(info.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello']);
    const bundle = path.join(tmp, 'bundle');
    await exec('umoci', ['unpack', '--rootless', '--image', `${oci}:latest`, bundle]);
    const rootfs = path.join(bundle, 'rootfs');
    expect(await readFile(path.join(rootfs, 'etc/greeting'), 'utf8')).toBe('hello from ocibuild\n');
    expect((await stat(path.join(rootfs, 'etc/greeting'))).mode & 0o7777).toBe(0o644);
    expect((await stat(path.join(rootfs, 'app/hello.sh'))).mode & 0o111).not.toBe(0);
    expect((await readdir(rootfs)).sort()).toEqual(['app', 'etc']);
    const config = JSON.parse(await readFile(path.join(bundle, 'config.json'), 'utf8'));
    expect(config.process.args).toEqual(['/app/hello.sh']);
    expect(config.process.cwd).toBe('/app');
    const images = await runCli(['images', '--store', store, '--format', 'json']);
    expect(JSON.parse(images.stdout).map((i: { name: string }) => i.name)).toEqual(['hello:latest']);
  });
});
