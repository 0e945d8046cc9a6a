/**
 * A base image whose layers are zstd-compressed (`tar+zstd`, made here with
 * the zstd program from GNU tar output, not with ocibuild's code) and served
 * by the real distribution registry: FROM it with `-o type=local`, COPY
 * --from it, and an OCI output that passes its layers through unchanged.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../cli-io.js';
import { run, startRegistry, type TestRegistry } from '../registry/harness.js';
import { initLayout, pushBaseImage, writeBusyboxLayer, writeImage, writeLayoutIndex } from '../registry/base-image.js';

const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

/** A second layer: a file, a hardlink to it, a directory with mode 0750 and a whiteout of /etc/group. */
async function writeZstdLayer(layout: string, work: string): Promise<{ digest: string; size: number; diffId: string; mediaType: string }> {
  const root = path.join(work, 'l2');
  await mkdir(path.join(root, 'data/private'), { recursive: true });
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(path.join(root, 'data/hello.txt'), 'hello from a zstd layer\n');
  await run('ln', [path.join(root, 'data/hello.txt'), path.join(root, 'data/again.txt')]);
  await run('chmod', ['0750', path.join(root, 'data/private')]);
  await writeFile(path.join(root, 'etc/.wh.group'), '');
  const tarFile = path.join(work, 'l2.tar');
  await run('tar', ['--sort=name', '--mtime=@1704067200', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', tarFile, '.']);
  const diffId = `sha256:${createHash('sha256').update(readFileSync(tarFile)).digest('hex')}`;
  // two frames, as a zstd writer that flushes per file would emit: readers must take every frame
  await run('sh', ['-c', 'head -c 2048 "$1" | zstd -q -19 > "$1.zst" && tail -c +2049 "$1" | zstd -q -1 >> "$1.zst"', 'sh', tarFile]);
  const bytes = readFileSync(`${tarFile}.zst`);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(path.join(layout, 'blobs/sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length, diffId, mediaType: ZSTD };
}

describe('zstd base layers (registry image, tar+zstd)', () => {
  let tmp: string;
  let reg: TestRegistry;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-zstd-'));
    reg = await startRegistry({ auth: 'none' });
    const layout = path.join(tmp, 'layout');
    await initLayout(layout);
    const l1 = await writeBusyboxLayer(layout, '/bin/busybox', 'zstd');
    const l2 = await writeZstdLayer(layout, tmp);
    const m = await writeImage(layout, [l1, l2]);
    await writeLayoutIndex(layout, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size, tag: 'latest' }]);
    ref = `${reg.host}/base/zbox:1`;
    await pushBaseImage(reg, layout, 'base/zbox:1');
    const pushed = JSON.parse(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]));
    expect(pushed.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([ZSTD, ZSTD]);
    env = { PATH: process.env.PATH, HOME: tmp, OCIBUILD_HOME: path.join(tmp, 'store') };
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('FROM a zstd image, -o type=local: layers applied in order, whiteout and hardlink kept', async () => {
    const ctx = path.join(tmp, 'ctx1');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${ref}\nCOPY msg /msg\n`);
    await writeFile(path.join(ctx, 'msg'), 'mine\n');
    const dest = path.join(tmp, 'out1');
    const r = await runCli([ctx, '-o', `type=local,dest=${dest}`], { env });
    if (r.code !== 0) throw new Error(r.stderr);
    expect((await lstat(path.join(dest, 'bin/busybox'))).isFile()).toBe(true);
    expect((await lstat(path.join(dest, 'bin/sh'))).isSymbolicLink()).toBe(true);
    expect(await readFile(path.join(dest, 'data/hello.txt'), 'utf8')).toBe('hello from a zstd layer\n');
    expect((await lstat(path.join(dest, 'data/again.txt'))).ino).toBe((await lstat(path.join(dest, 'data/hello.txt'))).ino);
    expect((await lstat(path.join(dest, 'data/private'))).mode & 0o7777).toBe(0o750);
    expect(await readdir(path.join(dest, 'etc'))).toEqual(['passwd']); // group whited out
    expect(await readFile(path.join(dest, 'msg'), 'utf8')).toBe('mine\n');
  }, 120_000);

  it('COPY --from a zstd image', async () => {
    const ctx = path.join(tmp, 'ctx2');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM scratch\nCOPY --from=${ref} /data/hello.txt /etc/passwd /copied/\n`);
    const dest = path.join(tmp, 'out2');
    const r = await runCli([ctx, '-o', `type=local,dest=${dest}`], { env });
    if (r.code !== 0) throw new Error(r.stderr);
    expect((await readdir(path.join(dest, 'copied'))).sort()).toEqual(['hello.txt', 'passwd']);
    expect(await readFile(path.join(dest, 'copied/hello.txt'), 'utf8')).toBe('hello from a zstd layer\n');
  }, 120_000);

  it('an OCI output keeps the base layers as they are (tar+zstd, same digests)', async () => {
    const ctx = path.join(tmp, 'ctx3');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${ref}\nENV A=1\n`);
    const oci = path.join(tmp, 'oci');
    const r = await runCli([ctx, '-o', `type=oci,dest=${oci}`], { env });
    if (r.code !== 0) throw new Error(r.stderr);
    const inspected = JSON.parse(await run('skopeo', ['inspect', '--raw', `oci:${oci}`]));
    const base = JSON.parse(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]));
    expect(inspected.layers).toEqual(base.layers);
  }, 120_000);
});
