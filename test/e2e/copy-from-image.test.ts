/**
 * Issue 7's COPY --from items: `COPY --from=<image>` sees the filesystem FROM
 * sees (writes through a symlinked directory, hardlinks to symlinks), reads
 * files from the per-layer unpacked trees, and verifies the image's diffIds;
 * FROM verifies them before anything is tagged or written.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink as fsSymlink, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { build } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { createConfigBlob, createManifest } from '../../src/image/manifest.js';
import { writeLayer } from '../../src/layers/index.js';
import type { LayerEntry } from '../../src/layers/types.js';
import type { Digest } from '../../src/oci/digest.js';

const dir = (p: string): LayerEntry => ({ path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
const file = (p: string, text: string): LayerEntry => ({ path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: Buffer.byteLength(text), source: { kind: 'buffer', data: Buffer.from(text) } });
const symlink = (p: string, target: string): LayerEntry => ({ path: p, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: target });
const exec = promisify(execFile);

/** An image of `layers` tagged `tag` in `store`; `diffIds` overrides what the config says. */
async function makeImage(store: Store, tag: string, layers: LayerEntry[][], diffIds?: Digest[]): Promise<void> {
  const descs = [];
  const ids: Digest[] = [];
  for (const entries of layers) {
    const w = await store.createWriter();
    const r = await writeLayer(entries, w.stream, { compression: 'gzip' });
    const info = await w.commit(r.digest);
    descs.push({ mediaType: r.mediaType, digest: info.digest, size: info.size });
    ids.push(r.diffId);
  }
  await tagImage(store, tag, descs, diffIds ?? ids);
}

/** An image whose layers are the given (uncompressed) tar files. */
async function makeImageFromTars(store: Store, tag: string, tars: string[]): Promise<void> {
  const descs = [];
  const ids: Digest[] = [];
  for (const tar of tars) {
    const info = await store.ingest(createReadStream(tar));
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: info.digest, size: info.size });
    ids.push(info.digest);
  }
  await tagImage(store, tag, descs, ids);
}

async function tagImage(store: Store, tag: string, descs: { mediaType: string; digest: Digest; size: number }[], diffIds: Digest[]): Promise<void> {
  const config = createConfigBlob({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, history: [] });
  await store.writeBlob(config.bytes);
  const manifest = createManifest(config.descriptor, descs, undefined, { platform: { os: 'linux', architecture: 'amd64' } });
  await store.writeBlob(manifest.bytes);
  await store.tag(tag, manifest.descriptor);
}

describe('COPY --from=<image> (issue 7)', () => {
  let tmp: string;
  let store: Store;
  let ctx: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-copyfrom-'));
    ctx = await mkdtemp(path.join(tmp, 'ctx-'));
    store = await Store.open(path.join(tmp, 'store'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function local(dockerfile: string, name: string): Promise<string> {
    const dest = path.join(tmp, name);
    await build({ context: ctx, dockerfile, store, env: {}, platforms: ['linux/amd64'], outputs: [`type=local,dest=${dest}`] });
    return dest;
  }

  it('sees a file written through a symlinked directory where FROM sees it (across layers and within one)', async () => {
    await makeImage(store, 'through:1', [
      [dir('some'), dir('some/dir'), symlink('esc', '/some/dir')],
      [file('esc/file', 'across\n')],
      [symlink('rel', 'some'), file('rel/dir/second', 'same layer\n')],
    ]);
    const viaFrom = await local('FROM through:1\n', 'from');
    expect(await readFile(path.join(viaFrom, 'some/dir/file'), 'utf8')).toBe('across\n');
    const viaCopy = await local('FROM scratch\nCOPY --from=through:1 / /out/\n', 'copy');
    expect(await readFile(path.join(viaCopy, 'out/some/dir/file'), 'utf8')).toBe('across\n');
    expect(await readFile(path.join(viaCopy, 'out/some/dir/second'), 'utf8')).toBe(await readFile(path.join(viaFrom, 'some/dir/second'), 'utf8'));
    expect(await readlink(path.join(viaCopy, 'out/esc'))).toBe('/some/dir');
    expect((await lstat(path.join(viaCopy, 'out/esc'))).isSymbolicLink()).toBe(true);
    expect((await readdir(path.join(viaCopy, 'out'))).sort()).toEqual(['esc', 'rel', 'some']);
  });

  it('copies a hardlink to a symlink (as FROM has it)', async () => {
    // GNU tar writes a hardlink to a symlink when two names share a symlink's inode.
    const src = await mkdtemp(path.join(tmp, 'hardsym-'));
    await mkdir(path.join(src, 'd'));
    await writeFile(path.join(src, 'd/target.txt'), 't\n');
    await fsSymlink('target.txt', path.join(src, 'd/link'));
    await exec('ln', ['-P', path.join(src, 'd/link'), path.join(src, 'd/hard')]);
    const tar = path.join(tmp, 'hardsym.tar');
    await exec('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-cf', tar, '-C', src, 'd']);
    const { stdout } = await exec('tar', ['-tvf', tar]);
    expect(stdout).toMatch(/link to d\/(hard|link)/);
    await makeImageFromTars(store, 'hardsym:1', [tar]);
    const viaFrom = await local('FROM hardsym:1\n', 'hs-from');
    expect(await readlink(path.join(viaFrom, 'd/hard'))).toBe('target.txt');
    const viaCopy = await local('FROM scratch\nCOPY --from=hardsym:1 /d /out/\n', 'hs-copy');
    expect(await readlink(path.join(viaCopy, 'out/hard'))).toBe('target.txt');
    expect(await readlink(path.join(viaCopy, 'out/link'))).toBe('target.txt');
    expect(await readFile(path.join(viaCopy, 'out/target.txt'), 'utf8')).toBe('t\n');
  });

  it('reads file bytes from the unpacked layer trees in the store, not from a per-build copy', async () => {
    await makeImage(store, 'plain:1', [[file('a.txt', 'a\n')], [file('b.txt', 'b\n')]]);
    await local('FROM scratch\nCOPY --from=plain:1 / /x/\n', 'plain');
    const trees = await readdir(path.join(store.root, 'unpacked', 'sha256'));
    expect(trees.length).toBeGreaterThanOrEqual(2);
  });

  it('keeps a header index per verified layer blob: a later FROM of the same base opens none of its layers', async () => {
    await makeImage(store, 'indexed:1', [[dir('etc'), file('etc/passwd', 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n')], [file('b.txt', 'b\n')]]);
    const base = JSON.parse((await store.readBlob((await store.resolve('indexed:1'))!.digest)).toString()) as { layers: { digest: Digest }[] };
    const blobs = new Set(base.layers.map((l) => l.digest));
    await writeFile(path.join(ctx, 'one.txt'), '1\n');
    await build({ context: ctx, dockerfile: 'FROM indexed:1\nCOPY --chown=app:1000 one.txt /etc/\n', store, env: {}, platforms: ['linux/amd64'], noCache: true });
    const kept = await readdir(path.join(store.root, 'headers', 'sha256'));
    for (const d of blobs) expect(kept).toContain(`${d.slice('sha256:'.length)}.json`);
    const opened: string[] = [];
    const open = store.open.bind(store);
    store.open = ((digest: Digest, size?: number) => {
      opened.push(digest);
      return open(digest, size);
    }) as Store['open'];
    try {
      // The COPY still sees the base (its /etc, its passwd for --chown), read from the index.
      const r = await build({ context: ctx, dockerfile: 'FROM indexed:1\nCOPY --chown=app:1000 one.txt /etc/\n', store, env: {}, platforms: ['linux/amd64'], noCache: true });
      expect(r.descriptor.digest).toMatch(/^sha256:/);
      // Layer 0 is opened once, for the bytes of /etc/passwd (--chown); layer 1 not at all.
      const [l0, l1] = base.layers.map((l) => l.digest);
      expect(opened.filter((d) => d === l1)).toEqual([]);
      expect(opened.filter((d) => d === l0)).toEqual([l0]);
    } finally {
      store.open = open;
    }
  });

  it('uses a header index only for the blob and diffId it was verified for (a known blob under another diffId is refused)', async () => {
    await makeImage(store, 'pair:1', [[file('a.txt', 'a\n')], [file('b.txt', 'b\n')]]);
    await local('FROM pair:1\n', 'pair');
    const m = JSON.parse((await store.readBlob((await store.resolve('pair:1'))!.digest)).toString()) as { config: { digest: Digest }; layers: { mediaType: string; digest: Digest; size: number }[] };
    const cfg = JSON.parse((await store.readBlob(m.config.digest)).toString()) as { rootfs: { diff_ids: Digest[] } };
    const [d0, d1] = cfg.rootfs.diff_ids as [Digest, Digest];
    await tagImage(store, 'pair-swapped:1', m.layers, [d1, d0]);
    await expect(build({ context: ctx, dockerfile: 'FROM pair-swapped:1\nLABEL x=y\n', store, env: {}, platforms: ['linux/amd64'], tags: ['got:swapped'] })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await store.resolve('got:swapped')).toBeUndefined();
    // A damaged index is ignored and written again from the verified bytes.
    const idx = path.join(store.root, 'headers', 'sha256', `${m.layers[0]!.digest.slice('sha256:'.length)}.json`);
    await writeFile(idx, '{"v":1,"digest":');
    const out = await local('FROM pair:1\n', 'pair-again');
    expect(await readFile(path.join(out, 'a.txt'), 'utf8')).toBe('a\n');
    expect(JSON.parse(await readFile(idx, 'utf8'))).toMatchObject({ v: 1, digest: m.layers[0]!.digest, diffId: d0 });
  });

  it('refuses an image whose diff_ids do not match its layers, under COPY --from and FROM, before tagging anything', async () => {
    const zero = `sha256:${'0'.repeat(64)}` as Digest;
    await makeImage(store, 'liar:1', [[file('a.txt', 'a\n')]], [zero]);
    await expect(build({ context: ctx, dockerfile: 'FROM scratch\nCOPY --from=liar:1 /a.txt /\n', store, env: {}, platforms: ['linux/amd64'], tags: ['got:1'] })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await store.resolve('got:1')).toBeUndefined();
    await expect(build({ context: ctx, dockerfile: 'FROM liar:1\nLABEL a=b\n', store, env: {}, platforms: ['linux/amd64'], tags: ['got:2'] })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', range: { start: { line: 1 } } });
    expect(await store.resolve('got:2')).toBeUndefined();
    const out = path.join(tmp, 'liar-out');
    await expect(build({ context: ctx, dockerfile: 'FROM liar:1\n', store, env: {}, platforms: ['linux/amd64'], outputs: [`type=oci,dest=${out}`] })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(lstat(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
