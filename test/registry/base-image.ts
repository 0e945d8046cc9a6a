/**
 * A busybox base image built OFFLINE from Debian's busybox-static with real
 * tools (GNU tar, gzip, sha256 via node:crypto over the written files), not
 * with ocibuild's own code, as an OCI image layout. Used as the base image of
 * registry and build tests.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, type TestRegistry } from './harness.js';

/** OCI platform of a test image. */
export interface TestPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Options of {@link makeBusyboxImage}. */
export interface BusyboxImageOptions {
  /** Platform written in the config and index (default linux/amd64). The binary is the host's busybox. */
  platform?: TestPlatform;
  /** Tag (`org.opencontainers.image.ref.name`) in index.json; default `latest`. */
  tag?: string;
  /** Path of the busybox binary; default /bin/busybox (Debian busybox-static). */
  busybox?: string;
  /** `created` of the config; default 2024-01-01T00:00:00Z. */
  created?: string;
}

/** What {@link makeBusyboxImage} wrote. */
export interface BusyboxImage {
  dir: string;
  tag: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigest: string;
  diffId: string;
}

async function fileDigest(file: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of createReadStream(file)) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

async function writeBlob(dir: string, data: string | Buffer): Promise<{ digest: string; size: number }> {
  const buf = Buffer.from(data);
  const digest = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
  await writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), buf);
  return { digest, size: buf.length };
}

async function moveBlob(dir: string, file: string): Promise<{ digest: string; size: number }> {
  const d = await fileDigest(file);
  await rename(file, path.join(dir, 'blobs', 'sha256', d.digest.slice(7)));
  return d;
}

/** Create an empty OCI layout in `dir`. */
export async function initLayout(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
}

/** Write index.json naming `entries`. */
export async function writeLayoutIndex(dir: string, entries: Array<{ mediaType: string; digest: string; size: number; tag?: string; platform?: TestPlatform }>): Promise<void> {
  const manifests = entries.map((e) => ({
    mediaType: e.mediaType,
    digest: e.digest,
    size: e.size,
    ...(e.platform ? { platform: e.platform } : {}),
    ...(e.tag ? { annotations: { 'org.opencontainers.image.ref.name': e.tag } } : {}),
  }));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
}

/**
 * Write an image manifest + config for `layers` (files already in the
 * layout, with their diffIds) and return the manifest descriptor.
 */
export async function writeImage(
  dir: string,
  layers: Array<{ digest: string; size: number; diffId: string; mediaType?: string }>,
  options: { platform?: TestPlatform; created?: string; cmd?: string[] } = {},
): Promise<{ digest: string; size: number; configDigest: string }> {
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const config = {
    created: options.created ?? '2024-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: options.cmd ?? ['sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: options.created ?? '2024-01-01T00:00:00Z', created_by: 'test layer' })),
  };
  const cfg = await writeBlob(dir, JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  };
  const m = await writeBlob(dir, JSON.stringify(manifest));
  return { digest: m.digest, size: m.size, configDigest: cfg.digest };
}

/**
 * Build the busybox layer (tar.gz with /bin/busybox and its applet links) into the layout;
 * `compression: 'zstd'` compresses it with the zstd program instead (media type tar+zstd).
 */
export async function writeBusyboxLayer(dir: string, busybox = '/bin/busybox', compression: 'gzip' | 'zstd' = 'gzip'): Promise<{ digest: string; size: number; diffId: string; mediaType: string }> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-busybox-'));
  try {
    const root = path.join(work, 'rootfs');
    for (const d of ['bin', 'etc', 'tmp', 'root', 'usr/bin', 'usr/sbin', 'sbin']) await mkdir(path.join(root, d), { recursive: true });
    await copyFile(busybox, path.join(root, 'bin', 'busybox'));
    const applets = (await run(busybox, ['--list'])).split('\n').filter((a) => a && a !== 'busybox');
    for (const a of applets) await symlink('busybox', path.join(root, 'bin', a));
    await writeFile(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    await writeFile(path.join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    const tarFile = path.join(work, 'layer.tar');
    await run('tar', ['--sort=name', '--mtime=@1704067200', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', tarFile, '.']);
    const diff = await fileDigest(tarFile);
    if (compression === 'zstd') {
      await run('zstd', ['-q', '-3', '--rm', tarFile]);
      const blob = await moveBlob(dir, `${tarFile}.zst`);
      return { ...blob, diffId: diff.digest, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' };
    }
    await run('gzip', ['-n', '-6', tarFile]);
    const blob = await moveBlob(dir, `${tarFile}.gz`);
    return { ...blob, diffId: diff.digest, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Build a busybox image as an OCI layout in `dir` (created when missing). */
export async function makeBusyboxImage(dir: string, options: BusyboxImageOptions = {}): Promise<BusyboxImage> {
  await initLayout(dir);
  const layer = await writeBusyboxLayer(dir, options.busybox);
  const tag = options.tag ?? 'latest';
  const m = await writeImage(dir, [layer], { platform: options.platform, created: options.created });
  await writeLayoutIndex(dir, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size, tag }]);
  return { dir, tag, manifestDigest: m.digest, manifestSize: m.size, configDigest: m.configDigest, layerDigest: layer.digest, diffId: layer.diffId };
}

/**
 * A multi-platform busybox image: one manifest per platform (the same
 * layer, configs differing by platform) under an OCI index tagged `tag`.
 */
export async function makeMultiPlatformImage(dir: string, platforms: TestPlatform[], tag = 'latest'): Promise<{ indexDigest: string; manifests: Array<{ digest: string; size: number; platform: TestPlatform }> }> {
  await initLayout(dir);
  const layer = await writeBusyboxLayer(dir);
  const manifests: Array<{ digest: string; size: number; platform: TestPlatform }> = [];
  for (const p of platforms) {
    const m = await writeImage(dir, [layer], { platform: p });
    manifests.push({ digest: m.digest, size: m.size, platform: p });
  }
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: manifests.map((m) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size, platform: m.platform })),
  };
  const idx = await writeBlob(dir, JSON.stringify(index));
  await writeLayoutIndex(dir, [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: idx.digest, size: idx.size, tag }]);
  return { indexDigest: idx.digest, manifests };
}

/**
 * Push an OCI layout image to a test registry with `skopeo copy`
 * (`format: 'v2s2'` converts to Docker schema2; `all` copies every platform of an index).
 */
export async function pushBaseImage(
  registry: TestRegistry,
  layoutDir: string,
  target: string,
  options: { tag?: string; format?: 'oci' | 'v2s2'; all?: boolean } = {},
): Promise<void> {
  const args = ['copy', '--quiet', ...registry.skopeoFlags('dest')];
  if (options.format) args.push('--format', options.format);
  if (options.all) args.push('--all');
  args.push(`oci:${layoutDir}:${options.tag ?? 'latest'}`, `docker://${registry.host}/${target}`);
  await run('skopeo', args);
}

/** Size of a file (helper for tests). */
export async function fileSize(file: string): Promise<number> {
  return (await stat(file)).size;
}

/**
 * An image whose layers are files of random (incompressible) bytes, made
 * with `head -c N /dev/urandom` and GNU tar, uncompressed
 * (`application/vnd.oci.image.layer.v1.tar`, so digest = diffId). Streamed to
 * disk, never held in memory.
 */
export async function makeRandomImage(dir: string, layerSizes: number[], tag = 'latest'): Promise<{ manifestDigest: string; layers: Array<{ digest: string; size: number }> }> {
  await initLayout(dir);
  const work = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-random-'));
  try {
    const layers: Array<{ digest: string; size: number; diffId: string }> = [];
    for (const [i, size] of layerSizes.entries()) {
      const root = path.join(work, `l${i}`);
      await mkdir(root, { recursive: true });
      await run('sh', ['-c', `head -c ${size} /dev/urandom > "$1"`, 'sh', path.join(root, `random-${i}.bin`)]);
      const tarFile = path.join(work, `l${i}.tar`);
      await run('tar', ['--sort=name', '--mtime=@1704067200', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', tarFile, '.']);
      await rm(root, { recursive: true, force: true });
      const b = await moveBlob(dir, tarFile);
      layers.push({ ...b, diffId: b.digest });
    }
    const config = {
      created: '2024-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    };
    const cfg = await writeBlob(dir, JSON.stringify(config));
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.size })),
    };
    const m = await writeBlob(dir, JSON.stringify(manifest));
    await writeLayoutIndex(dir, [{ mediaType: manifest.mediaType, digest: m.digest, size: m.size, tag }]);
    return { manifestDigest: m.digest, layers: layers.map((l) => ({ digest: l.digest, size: l.size })) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
