/**
 * Remote step caches (`--cache-from`, `--cache-to`): the step cache shared
 * through a registry, an OCI layout directory, or attached to the pushed
 * image (inline), as a plain OCI artifact (src/cache/cache-artifact.ts).
 *
 * Import reads the cache manifest and its small record blob only. A hit's
 * layer is downloaded when something reads it (a later RUN's lower dirs, a
 * COPY --from, the output) and then verified (digest, size, diffId); a hit
 * only pushed again to the cache's registry is mounted, not downloaded.
 * Local hits come first; remote hits whose bytes arrived are written
 * through to the local step cache. An export never breaks a build: a failure
 * is a warning (an error only with `ignore-error=false`).
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable, Writable, pipeline as pipelineCb } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from './layers/gzip.js';
import { CACHE_ARTIFACT_TYPE, MAX_CACHE_CONFIG, isCacheManifest, makeCacheArtifact, readCacheArtifact, type CacheEntry } from './cache/cache-artifact.js';
import type { CacheExportSpec, CacheImportSpec } from './cache/cache-spec.js';
import type { StepCache, StepRecord } from './cache/step-cache.js';
import type { Store } from './cache/store.js';
import { compressionOfMediaType } from './oci/compression.js';
import { OcibuildError, isOcibuildError } from './errors.js';
import { inVertex, type ProgressSink } from './engine/progress.js';
import { VerifyStream, digestHex, isDigest, sha256, type Digest } from './oci/digest.js';
import { MediaType } from './oci/media-types.js';
import type { BlobSource, Descriptor, ImageIndex, ImageManifest } from './oci/types.js';
import { pushImage } from './push/index.js';
import { fetchManifest, normalizeReference, openBlob, pullBlob, referenceName, type ImageReference, type RegistryClient } from './registry/index.js';
import { getHeader } from './registry/client.js';
import { readText } from './registry/pull.js';

/** Tag suffix of an inline cache: the artifact attached to image `sha256:<hex>` is tagged `sha256-<hex>.cache` in its repository. */
export const INLINE_CACHE_TAG_SUFFIX = '.cache';

/** The tag an inline cache of the image with this digest gets. */
export function inlineCacheTag(digest: Digest): string {
  return `sha256-${digestHex(digest)}${INLINE_CACHE_TAG_SUFFIX}`;
}

/** One imported cache: its records, and how to read its blobs. */
interface CacheSource {
  /** How `--explain` and warnings name it (a reference or a directory). */
  name: string;
  records: Map<string, StepRecord>;
  /** True when the source holds the layer with this size (HEAD, or a stat of the layout's blob). */
  check(layer: Descriptor): Promise<boolean>;
  /** Copies a layer into the store (digest and size verified); `onBytes` hears the bytes received so far. */
  fetch(layer: Descriptor, store: Store, signal?: AbortSignal, onBytes?: (bytes: number, done: boolean) => void): Promise<void>;
  /** For a registry cache: its repository, for cross-repository mounts. */
  repository?: ImageReference;
}

/** What a build needs to talk to registries. */
export interface CacheIo {
  store: Store;
  client: () => Promise<RegistryClient>;
  warn(message: string): void;
  signal?: AbortSignal;
  /** Progress of downloads of cached layers (a vertex each). */
  onProgress?: ProgressSink;
  now: () => number;
}

function isNotFound(e: unknown): boolean {
  return isOcibuildError(e) && (e.code === 'REGISTRY_NOT_FOUND' || e.code === 'IMAGE_NOT_FOUND' || e.code === 'BLOB_NOT_FOUND');
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function readRegistryCache(client: RegistryClient, ref: string, signal?: AbortSignal): Promise<{ source: CacheSource; warnings: string[] }> {
  const reference = normalizeReference(ref);
  const repo: ImageReference = { domain: reference.domain, path: reference.path };
  let fetched = await fetchManifest(client, reference, { ...(signal ? { signal } : {}) });
  if (fetched.kind !== 'manifest' || !isCacheManifest(fetched.manifest)) {
    // An image (or index): its inline cache is the artifact attached to it.
    fetched = await fetchManifest(client, repo, { target: inlineCacheTag(fetched.digest), ...(signal ? { signal } : {}) });
    if (fetched.kind !== 'manifest' || !isCacheManifest(fetched.manifest)) {
      throw new OcibuildError('MANIFEST_INVALID', `${ref}: the inline cache tag holds something else than an ocibuild cache`);
    }
  }
  const manifest = fetched.manifest;
  if (manifest.config.size > MAX_CACHE_CONFIG) throw new OcibuildError('MANIFEST_INVALID', `${ref}: cache record blob of ${manifest.config.size} bytes is too large`);
  const body = await openBlob(client, repo, manifest.config, { ...(signal ? { signal } : {}) });
  const text = await readText(body, MAX_CACHE_CONFIG);
  const { records, warnings } = readCacheArtifact(manifest, Buffer.from(text, 'utf8'), `cache ${ref}`);
  const sizes = new Map<string, Promise<boolean>>();
  const source: CacheSource = {
    name: ref,
    records,
    repository: repo,
    check(layer) {
      let p = sizes.get(layer.digest);
      if (!p) {
        p = (async () => {
          const res = await client.request({
            registry: repo.domain,
            method: 'HEAD',
            path: `/v2/${repo.path}/blobs/${layer.digest}`,
            scopes: [{ repository: repo.path, actions: ['pull'] }],
            accept: [404],
            what: `check cache blob ${layer.digest} of ${referenceName(repo)}`,
            ...(signal ? { signal } : {}),
          });
          await res.body.dump();
          if (res.status === 404) return false;
          const len = getHeader(res, 'content-length');
          return len === undefined || Number(len) === layer.size;
        })();
        sizes.set(layer.digest, p);
      }
      return p;
    },
    async fetch(layer, store, sig, onBytes) {
      await pullBlob(client, repo, layer, store, {
        ...(sig ? { signal: sig } : {}),
        ...(onBytes ? { onProgress: (e) => e.phase !== 'waiting' && onBytes(e.bytes, e.phase === 'done' || e.phase === 'exists') } : {}),
      });
    },
  };
  return { source, warnings };
}

const REF_NAME = 'org.opencontainers.image.ref.name';

async function readLayoutBlob(dir: string, d: Descriptor, limit: number): Promise<Buffer> {
  if (!isDigest(d.digest) || d.size > limit) throw new OcibuildError('MANIFEST_INVALID', `${dir}: bad descriptor ${d.digest}`);
  const bytes = await fs.readFile(path.join(dir, 'blobs', 'sha256', digestHex(d.digest))).catch((e: unknown) => {
    throw new OcibuildError('BLOB_NOT_FOUND', `blob ${d.digest} is not in the OCI layout ${dir}`, { cause: e });
  });
  if (bytes.length !== d.size || sha256(bytes) !== d.digest) throw new OcibuildError('DIGEST_MISMATCH', `${dir}: blob ${d.digest} does not match its descriptor`);
  return bytes;
}

async function readLocalCache(dir: string, tag: string | undefined): Promise<{ source: CacheSource; warnings: string[] }> {
  let index: ImageIndex;
  try {
    index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')) as ImageIndex;
  } catch (e) {
    throw new OcibuildError('IMAGE_NOT_FOUND', `${dir} is not an OCI layout (no readable index.json)`, { cause: e });
  }
  const entries = (index.manifests ?? []).filter((m) => (tag ? m.annotations?.[REF_NAME] === tag : m.artifactType === CACHE_ARTIFACT_TYPE || m.mediaType === MediaType.ociManifest));
  for (const entry of entries) {
    const manifest = JSON.parse((await readLayoutBlob(dir, entry, MAX_CACHE_CONFIG)).toString('utf8')) as ImageManifest;
    if (!isCacheManifest(manifest)) continue;
    const config = await readLayoutBlob(dir, manifest.config, MAX_CACHE_CONFIG);
    const { records, warnings } = readCacheArtifact(manifest, config, `cache ${dir}`);
    const blob = (d: Descriptor) => path.join(dir, 'blobs', 'sha256', digestHex(d.digest));
    return {
      source: {
        name: dir,
        records,
        async check(layer) {
          const st = await fs.stat(blob(layer)).catch(() => undefined);
          return st !== undefined && st.size === layer.size;
        },
        async fetch(layer, store) {
          if ((await store.stat(layer.digest))?.size === layer.size) return;
          const src = pipelineCb(createReadStream(blob(layer)), new VerifyStream(layer.digest, layer.size, `cache blob ${layer.digest}`), () => undefined);
          await store.ingest(src, { digest: layer.digest, size: layer.size });
        },
      },
      warnings,
    };
  }
  throw new OcibuildError('IMAGE_NOT_FOUND', `${dir} holds no ocibuild cache${tag ? ` tagged ${tag}` : ''}`);
}

/** The uncompressed digest of a stored layer (gzip or plain tar). */
async function diffIdOf(store: Store, layer: Descriptor): Promise<Digest | undefined> {
  const gzip = /(\+gzip|\.gzip)$/.test(layer.mediaType);
  if (!gzip && !/\.tar$/.test(layer.mediaType)) return undefined; // other compressions: unpacking verifies it
  const h = createHash('sha256');
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (h.update(c), cb()) });
  const src = await store.open(layer.digest, layer.size);
  if (gzip) await pipeline(src, createGunzip(), sink);
  else await pipeline(src, sink);
  return `sha256:${h.digest('hex')}` as Digest;
}

/** The imported caches of one build, with the lazy layer fetcher over them. */
export class RemoteCaches {
  private readonly sources: CacheSource[] = [];
  /** Which source a hit's layer comes from (by digest). */
  private readonly origin = new Map<string, CacheSource>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly skipped = new Set<string>();

  private constructor(private readonly io: CacheIo) {}

  /**
   * Reads every `--cache-from` (manifest and record blob only). A cache that
   * is missing or unreadable is a warning: the build goes on without it.
   */
  static async load(specs: readonly CacheImportSpec[], io: CacheIo): Promise<RemoteCaches> {
    const caches = new RemoteCaches(io);
    for (const spec of specs) {
      const name = spec.type === 'registry' ? spec.ref : spec.src;
      try {
        const r = spec.type === 'registry' ? await readRegistryCache(await io.client(), spec.ref, io.signal) : await readLocalCache(path.resolve(spec.src), spec.tag);
        for (const w of r.warnings) io.warn(w);
        caches.sources.push(r.source);
      } catch (e) {
        if (io.signal?.aborted) throw e;
        io.warn(`cache ${name} was not imported: ${isNotFound(e) ? 'not found' : message(e)}`);
      }
    }
    return caches;
  }

  /** Number of imported caches. */
  get size(): number {
    return this.sources.length;
  }

  /** `local` first, then each imported cache in order; a remote hit carries `source`. */
  stepCache(local: StepCache): StepCache {
    return {
      get: async (key) => {
        const hit = await local.get(key);
        if (hit) return hit;
        for (const src of this.sources) {
          const r = src.records.get(key);
          if (!r) continue;
          if (r.layer) {
            const l = r.layer;
            const here = await this.io.store.stat(l.digest);
            if (!(here && here.size === l.size)) {
              let there: boolean;
              let why = 'is not there as recorded';
              try {
                there = await src.check(l);
              } catch (e) {
                if (this.io.signal?.aborted) throw e;
                there = false;
                why = `cannot be checked (${message(e)})`;
              }
              if (!there) {
                const id = `${src.name}|${l.digest}`;
                if (!this.skipped.has(id)) {
                  this.skipped.add(id);
                  this.io.warn(`cache ${src.name}: layer ${l.digest} of ${l.size} bytes ${why}: its records are skipped`);
                }
                continue;
              }
              if (!this.origin.has(l.digest)) this.origin.set(l.digest, src);
            }
          }
          return { ...r, source: src.name };
        }
        return undefined;
      },
      put: (key, record) => local.put(key, record),
    };
  }

  /** True when `digest` is a remote hit's layer not (yet) in the store. */
  async isRemote(digest: Digest): Promise<boolean> {
    return this.origin.has(digest) && !(await this.io.store.has(digest));
  }

  /** The registry repository a remote hit's layer can be mounted from, if any. */
  repositoryOf(digest: Digest): ImageReference | undefined {
    return this.origin.get(digest)?.repository;
  }

  /**
   * Makes a layer's blob present in the store: a remote hit's layer is
   * downloaded once (digest and size verified, then its diffId); anything
   * else is left to the store.
   */
  ensureLayer = async (layer: Descriptor & { diffId?: Digest }, signal?: AbortSignal): Promise<void> => {
    const src = this.origin.get(layer.digest);
    if (!src) return;
    let p = this.inflight.get(layer.digest);
    if (!p) {
      p = (async () => {
        if ((await this.io.store.stat(layer.digest))?.size === layer.size) return;
        const { onProgress: emit, now } = this.io;
        const vertex = `cache:${layer.digest}`;
        await inVertex(emit, now, { vertex, name: `[internal] download cached layer ${layer.digest.slice(0, 19)} from ${src.name}`, kind: 'pull' }, () =>
          src.fetch({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, this.io.store, signal ?? this.io.signal, emit
            ? (bytes, done) => emit({ type: 'status', time: now(), vertex, id: layer.digest, current: bytes, total: layer.size, ...(done ? { completed: true } : {}) })
            : undefined),
        );
        if (layer.diffId) {
          const got = await diffIdOf(this.io.store, layer);
          if (got !== undefined && got !== layer.diffId) {
            throw new OcibuildError('DIGEST_MISMATCH', `cache ${src.name}: layer ${layer.digest} uncompresses to ${got}, its record says ${layer.diffId}; drop that cache (or build with --no-cache)`);
          }
        }
      })();
      this.inflight.set(layer.digest, p);
      p.catch(() => this.inflight.delete(layer.digest));
    }
    await p;
  };

  /** A blob source over the store that downloads remote hits' layers on first read. */
  blobSource(): BlobSource {
    const store = this.io.store;
    return {
      has: (d) => store.has(d),
      open: async (d, size) => {
        const src = this.origin.get(d);
        if (src && size !== undefined) await this.ensureLayer({ mediaType: '', digest: d, size });
        return store.open(d, size);
      },
    };
  }
}

/** One step result a build saw, for exports and write-through. */
export interface SeenStep {
  /** Stage index, and whether the stage is part of the final image (its target or a stage it is built FROM). */
  stage: number;
  inFinalImage: boolean;
  key: string;
  record: StepRecord;
}

/** The entries an export of `mode` holds. */
export function exportEntries(seen: readonly SeenStep[], mode: 'min' | 'max'): CacheEntry[] {
  return seen.filter((s) => mode === 'max' || s.inFinalImage).map((s) => ({ key: s.key, record: { ...(s.record.layer ? { layer: s.record.layer } : {}), configChange: s.record.configChange ?? null, created: s.record.created } }));
}

/** Where each export went. */
export interface CacheExportRecord {
  type: CacheExportSpec['type'];
  /** The reference or directory written. */
  dest: string;
  /** The cache manifest's digest. */
  digest: Digest;
  /** Steps it holds. */
  steps: number;
}

async function writeLayoutBlob(dir: string, d: Descriptor, open: () => Promise<Readable>): Promise<void> {
  const file = path.join(dir, 'blobs', 'sha256', digestHex(d.digest));
  const st = await fs.stat(file).catch(() => undefined);
  if (st && st.size === d.size) return;
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const h = await fs.open(tmp, 'w');
    try {
      await pipeline(await open(), h.createWriteStream());
    } finally {
      await h.close().catch(() => undefined);
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Writes the artifact into an OCI layout (created when missing), its index entry tagged `tag`. */
async function exportLocal(dir: string, tag: string, artifact: ReturnType<typeof makeCacheArtifact>, source: BlobSource): Promise<void> {
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const l of artifact.layers) await writeLayoutBlob(dir, l, () => source.open(l.digest, l.size));
  for (const b of [artifact.config, artifact.manifest]) {
    await writeLayoutBlob(dir, b.descriptor, async () => Readable.from([b.bytes]));
  }
  let index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  try {
    index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')) as ImageIndex;
  } catch {
    // a new layout
  }
  const manifests = (index.manifests ?? []).filter((m) => m.annotations?.[REF_NAME] !== tag);
  manifests.push({ ...artifact.manifest.descriptor, artifactType: CACHE_ARTIFACT_TYPE, annotations: { [REF_NAME]: tag } });
  const tmp = path.join(dir, `index.json.tmp-${process.pid}`);
  await fs.writeFile(tmp, JSON.stringify({ ...index, manifests }));
  await fs.rename(tmp, path.join(dir, 'index.json'));
}

/** Pushes the artifact to `ref` (a tag; the layers remote hits left in another repository of that registry are mounted). */
async function exportRegistry(
  io: CacheIo,
  caches: RemoteCaches | undefined,
  ref: string,
  artifact: ReturnType<typeof makeCacheArtifact>,
  tag: string | undefined,
): Promise<Digest> {
  const reference = normalizeReference(ref);
  await io.store.writeBlob(artifact.config.bytes);
  await io.store.writeBlob(artifact.manifest.bytes);
  const r = await pushImage(await io.client(), caches ? caches.blobSource() : io.store, {
    reference,
    descriptor: artifact.manifest.descriptor,
    tags: tag ? [tag] : reference.tag ? [reference.tag] : ['latest'],
    origins: (d) => {
      const repo = caches?.repositoryOf(d);
      return repo ? [referenceName(repo)] : undefined;
    },
    ...(io.signal ? { signal: io.signal } : {}),
  });
  return r.digest;
}

/**
 * Runs every `--cache-to` but inline (those go with the pushed image: see
 * {@link exportInline}). A failure is a warning, or, with `ignore-error=false`,
 * the error thrown after every export was tried.
 */
export async function exportCaches(
  specs: readonly CacheExportSpec[],
  seen: readonly SeenStep[],
  io: CacheIo,
  caches: RemoteCaches | undefined,
  pushed: readonly { ref: string; descriptor: Descriptor }[],
): Promise<CacheExportRecord[]> {
  const out: CacheExportRecord[] = [];
  let fatal: OcibuildError | undefined;
  for (const spec of specs) {
    let entries = exportEntries(seen, spec.mode);
    const dest = spec.type === 'registry' ? spec.ref : spec.type === 'local' ? spec.dest : 'inline';
    try {
      entries = await compressEntries(entries, spec, io, caches);
      if (spec.type === 'inline') {
        if (pushed.length === 0) throw new OcibuildError('USAGE', 'type=inline attaches the cache to the pushed image, and this build pushes none (add --push or --output type=registry)');
        for (const p of pushed) {
          const artifact = makeCacheArtifact(entries, { subject: p.descriptor });
          const reference = normalizeReference(p.ref);
          const digest = await exportRegistry(io, caches, referenceName(reference), artifact, inlineCacheTag(p.descriptor.digest));
          out.push({ type: 'inline', dest: `${referenceName(reference)}:${inlineCacheTag(p.descriptor.digest)}`, digest, steps: entries.length });
        }
        continue;
      }
      const artifact = makeCacheArtifact(entries);
      if (spec.type === 'registry') {
        const digest = await exportRegistry(io, caches, spec.ref, artifact, undefined);
        out.push({ type: 'registry', dest: spec.ref, digest, steps: entries.length });
      } else {
        const dir = path.resolve(spec.dest);
        await exportLocal(dir, spec.tag ?? 'latest', artifact, caches ? caches.blobSource() : io.store);
        out.push({ type: 'local', dest: dir, digest: artifact.manifest.descriptor.digest, steps: entries.length });
      }
    } catch (e) {
      if (io.signal?.aborted) throw e;
      const why = `cache export to ${dest} failed: ${message(e)}`;
      if (!spec.ignoreError) fatal ??= new OcibuildError('CACHE_EXPORT', why, { cause: e, ...(isOcibuildError(e) && e.details ? { details: e.details } : {}) });
      else io.warn(why);
    }
  }
  if (fatal) throw fatal;
  return out;
}

/**
 * The entries with their layers in the export's compression: a layer already in it (and no level
 * asked) is kept; any other is converted once into the store (`convertLayerBlob`: diffId verified,
 * reproducible bytes, cached per source and settings), a remote hit's layer downloaded first.
 */
async function compressEntries(entries: CacheEntry[], spec: CacheExportSpec, io: CacheIo, caches: RemoteCaches | undefined): Promise<CacheEntry[]> {
  if (spec.compression === 'gzip' && spec.compressionLevel === undefined) return entries;
  const { convertLayerBlob } = await import('./output/convert.js');
  const target = { compression: spec.compression, ...(spec.compressionLevel !== undefined ? { level: spec.compressionLevel } : {}) };
  const out: CacheEntry[] = [];
  for (const e of entries) {
    const layer = e.record.layer;
    if (!layer || (compressionOfMediaType(layer.mediaType) === spec.compression && spec.compressionLevel === undefined)) {
      out.push(e);
      continue;
    }
    if (caches) await caches.ensureLayer(layer, io.signal);
    const converted = await convertLayerBlob(io.store, layer, target, io.signal ? { signal: io.signal } : {});
    out.push({ ...e, record: { ...e.record, layer: { mediaType: converted.mediaType, digest: converted.digest, size: converted.size, diffId: layer.diffId } } });
  }
  return out;
}

/** Writes remote hits whose layer is now in the store (or that have none) to the local step cache. */
export async function writeThrough(seen: readonly SeenStep[], store: Store, local: StepCache): Promise<number> {
  let n = 0;
  for (const s of seen) {
    if (s.record.source === undefined) continue;
    if (s.record.layer && (await store.stat(s.record.layer.digest))?.size !== s.record.layer.size) continue;
    const { source: _source, ...record } = s.record;
    await local.put(s.key, record);
    n++;
  }
  return n;
}

/**
 * For outputs that only push to registries: mounts each remote hit's layer
 * into the target repository from the cache's repository on the same
 * registry (no download). Layers that cannot be mounted are downloaded.
 */
export async function mountOrFetch(io: CacheIo, caches: RemoteCaches, layers: readonly (Descriptor & { diffId?: Digest })[], targets: readonly string[]): Promise<void> {
  for (const l of layers) {
    if (!(await caches.isRemote(l.digest))) continue;
    const from = caches.repositoryOf(l.digest);
    let ok = from !== undefined && targets.length > 0;
    for (const t of targets) {
      if (!ok) break;
      const target = normalizeReference(t);
      ok = target.domain === from!.domain && (target.path === from!.path || (await mountBlob(await io.client(), target, l.digest, from!.path, io.signal)));
    }
    if (!ok) await caches.ensureLayer(l);
  }
}

async function mountBlob(client: RegistryClient, target: ImageReference, digest: Digest, from: string, signal?: AbortSignal): Promise<boolean> {
  const res = await client.request({
    registry: target.domain,
    method: 'POST',
    path: `/v2/${target.path}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
    headers: { 'content-length': '0' },
    body: '',
    scopes: [
      { repository: target.path, actions: ['pull', 'push'] },
      { repository: from, actions: ['pull'] },
    ],
    what: `mount cache blob ${digest} from ${from}`,
    ...(signal ? { signal } : {}),
  });
  await res.body.dump();
  if (res.status === 201) return true;
  // 202: the registry started an upload instead; cancel it.
  const location = getHeader(res, 'location');
  if (location) {
    await client
      .request({ registry: target.domain, method: 'DELETE', path: new URL(location, res.url).toString(), accept: [404], what: `cancel upload of ${digest}`, scopes: [{ repository: target.path, actions: ['pull', 'push'] }] })
      .then((r) => r.body.dump())
      .catch(() => undefined);
  }
  return false;
}
