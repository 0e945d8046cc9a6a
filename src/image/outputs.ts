import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcibuildError, isOcibuildError } from '../errors.js';
import { digestAlgorithm, digestHex, type Digest } from '../oci/digest.js';
import { MediaType, isIndexMediaType } from '../oci/media-types.js';
import type { BlobSource, Descriptor, Platform } from '../oci/types.js';
import { canonicalDescriptor } from './json.js';
import { familiarImageName, familiarRepository, formatImageName, parseImageName } from './names.js';
import { collectBlobs, readImage } from './read.js';
import { archiveStream, type ArchiveEntry } from './tar.js';

/** Annotation an OCI layout uses to name a tag. */
const REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd's (and Docker's) annotation with the full image name. */
const IMAGE_NAME = 'io.containerd.image.name';
const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

/** An image to write: a manifest or index descriptor and the names to give it. */
export interface OutputImage {
  descriptor: Descriptor;
  /** Image names (`app`, `app:1.0`, `registry.example.com/team/app:1.0`); may be empty. */
  tags: readonly string[];
}

/** Options of writeOciLayout. */
export interface OciLayoutOptions {
  /** Write a tarball of the layout to `dest` instead of a directory (default false). */
  tar?: boolean;
  /** mtime of tar entries, seconds since the epoch (default 0: reproducible). */
  mtime?: number;
}

/** Options of writeDockerArchive. */
export interface DockerArchiveOptions {
  /** Platform to pick when an image descriptor is an index (default: the host's). */
  platform?: Platform;
  /** mtime of tar entries, seconds since the epoch (default 0: reproducible). */
  mtime?: number;
}

/** What an output writer wrote. */
export interface OutputResult {
  /** Entries of the written index.json. */
  manifests: Descriptor[];
  /** Number of blobs written (or already present in a layout directory). */
  blobs: number;
  /** Total bytes of those blobs. */
  blobBytes: number;
}

function blobName(d: Digest): string {
  return `blobs/${digestAlgorithm(d)}/${digestHex(d)}`;
}

/** Parsed tag: full normalized name and the tag part, as containerd's archive exporter names them. */
function parseTag(name: string) {
  const parsed = parseImageName(name);
  if (parsed.tag === undefined) {
    throw new OcibuildError('REFERENCE_INVALID', `${JSON.stringify(name)} names a digest, not a tag`);
  }
  return { parsed, full: formatImageName(parsed), tag: parsed.tag };
}

/**
 * index.json entries for an image: one per tag with `io.containerd.image.name`
 * (full name) and `org.opencontainers.image.ref.name` (the tag, as containerd
 * and BuildKit write OCI layouts), or one plain entry when there are no tags.
 */
function indexEntries(descriptor: Descriptor, tags: readonly string[]): Descriptor[] {
  const base = canonicalDescriptor({ ...descriptor, annotations: undefined });
  if (tags.length === 0) return [base];
  return tags.map((t) => {
    const { full, tag } = parseTag(t);
    return { ...base, annotations: { [IMAGE_NAME]: full, [REF_NAME]: tag } };
  });
}

async function writeDest(dest: string | Writable, entries: ArchiveEntry[], mtime: number | undefined): Promise<void> {
  const stream = archiveStream(entries, { mtime });
  if (typeof dest !== 'string') {
    try {
      await pipeline(stream, dest);
    } catch (e) {
      throw wrapOutput(e, 'the output stream');
    }
    return;
  }
  const tmp = path.join(path.dirname(path.resolve(dest)), `.${path.basename(dest)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await pipeline(stream, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
    await fs.rename(tmp, dest);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw wrapOutput(e, dest);
  }
}

function wrapOutput(e: unknown, dest: string): OcibuildError {
  if (isOcibuildError(e)) return e;
  return new OcibuildError('OUTPUT_INVALID', `cannot write ${dest}: ${(e as Error).message}`, { cause: e });
}

function blobEntries(source: BlobSource, blobs: Descriptor[]): ArchiveEntry[] {
  const dirs = new Set<string>();
  const sorted = [...blobs].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const out: ArchiveEntry[] = [{ name: 'blobs', type: 'directory' }];
  for (const b of sorted) {
    const dir = `blobs/${digestAlgorithm(b.digest)}`;
    if (!dirs.has(dir)) {
      dirs.add(dir);
      out.push({ name: dir, type: 'directory' });
    }
  }
  for (const b of sorted) {
    out.push({ name: blobName(b.digest), type: 'file', size: b.size, open: () => source.open(b.digest, b.size) });
  }
  // Directories first, then blobs in digest order.
  return out;
}

/**
 * Write an image as an OCI image layout: a directory (merged into an existing
 * layout there, replacing entries with the same names) or, with `tar`, a
 * reproducible tarball of it (`dest` a file path, or a stream). Every blob is
 * streamed from `source` and verified on the way.
 */
export async function writeOciLayout(
  source: BlobSource,
  image: OutputImage,
  dest: string | Writable,
  options: OciLayoutOptions = {},
): Promise<OutputResult> {
  const entries = indexEntries(image.descriptor, image.tags);
  const blobs = await collectBlobs(source, image.descriptor);
  const blobBytes = blobs.reduce((a, b) => a + b.size, 0);
  if (options.tar || typeof dest !== 'string') {
    const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries };
    const files: ArchiveEntry[] = [
      { name: 'oci-layout', type: 'file', data: Buffer.from(OCI_LAYOUT) },
      { name: 'index.json', type: 'file', data: Buffer.from(JSON.stringify(index)) },
      ...blobEntries(source, blobs),
    ];
    await writeDest(dest, files, options.mtime);
    return { manifests: entries, blobs: blobs.length, blobBytes };
  }
  try {
    return await writeLayoutDir(source, dest, entries, blobs, blobBytes);
  } catch (e) {
    throw wrapOutput(e, dest);
  }
}

async function writeLayoutDir(source: BlobSource, dir: string, entries: Descriptor[], blobs: Descriptor[], blobBytes: number): Promise<OutputResult> {
  await fs.mkdir(dir, { recursive: true });
  const layoutFile = path.join(dir, 'oci-layout');
  const indexFile = path.join(dir, 'index.json');
  let existing: Descriptor[] = [];
  const names = await fs.readdir(dir);
  if (names.includes('oci-layout')) {
    const layout = JSON.parse(await fs.readFile(layoutFile, 'utf8')) as { imageLayoutVersion?: string };
    if (layout.imageLayoutVersion !== '1.0.0') throw new OcibuildError('OUTPUT_INVALID', `${dir} holds an OCI layout of unsupported version ${JSON.stringify(layout.imageLayoutVersion)}`);
    if (names.includes('index.json')) {
      const idx = JSON.parse(await fs.readFile(indexFile, 'utf8')) as { manifests?: Descriptor[] };
      existing = Array.isArray(idx.manifests) ? idx.manifests : [];
    }
  } else if (names.length > 0) {
    throw new OcibuildError('OUTPUT_INVALID', `${dir} is not empty and not an OCI layout; refusing to write into it`);
  }
  for (const b of blobs) {
    const file = path.join(dir, blobName(b.digest));
    const st = await fs.stat(file).catch(() => undefined);
    if (st?.isFile() && st.size === b.size) continue;
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await pipeline(await source.open(b.digest, b.size), createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      await fs.rename(tmp, file);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
  }
  // Replace entries naming the same image (full name) or the same ref.name; an untagged write replaces nothing.
  const newNames = new Set(entries.map((e) => e.annotations?.[IMAGE_NAME]).filter(Boolean));
  const newRefs = new Set(entries.map((e) => e.annotations?.[REF_NAME]).filter(Boolean));
  const kept = existing.filter((e) => {
    const n = e.annotations?.[IMAGE_NAME];
    const r = e.annotations?.[REF_NAME];
    if (n !== undefined && newNames.has(n)) return false;
    if (r !== undefined && newRefs.has(r)) return false;
    return !(r === undefined && n === undefined && entries.some((x) => !x.annotations && x.digest === e.digest));
  });
  const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...kept, ...entries] };
  const tmpIndex = `${indexFile}.tmp-${randomBytes(6).toString('hex')}`;
  await fs.writeFile(tmpIndex, JSON.stringify(index), { mode: 0o644 });
  await fs.rename(tmpIndex, indexFile);
  if (!names.includes('oci-layout')) await fs.writeFile(layoutFile, OCI_LAYOUT, { mode: 0o644 });
  return { manifests: index.manifests, blobs: blobs.length, blobBytes };
}

/**
 * Write a `docker load` archive: `manifest.json` (Config, RepoTags, Layers),
 * `repositories`, and the blobs under `blobs/<alg>/<hex>` with an OCI
 * `index.json` and `oci-layout` beside them, as `docker save` has written
 * since Docker 25. Layers pass through as stored (gzip, zstd or plain tar:
 * `docker load` decompresses each and checks it against the config's
 * diff_ids). An index descriptor is resolved to one platform
 * (`options.platform`, default the host's): an archive holds one image per entry.
 */
export async function writeDockerArchive(
  source: BlobSource,
  images: readonly OutputImage[],
  dest: string | Writable,
  options: DockerArchiveOptions = {},
): Promise<OutputResult> {
  if (images.length === 0) throw new OcibuildError('OUTPUT_INVALID', 'no image to write into the docker archive');
  const manifestJson: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const indexManifests: Descriptor[] = [];
  const blobs = new Map<string, Descriptor>();
  for (const image of images) {
    // The platform choice applies to indexes; a single manifest is taken as it is.
    const resolved = await readImage(source, image.descriptor, isIndexMediaType(image.descriptor.mediaType) ? options.platform : undefined);
    const { manifest, config } = resolved;
    const manifestDesc = canonicalDescriptor({ ...resolved.descriptor, annotations: undefined });
    manifestDesc.platform = { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
    const repoTags: string[] = [];
    for (const t of image.tags) {
      const { parsed, full, tag } = parseTag(t);
      repoTags.push(familiarImageName({ ...parsed, digest: undefined }));
      // Docker names the top layer's file here; ours is the layer blob as stored.
      const last = manifest.layers.at(-1);
      if (last) (repositories[familiarRepository(parsed)] ??= {})[tag] = digestHex(last.digest);
      indexManifests.push({ ...manifestDesc, annotations: { [IMAGE_NAME]: full, [REF_NAME]: tag } });
    }
    if (image.tags.length === 0) indexManifests.push(manifestDesc);
    for (const d of [manifestDesc, manifest.config, ...manifest.layers]) {
      if (!blobs.has(d.digest)) blobs.set(d.digest, { mediaType: d.mediaType, digest: d.digest, size: d.size });
    }
    manifestJson.push({ Config: blobName(manifest.config.digest), RepoTags: repoTags, Layers: manifest.layers.map((l) => blobName(l.digest)) });
  }
  const list = [...blobs.values()];
  const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: indexManifests };
  const files: ArchiveEntry[] = [
    { name: 'oci-layout', type: 'file', data: Buffer.from(OCI_LAYOUT) },
    { name: 'index.json', type: 'file', data: Buffer.from(JSON.stringify(index)) },
    { name: 'manifest.json', type: 'file', data: Buffer.from(JSON.stringify(manifestJson)) },
  ];
  if (Object.keys(repositories).length > 0) files.push({ name: 'repositories', type: 'file', data: Buffer.from(JSON.stringify(repositories)) });
  files.push(...blobEntries(source, list));
  await writeDest(dest, files, options.mtime);
  return { manifests: indexManifests, blobs: list.length, blobBytes: list.reduce((a, b) => a + b.size, 0) };
}
