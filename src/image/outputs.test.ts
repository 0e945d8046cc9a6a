import { execFile as execFileCb, spawn } from 'node:child_process';
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Store } from '../cache/store.js';
import { OcibuildError } from '../errors.js';
import { sha256, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageConfig } from '../oci/types.js';
import { writeLocal, type ApplyLayerFn } from './local.js';
import { createConfigBlob, createIndex, createManifest } from './manifest.js';
import { writeDockerArchive, writeOciLayout } from './outputs.js';
import { collectBlobs, readImage } from './read.js';

const execFile = promisify(execFileCb);
let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-out-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function sh(cmd: string, args: string[], cwd?: string): Promise<string> {
  return (await execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 })).stdout;
}

async function hashFile(file: string): Promise<Digest> {
  const { createHash } = await import('node:crypto');
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}` as Digest;
}

/** Make a layer from a directory with GNU tar (sorted, numeric owner 0, mtime 0) and gzip -n. */
async function makeLayer(store: Store, dir: string, name: string, gzip = true): Promise<{ desc: Descriptor; diffId: Digest }> {
  const tarFile = path.join(tmp, `${name}.tar`);
  await sh('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', dir, '-cf', tarFile, '.']);
  const diffId = await hashFile(tarFile);
  let file = tarFile;
  if (gzip) {
    await sh('gzip', ['-n', '-k', tarFile]);
    file = `${tarFile}.gz`;
  }
  const info = await store.ingest(createReadStream(file));
  return { desc: { mediaType: gzip ? MediaType.ociLayerGzip : MediaType.ociLayer, ...info }, diffId };
}

async function writeTree(root: string, files: Record<string, string | { link: string } | null>): Promise<void> {
  for (const [p, v] of Object.entries(files)) {
    const full = path.join(root, p);
    await fs.mkdir(path.dirname(full), { recursive: true });
    if (v === null) await fs.mkdir(full, { recursive: true });
    else if (typeof v === 'string') await fs.writeFile(full, v);
    else await fs.symlink(v.link, full);
  }
}

/** Build a two-layer image: layer 2 adds a file and deletes one of layer 1 with a whiteout. */
async function buildImage(store: Store, arch = 'amd64', extra = '') {
  const l1dir = path.join(tmp, `l1-${arch}`);
  const l2dir = path.join(tmp, `l2-${arch}`);
  await writeTree(l1dir, {
    'etc/hostname': `box-${arch}\n`,
    'etc/removed.conf': 'gone soon\n',
    'bin/tool': '#!/bin/sh\necho hi\n',
    'bin/alias': { link: 'tool' },
    'empty': null,
    'data/big.bin': Buffer.alloc(2 * 1024 * 1024, 3).toString('latin1') + extra,
  });
  await fs.chmod(path.join(l1dir, 'bin/tool'), 0o755);
  await writeTree(l2dir, { 'etc/app.conf': `arch=${arch}\n`, 'etc/.wh.removed.conf': '' });
  const l1 = await makeLayer(store, l1dir, `l1-${arch}`);
  const l2 = await makeLayer(store, l2dir, `l2-${arch}`, false);
  const config: ImageConfig = {
    created: '2024-05-01T00:00:00Z',
    architecture: arch,
    os: 'linux',
    config: { Cmd: ['/bin/tool'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: [l1.diffId, l2.diffId] },
    history: [{ created_by: 'layer 1' }, { created_by: 'layer 2' }],
  };
  const cfg = createConfigBlob(config);
  await store.writeBlob(cfg.bytes);
  const m = createManifest(cfg.descriptor, [l1.desc, l2.desc], undefined, { platform: { os: 'linux', architecture: arch } });
  await store.writeBlob(m.bytes);
  return { manifest: m.descriptor, manifestBytes: m.bytes, config: cfg.descriptor, layers: [l1, l2] };
}

/** path → kind:content for a tree (files by content, links by target, dirs), for comparisons. */
async function listTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string) => {
    for (const e of (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isSymbolicLink()) out[r] = `link:${await fs.readlink(p)}`;
      else if (e.isDirectory()) {
        out[r] = 'dir';
        await walk(p, r);
      } else {
        const st = await fs.stat(p);
        out[r] = `file:${(st.mode & 0o111) !== 0 ? 'x' : '-'}:${sha256(await fs.readFile(p)).slice(7, 19)}`;
      }
    }
  };
  await walk(root, '');
  return out;
}

async function expectedTree(arch = 'amd64'): Promise<Record<string, string>> {
  const dir = path.join(tmp, `expected-${arch}`);
  await sh('cp', ['-a', `${path.join(tmp, `l1-${arch}`)}/.`, dir]);
  await fs.rm(path.join(dir, 'etc/removed.conf'));
  await fs.copyFile(path.join(tmp, `l2-${arch}`, 'etc/app.conf'), path.join(dir, 'etc/app.conf'));
  return listTree(dir);
}

describe('writeOciLayout', () => {
  it('writes a layout directory skopeo inspects and umoci unpacks to the expected tree', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const img = await buildImage(store);
    const dest = path.join(tmp, 'layout');
    const res = await writeOciLayout(store, { descriptor: img.manifest, tags: ['example.com/team/app:v1', 'app'] }, dest);
    expect(res.blobs).toBe(4);
    const index = JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: Descriptor) => m.annotations)).toEqual([
      { 'io.containerd.image.name': 'example.com/team/app:v1', 'org.opencontainers.image.ref.name': 'v1' },
      { 'io.containerd.image.name': 'docker.io/library/app:latest', 'org.opencontainers.image.ref.name': 'latest' },
    ]);
    const raw = await sh('skopeo', ['inspect', '--raw', `oci:${dest}:v1`]);
    expect(raw).toBe(img.manifestBytes.toString());
    const info = JSON.parse(await sh('skopeo', ['inspect', `oci:${dest}:latest`]));
    expect(info.Digest).toBe(img.manifest.digest);
    expect(info.Layers).toEqual(img.layers.map((l) => l.desc.digest));

    const bundle = path.join(tmp, 'bundle');
    await sh('umoci', ['unpack', '--rootless', '--image', `${dest}:v1`, bundle]);
    expect(await listTree(path.join(bundle, 'rootfs'))).toEqual(await expectedTree());
  });

  it('merges into an existing layout and replaces entries of the same name', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const a = await buildImage(store, 'amd64');
    const b = await buildImage(store, 'arm64');
    const dest = path.join(tmp, 'layout');
    await writeOciLayout(store, { descriptor: a.manifest, tags: ['app:amd'] }, dest);
    await writeOciLayout(store, { descriptor: b.manifest, tags: ['app:arm'] }, dest);
    await writeOciLayout(store, { descriptor: b.manifest, tags: ['app:amd'] }, dest);
    const index = JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: Descriptor) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest])).toEqual([
      ['arm', b.manifest.digest],
      ['amd', b.manifest.digest],
    ]);
    const ls = (await sh('umoci', ['ls', '--layout', dest])).trim().split('\n').sort();
    expect(ls).toEqual(['amd', 'arm']);
    // Refuses to write into a directory that is something else.
    const other = path.join(tmp, 'other');
    await writeTree(other, { 'x.txt': 'x' });
    await expect(writeOciLayout(store, { descriptor: a.manifest, tags: [] }, other)).rejects.toMatchObject({ code: 'OUTPUT_INVALID' });
    await expect(writeOciLayout(store, { descriptor: a.manifest, tags: [] }, path.join(tmp, 'no/such/dir/x.tar'), { tar: true })).rejects.toMatchObject({ code: 'OUTPUT_INVALID' });
    await expect(writeOciLayout(store, { descriptor: a.manifest, tags: ['app@sha256:' + 'a'.repeat(64)] }, path.join(tmp, 'y'))).rejects.toMatchObject({ code: 'REFERENCE_INVALID' });
    const broken = new Writable({ write: (_c, _e, cb) => cb(new Error('EPIPE')) });
    await expect(writeDockerArchive(store, [{ descriptor: a.manifest, tags: [] }], broken)).rejects.toMatchObject({ code: 'OUTPUT_INVALID' });
  });

  it('writes a reproducible tarball that skopeo reads as oci-archive', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const img = await buildImage(store);
    const t1 = path.join(tmp, 'one.tar');
    const t2 = path.join(tmp, 'two.tar');
    await writeOciLayout(store, { descriptor: img.manifest, tags: ['app:v1'] }, t1, { tar: true });
    await writeOciLayout(store, { descriptor: img.manifest, tags: ['app:v1'] }, t2, { tar: true });
    expect(await hashFile(t1)).toBe(await hashFile(t2));
    const listing = (await sh('tar', ['-tvf', t1])).trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/).at(-1))).toEqual([
      'oci-layout', 'index.json', 'blobs/', 'blobs/sha256/',
      ...[img.manifest, img.config, ...img.layers.map((l) => l.desc)].map((d) => `blobs/sha256/${d.digest.slice(7)}`).sort(),
    ]);
    expect(listing.every((l) => l.includes('0/0') && l.includes('1970-01-01'))).toBe(true);
    const info = JSON.parse(await sh('skopeo', ['inspect', `oci-archive:${t1}:v1`]));
    expect(info.Digest).toBe(img.manifest.digest);
    const out = path.join(tmp, 'copied');
    await sh('skopeo', ['copy', `oci-archive:${t1}:v1`, `oci:${out}:x`]);
    // skopeo compresses the plain-tar layer on copy; the config and the gzip layer pass through unchanged.
    const copied = JSON.parse(await sh('skopeo', ['inspect', '--raw', `oci:${out}:x`]));
    expect(copied.config.digest).toBe(img.config.digest);
    expect(copied.layers[0].digest).toBe(img.layers[0]!.desc.digest);
    await expect(fs.readdir(tmp)).resolves.not.toContainEqual(expect.stringMatching(/\.tmp-/));
  });

  it('writes a multi-platform index with all its manifests', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const a = await buildImage(store, 'amd64');
    const b = await buildImage(store, 'arm64');
    const index = createIndex([a.manifest, b.manifest]);
    await store.writeBlob(index.bytes);
    const dest = path.join(tmp, 'layout');
    const res = await writeOciLayout(store, { descriptor: index.descriptor, tags: ['multi:1'] }, dest);
    expect(res.blobs).toBe(1 + 4 + 4);
    expect(await sh('skopeo', ['inspect', '--raw', `oci:${dest}:1`])).toBe(index.bytes.toString());
    const armInfo = JSON.parse(await sh('skopeo', ['--override-arch', 'arm64', 'inspect', `oci:${dest}:1`]));
    expect(armInfo).toMatchObject({ Digest: index.descriptor.digest, Architecture: 'arm64', Layers: b.layers.map((l) => l.desc.digest) });
    const amdCfg = JSON.parse(await sh('skopeo', ['--override-arch', 'amd64', 'inspect', '--config', `oci:${dest}:1`]));
    expect(amdCfg.rootfs.diff_ids).toEqual(a.layers.map((l) => l.diffId));
  });

  it('fails with STORE_CORRUPT and leaves no file when a blob is corrupt', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const img = await buildImage(store);
    const layerPath = store.blobPath(img.layers[0]!.desc.digest);
    const bytes = await fs.readFile(layerPath);
    bytes[bytes.length - 100] ^= 0xff;
    await fs.writeFile(layerPath, bytes);
    const dest = path.join(tmp, 'bad.tar');
    await expect(writeOciLayout(store, { descriptor: img.manifest, tags: [] }, dest, { tar: true })).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    await expect(fs.access(dest)).rejects.toThrow();
    expect((await fs.readdir(tmp)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});

describe('writeDockerArchive', () => {
  it('writes manifest.json, repositories and blobs that skopeo reads and copies', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const img = await buildImage(store);
    const file = path.join(tmp, 'docker.tar');
    await writeDockerArchive(store, [{ descriptor: img.manifest, tags: ['app:v1', 'localhost:5000/team/app:2'] }], file);
    const manifestJson = JSON.parse(await sh('tar', ['-xOf', file, 'manifest.json']));
    expect(manifestJson).toEqual([{
      Config: `blobs/sha256/${img.config.digest.slice(7)}`,
      RepoTags: ['app:v1', 'localhost:5000/team/app:2'],
      Layers: img.layers.map((l) => `blobs/sha256/${l.desc.digest.slice(7)}`),
    }]);
    const top = img.layers[1]!.desc.digest.slice(7);
    expect(JSON.parse(await sh('tar', ['-xOf', file, 'repositories']))).toEqual({ app: { v1: top }, 'localhost:5000/team/app': { '2': top } });
    const index = JSON.parse(await sh('tar', ['-xOf', file, 'index.json']));
    expect(index.manifests[0]).toMatchObject({ digest: img.manifest.digest, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'io.containerd.image.name': 'docker.io/library/app:v1', 'org.opencontainers.image.ref.name': 'v1' } });

    const info = JSON.parse(await sh('skopeo', ['inspect', `docker-archive:${file}:app:v1`]));
    expect(info.Architecture).toBe('amd64');
    expect(info.Env).toEqual(['PATH=/bin']);
    const cfg = JSON.parse(await sh('skopeo', ['inspect', '--config', `docker-archive:${file}:localhost:5000/team/app:2`]));
    expect(cfg.rootfs.diff_ids).toEqual(img.layers.map((l) => l.diffId));
    // A full copy makes skopeo read every layer (and check the diff_ids).
    const out = path.join(tmp, 'copied');
    await sh('skopeo', ['copy', `docker-archive:${file}:app:v1`, `oci:${out}:x`]);
    const bundle = path.join(tmp, 'bundle');
    await sh('umoci', ['unpack', '--rootless', '--image', `${out}:x`, bundle]);
    expect(await listTree(path.join(bundle, 'rootfs'))).toEqual(await expectedTree());
  });

  it('holds several images, resolves an index to one platform, and is reproducible', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const a = await buildImage(store, 'amd64');
    const b = await buildImage(store, 'arm64', 'more');
    const index = createIndex([a.manifest, b.manifest]);
    await store.writeBlob(index.bytes);
    const f1 = path.join(tmp, 'd1.tar');
    const f2 = path.join(tmp, 'd2.tar');
    const images = [{ descriptor: index.descriptor, tags: ['multi:arm'] }, { descriptor: a.manifest, tags: [] }];
    await writeDockerArchive(store, images, f1, { platform: { os: 'linux', architecture: 'arm64' } });
    await writeDockerArchive(store, images, f2, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(await hashFile(f1)).toBe(await hashFile(f2));
    const manifestJson = JSON.parse(await sh('tar', ['-xOf', f1, 'manifest.json']));
    expect(manifestJson.map((m: { Config: string; RepoTags: string[] }) => [m.Config, m.RepoTags])).toEqual([
      [`blobs/sha256/${b.config.digest.slice(7)}`, ['multi:arm']],
      [`blobs/sha256/${a.config.digest.slice(7)}`, []],
    ]);
    expect(JSON.parse(await sh('skopeo', ['inspect', `docker-archive:${f1}:multi:arm`])).Architecture).toBe('arm64');
    const err = await writeDockerArchive(store, images, path.join(tmp, 'd3.tar'), { platform: { os: 'linux', architecture: 's390x' } }).catch((e) => e);
    expect(err).toBeInstanceOf(OcibuildError);
    expect(err.code).toBe('PLATFORM_NOT_FOUND');
    expect(err.message).toContain('linux/amd64, linux/arm64');
  });
});

describe('readImage', () => {
  it('follows an index by platform and checks what it reads', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const a = await buildImage(store, 'amd64');
    const b = await buildImage(store, 'arm64');
    const index = createIndex([a.manifest, b.manifest]);
    await store.writeBlob(index.bytes);
    const r = await readImage(store, index.descriptor, { os: 'linux', architecture: 'aarch64' });
    expect(r.descriptor.digest).toBe(b.manifest.digest);
    expect(r.config.architecture).toBe('arm64');
    expect(r.index?.descriptor.digest).toBe(index.descriptor.digest);
    expect(sha256(r.manifestBytes)).toBe(b.manifest.digest);
    // A single manifest for another platform, asked explicitly.
    await expect(readImage(store, a.manifest, { os: 'linux', architecture: 'arm64' })).rejects.toMatchObject({ code: 'PLATFORM_NOT_FOUND' });
    expect((await collectBlobs(store, index.descriptor)).length).toBe(9);
    // diff_ids and layers must agree.
    const cfg = createConfigBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    await store.writeBlob(cfg.bytes);
    const bad = createManifest(cfg.descriptor, [a.layers[0]!.desc]);
    await store.writeBlob(bad.bytes);
    await expect(readImage(store, bad.descriptor)).rejects.toMatchObject({ code: 'MANIFEST_INVALID' });
  });
});

/** A test applier: GNU tar extracts, then whiteouts are applied (the real one is src/layers' applyLayer). */
const tarApplier: ApplyLayerFn = async (stream: Readable, rootDir: string) => {
  const child = spawn('tar', ['-x', '-C', rootDir], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  stream.pipe(child.stdin);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`tar -x failed: ${err}`);
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.name.startsWith('.wh.')) {
        await fs.rm(path.join(dir, e.name.slice(4)), { recursive: true, force: true });
        await fs.rm(p);
      } else if (e.isDirectory()) await walk(p);
    }
  };
  await walk(rootDir);
};

describe('writeLocal', () => {
  it('applies the layers in order (src/layers applyLayer: whiteouts, links) and verifies each diffId', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const img = await buildImage(store);
    const dest = path.join(tmp, 'rootfs');
    const res = await writeLocal(store, img.manifest, dest);
    expect(res.diffIds).toEqual(img.layers.map((l) => l.diffId));
    expect(await listTree(dest)).toEqual(await expectedTree());
    // A multi-platform image: the requested platform's tree.
    const arm = await buildImage(store, 'arm64');
    const index = createIndex([img.manifest, arm.manifest]);
    await store.writeBlob(index.bytes);
    const armDest = path.join(tmp, 'rootfs-arm');
    const r2 = await writeLocal(store, index.descriptor, armDest, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(r2.descriptor.digest).toBe(arm.manifest.digest);
    expect(await listTree(armDest)).toEqual(await expectedTree('arm64'));
  });

  it('takes another applier when given one', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const img = await buildImage(store);
    const dest = path.join(tmp, 'rootfs');
    await writeLocal(store, img.manifest, dest, { applyLayer: tarApplier });
    expect(await listTree(dest)).toEqual(await expectedTree());
  });

  it('rejects a layer whose content does not match the config diff_id', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const img = await buildImage(store);
    const cfg = createConfigBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [img.layers[1]!.diffId, img.layers[1]!.diffId] } });
    await store.writeBlob(cfg.bytes);
    const m = createManifest(cfg.descriptor, img.layers.map((l) => l.desc));
    await store.writeBlob(m.bytes);
    await expect(writeLocal(store, m.descriptor, path.join(tmp, 'rootfs'))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('refuses layer media types it cannot decompress before writing anything', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const img = await buildImage(store);
    const m = createManifest(img.config, [{ ...img.layers[0]!.desc, mediaType: 'application/x-unknown' }, img.layers[1]!.desc]);
    await store.writeBlob(m.bytes);
    const dest = path.join(tmp, 'never');
    await expect(writeLocal(store, m.descriptor, dest)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await expect(fs.access(dest)).rejects.toThrow();
  });

  it('issue 7: writes no device nodes unless asked (devices: true), lists them as skipped; fifos are written', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const { writeLayer } = await import('../layers/write.js');
    const chunks: Buffer[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (chunks.push(Buffer.from(c)), cb()) });
    const layer = await writeLayer(
      [
        { path: 'dev', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
        { path: 'dev/disk', type: 'block', mode: 0o666, uid: 0, gid: 0, devmajor: 252, devminor: 0 },
        { path: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, devmajor: 1, devminor: 3 },
        { path: 'dev/pipe', type: 'fifo', mode: 0o600, uid: 0, gid: 0 },
      ],
      sink,
      { compression: 'gzip' },
    );
    const blob = Buffer.concat(chunks);
    await store.writeBlob(blob);
    const cfg = createConfigBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.diffId] } });
    await store.writeBlob(cfg.bytes);
    const m = createManifest(cfg.descriptor, [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }]);
    await store.writeBlob(m.bytes);
    const dest = path.join(tmp, 'rootfs');
    const res = await writeLocal(store, m.descriptor, dest);
    expect(res.skipped.map((s) => s.path).sort()).toEqual(['dev/disk', 'dev/null']);
    expect(res.skipped[0]!.reason).toMatch(/device/);
    await expect(fs.lstat(path.join(dest, 'dev/disk'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.lstat(path.join(dest, 'dev/null'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await fs.lstat(path.join(dest, 'dev/pipe'))).isFIFO()).toBe(true);
    if (process.getuid?.() === 0) {
      const asked = path.join(tmp, 'asked');
      const r2 = await writeLocal(store, m.descriptor, asked, { devices: true });
      expect(r2.skipped).toEqual([]);
      const st = await fs.lstat(path.join(asked, 'dev/disk'));
      expect(st.isBlockDevice()).toBe(true);
      expect((await fs.lstat(path.join(asked, 'dev/null'))).isCharacterDevice()).toBe(true);
    }
  });
});
