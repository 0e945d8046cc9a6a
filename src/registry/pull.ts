import { Transform, pipeline as pipelineCb, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import pLimit from 'p-limit';
import { OcibuildError, isOcibuildError } from '../errors.js';
import { VerifyStream, digestAlgorithm, type Digest } from '../oci/digest.js';
import type { BlobInfo, BlobSink, BlobSource, Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from '../oci/types.js';
import { getHeader, readLimited, timeoutError, timeoutKind as timeoutKindOf, type RegistryClient, type RegistryWait } from './client.js';
import { redactUrl } from './errors.js';
import { MANIFEST_ACCEPT, MAX_MANIFEST_SIZE, digestBytes, parseManifestBytes, type FetchedManifest } from './manifest.js';
import { formatPlatform, hostPlatform, normalizePlatform, selectPlatform } from './platform.js';
import { formatReference, normalizeReference, referenceTarget, withDigest, type ImageReference } from '../oci/reference.js';
import { isRetryableError, sleep } from './retry.js';
import type { RepositoryScope } from './auth.js';

/** Progress of a pull, one event per state change of a blob. */
export interface PullProgress {
  digest: Digest;
  /** `config`, `layer`, `manifest`, `index`. */
  kind: 'index' | 'manifest' | 'config' | 'layer';
  /**
   * `exists`: already in the sink, not downloaded. `waiting`: a request for
   * this blob has waited (no response, or a stalled body) `wait.waitedMs`, or
   * timed out (`wait.timedOut`; a `retry` follows when the budget allows).
   */
  phase: 'exists' | 'downloading' | 'done' | 'retry' | 'waiting';
  /** Bytes received so far (downloading) or total. */
  bytes: number;
  total: number;
  /** For `waiting`: which request, how long, and the limit. */
  wait?: RegistryWait;
}

/** Options of {@link pullImage}. */
export interface PullOptions {
  /** Where blobs (manifests, config, layers) are written; blobs it already has are not downloaded. */
  sink: BlobSink;
  /** Platform to pick from an index. Default: linux and this machine's architecture. */
  platform?: Platform;
  /**
   * Accept a single-platform image (no index) of another platform; the caller
   * warns (BuildKit's InvalidBaseImagePlatform). An index must still offer the platform.
   */
  acceptOtherPlatform?: boolean;
  /** Layers downloaded at once. Default 4. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (event: PullProgress) => void;
}

/** What a pull resolved and stored. */
export interface PullResult {
  /** The reference pulled, pinned to the digest of what the tag pointed at. */
  reference: ImageReference;
  /** Descriptor of what the reference resolved to (an index or a manifest). */
  descriptor: Descriptor;
  /** The index, when the reference resolved to one. */
  index?: ImageIndex;
  /** Descriptor of the platform's image manifest (equal to `descriptor` without an index). */
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  /** Descriptor of the config blob. */
  configDescriptor: Descriptor;
  /** Platform of the image (from its config). */
  platform: Platform;
  /** Registry host the content came from (a mirror or the origin). */
  source: string;
  /**
   * Full repository name (`registry/path`) holding these blobs: pass it in
   * `mountFrom` (or as the push's `origins`) so a push to another repository
   * of the same registry mounts the base layers instead of uploading them.
   */
  repository: string;
}

function pullScope(ref: ImageReference): RepositoryScope[] {
  return [{ repository: ref.path, actions: ['pull'] }];
}

/**
 * Fetch a manifest or index by tag or digest, with `Accept` for OCI and
 * Docker schema2. The bytes are verified against the requested digest, the
 * registry's `Docker-Content-Digest`, and `expected` (digest and size) when
 * given.
 */
export async function fetchManifest(
  client: RegistryClient,
  ref: ImageReference,
  options: { registry?: string; target?: string; expected?: Descriptor; signal?: AbortSignal } = {},
): Promise<FetchedManifest> {
  const registry = options.registry ?? ref.domain;
  const target = options.target ?? referenceTarget(ref);
  const what = `manifest ${formatReference({ domain: ref.domain, path: ref.path })}${target.includes(':') ? '@' : ':'}${target}`;
  for (let attempt = 0; ; attempt++) {
    const res = await client.request({
      registry,
      method: 'GET',
      path: `/v2/${ref.path}/manifests/${target}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: pullScope(ref),
      what: `pull ${what}`,
      signal: options.signal,
    });
    let bytes: Buffer;
    try {
      const len = Number(getHeader(res, 'content-length') ?? NaN);
      if (len > MAX_MANIFEST_SIZE) {
        await res.body.dump();
        throw new OcibuildError('MANIFEST_INVALID', `${what}: manifest of ${len} bytes exceeds the ${MAX_MANIFEST_SIZE} byte limit`);
      }
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of res.body) {
        n += (c as Buffer).length;
        if (n > MAX_MANIFEST_SIZE) {
          res.body.destroy();
          throw new OcibuildError('MANIFEST_INVALID', `${what}: manifest exceeds the ${MAX_MANIFEST_SIZE} byte limit`);
        }
        chunks.push(c as Buffer);
      }
      bytes = Buffer.concat(chunks);
      if (!Number.isNaN(len) && len !== bytes.length) {
        throw new OcibuildError('SIZE_MISMATCH', `${what}: got ${bytes.length} bytes, Content-Length said ${len}`);
      }
    } catch (e) {
      if (!options.signal?.aborted && isRetryableError(e) && attempt < client.retry.retries) {
        await sleep(client.backoff(attempt), options.signal);
        continue;
      }
      throw timeoutError(e, `pull ${what}`, 'GET', res.url, attempt + 1, client.timeouts) ?? e;
    }
    const pinned = target.includes(':') ? (target as Digest) : options.expected?.digest;
    const digest = digestBytes(bytes, pinned);
    if (pinned && digest !== pinned) {
      throw new OcibuildError('DIGEST_MISMATCH', `${what}: registry sent content with digest ${digest}`);
    }
    if (options.expected && options.expected.size !== bytes.length) {
      throw new OcibuildError('SIZE_MISMATCH', `${what}: ${bytes.length} bytes, the index says ${options.expected.size}`);
    }
    const claimed = getHeader(res, 'docker-content-digest');
    if (claimed && !pinned && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new OcibuildError('DIGEST_MISMATCH', `${what}: registry claims digest ${claimed} but the content hashes to ${digest}`);
    }
    return parseManifestBytes(bytes, getHeader(res, 'content-type'), digest, what);
  }
}

/** GET a blob of a repository (redirects to blob storage go without the registry's Authorization). */
function getBlob(client: RegistryClient, ref: ImageReference, digest: Digest, options: { registry?: string; signal?: AbortSignal; onWait?: (w: RegistryWait) => void; direct?: (chunk: Buffer) => void }) {
  return client.request({
    registry: options.registry ?? ref.domain,
    method: 'GET',
    path: `/v2/${ref.path}/blobs/${digest}`,
    scopes: pullScope(ref),
    what: blobWhat(ref, digest),
    signal: options.signal,
    ...(options.onWait ? { onWait: options.onWait } : {}),
    ...(options.direct ? { direct: options.direct } : {}),
  });
}

function blobWhat(ref: ImageReference, digest: Digest): string {
  return `pull blob ${digest} of ${ref.domain}/${ref.path}`;
}

/**
 * Open a blob of a repository for reading, verified (digest and size) while
 * streaming. Follows redirects to blob storage without the registry's
 * Authorization.
 */
export async function openBlob(
  client: RegistryClient,
  ref: ImageReference,
  descriptor: Pick<Descriptor, 'digest' | 'size'>,
  options: { registry?: string; signal?: AbortSignal } = {},
): Promise<Readable> {
  const res = await getBlob(client, ref, descriptor.digest, options);
  const verify = new VerifyStream(descriptor.digest, descriptor.size >= 0 ? descriptor.size : undefined, `blob ${descriptor.digest}`);
  return pipelineCb(res.body, verify, () => undefined);
}

/**
 * A {@link BlobSink} that can also take a blob chunk by chunk, synchronously
 * (the local store): a download then goes from the connection's read buffer
 * to the file with no stream stage and, over plain HTTP, no fresh memory per
 * read (issue 8). `commit` verifies digest and size as `ingest` does.
 */
export interface DirectBlobSink extends BlobSink {
  createWriter(options?: { algorithm?: 'sha256' | 'sha512' }): Promise<{
    writeSync(chunk: Buffer): void;
    commit(expected: BlobInfo): Promise<BlobInfo>;
    abort(): Promise<void>;
  }>;
}

function isDirectSink(s: BlobSink): s is DirectBlobSink {
  return typeof (s as Partial<DirectBlobSink>).createWriter === 'function';
}

/**
 * Download one blob into `sink` unless it is there already; retries
 * (from the start) after resets and truncated bodies.
 */
export async function pullBlob(
  client: RegistryClient,
  ref: ImageReference,
  descriptor: Descriptor,
  sink: BlobSink,
  options: { registry?: string; signal?: AbortSignal; kind?: PullProgress['kind']; onProgress?: (e: PullProgress) => void } = {},
): Promise<BlobInfo & { downloaded: boolean }> {
  const kind = options.kind ?? 'layer';
  const emit = (phase: PullProgress['phase'], bytes: number, wait?: RegistryWait) =>
    options.onProgress?.({ digest: descriptor.digest, kind, phase, bytes, total: descriptor.size, ...(wait ? { wait } : {}) });
  if (await sink.has(descriptor.digest)) {
    emit('exists', descriptor.size);
    return { digest: descriptor.digest, size: descriptor.size, downloaded: false };
  }
  let url: URL | undefined;
  for (let attempt = 0; ; attempt++) {
    let watch: { touch(): void; stop(): void } | undefined;
    let got = 0;
    try {
      // The sink verifies digest and size (BlobSink contract), so the body is hashed once, there;
      // this stage only stops a registry sending more than the descriptor's size early.
      const onWait = (w: RegistryWait) => emit('waiting', got, w);
      if (isDirectSink(sink)) {
        const info = await downloadDirect(client, ref, descriptor, sink, { ...options, onWait }, attempt, {
          onUrl: (u) => (url = u),
          onWatch: (w) => (watch = w),
          onBytes: (n) => (got = n),
          emit,
        });
        watch?.stop();
        emit('done', info.size);
        return { ...info, downloaded: true };
      }
      const res = await getBlob(client, ref, descriptor.digest, { ...options, onWait });
      url = res.url;
      watch = client.watchBody({ what: blobWhat(ref, descriptor.digest), method: 'GET', url: res.url, attempt, onWait });
      const w = watch;
      let last = 0;
      const counter = new Transform({
        transform(c: Buffer, _enc, cb) {
          w.touch();
          got += c.length;
          if (got > descriptor.size) {
            cb(new OcibuildError('SIZE_MISMATCH', `blob ${descriptor.digest}: registry sent more than the expected ${descriptor.size} bytes`));
            return;
          }
          if (got - last >= 1 << 20) {
            last = got;
            emit('downloading', got);
          }
          cb(null, c);
        },
      });
      const stream = pipelineCb(res.body, counter, () => undefined);
      const info = await sink.ingest(stream, { digest: descriptor.digest, size: descriptor.size });
      watch.stop();
      emit('done', info.size);
      return { ...info, downloaded: true };
    } catch (e) {
      watch?.stop();
      watch = undefined;
      if (url && timeoutKindOf(e) === 'body') {
        const wait: RegistryWait = { what: blobWhat(ref, descriptor.digest), method: 'GET', url: redactUrl(url), stage: 'body', waitedMs: client.timeouts.idleMs, timeoutMs: client.timeouts.idleMs, attempt, timedOut: 'body' };
        client.notifyWait(wait, (x) => emit('waiting', got, x));
      }
      if (!options.signal?.aborted && isRetryableError(e) && attempt < client.retry.retries) {
        emit('retry', 0);
        await sleep(client.backoff(attempt), options.signal);
        continue;
      }
      const timedOut = timeoutError(e, blobWhat(ref, descriptor.digest), 'GET', url ?? `${options.registry ?? ref.domain}/v2/${ref.path}/blobs/${descriptor.digest}`, attempt + 1, client.timeouts);
      if (timedOut) throw timedOut;
      if (isOcibuildError(e)) throw e;
      throw new OcibuildError('REGISTRY_UNREACHABLE', `pull blob ${descriptor.digest}: ${(e as Error).message}`, { cause: e });
    }
  }
}

/**
 * One attempt of {@link pullBlob} into a {@link DirectBlobSink}: the body's
 * chunks are counted (never more than the descriptor's size), hashed and
 * written as they arrive; the blob is committed (verified) at the end, or
 * the partial file dropped.
 */
async function downloadDirect(
  client: RegistryClient,
  ref: ImageReference,
  descriptor: Descriptor,
  sink: DirectBlobSink,
  options: { registry?: string; signal?: AbortSignal; onWait: (w: RegistryWait) => void },
  attempt: number,
  hooks: { onUrl(u: URL): void; onWatch(w: { touch(): void; stop(): void }): void; onBytes(n: number): void; emit(phase: PullProgress['phase'], bytes: number): void },
): Promise<BlobInfo> {
  const writer = await sink.createWriter({ algorithm: digestAlgorithm(descriptor.digest) });
  try {
    let got = 0;
    let last = 0;
    let watch: { touch(): void; stop(): void } | undefined;
    const res = await getBlob(client, ref, descriptor.digest, {
      ...options,
      direct: (c) => {
        watch?.touch();
        got += c.length;
        hooks.onBytes(got);
        if (got > descriptor.size) throw new OcibuildError('SIZE_MISMATCH', `blob ${descriptor.digest}: registry sent more than the expected ${descriptor.size} bytes`);
        writer.writeSync(c);
        if (got - last >= 1 << 20) {
          last = got;
          hooks.emit('downloading', got);
        }
      },
    });
    hooks.onUrl(res.url);
    watch = client.watchBody({ what: blobWhat(ref, descriptor.digest), method: 'GET', url: res.url, attempt, onWait: options.onWait });
    hooks.onWatch(watch);
    // The body carries no data (its chunks went to `direct`): it ends, or fails.
    res.body.resume();
    await finished(res.body);
    return await writer.commit({ digest: descriptor.digest, size: descriptor.size });
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

async function readJsonBlob<T>(client: RegistryClient, ref: ImageReference, d: Descriptor, registry: string, signal?: AbortSignal): Promise<{ bytes: Buffer; value: T }> {
  if (d.size > MAX_MANIFEST_SIZE * 4) {
    throw new OcibuildError('MANIFEST_INVALID', `config ${d.digest} of ${d.size} bytes is too large`);
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const s = await openBlob(client, ref, d, { registry, signal });
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      const bytes = Buffer.concat(chunks);
      try {
        return { bytes, value: JSON.parse(bytes.toString('utf8')) as T };
      } catch {
        throw new OcibuildError('MANIFEST_INVALID', `config ${d.digest} is not valid JSON`);
      }
    } catch (e) {
      if (!signal?.aborted && isRetryableError(e) && attempt < client.retry.retries) {
        await sleep(client.backoff(attempt), signal);
        continue;
      }
      throw timeoutError(e, blobWhat(ref, d.digest), 'GET', `${registry}/v2/${ref.path}/blobs/${d.digest}`, attempt + 1, client.timeouts) ?? e;
    }
  }
}

async function pullFrom(client: RegistryClient, ref: ImageReference, registry: string, options: PullOptions): Promise<PullResult> {
  const { sink, signal, onProgress } = options;
  const wanted = normalizePlatform(options.platform ?? hostPlatform());
  const top = await fetchManifest(client, ref, { registry, signal });
  const descriptor: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
  let chosen: Extract<FetchedManifest, { kind: 'manifest' }>;
  let manifestDescriptor: Descriptor;
  let index: ImageIndex | undefined;
  if (top.kind === 'index') {
    index = top.index;
    const entry = selectPlatform(top.index.manifests, wanted, formatReference(ref));
    const child = await fetchManifest(client, ref, { registry, target: entry.digest, expected: entry, signal });
    if (child.kind !== 'manifest') {
      throw new OcibuildError('MANIFEST_INVALID', `${formatReference(ref)}: entry ${entry.digest} for ${formatPlatform(wanted)} is an index, not an image manifest`);
    }
    chosen = child;
    manifestDescriptor = { mediaType: child.mediaType, digest: child.digest, size: child.bytes.length, ...(entry.platform ? { platform: entry.platform } : {}) };
  } else {
    chosen = top;
    manifestDescriptor = descriptor;
  }
  const manifest = chosen.manifest;
  // The layers are fetched while the config is: it is needed only to check the image (issue 8: a
  // round trip less before the longest download). Only a single-platform image pulled with
  // --platform waits for its config first, so that a wrong platform downloads no layer. A config
  // that fails its checks stops the downloads still running (their partial files are dropped;
  // layers already complete stay as verified blobs no image names, for prune).
  const stopLayers = new AbortController();
  const layerSignal = signal ? AbortSignal.any([signal, stopLayers.signal]) : stopLayers.signal;
  const pullLayers = (): Promise<void> => {
    const limit = pLimit(options.concurrency ?? 4);
    return Promise.all(
      manifest.layers.map((layer) =>
        limit(async () => {
          if (layer.mediaType.includes('foreign') && layer.urls?.length) {
            throw new OcibuildError('UNSUPPORTED', `${formatReference(ref)}: foreign layer ${layer.digest} (urls) is not supported`);
          }
          await pullBlob(client, ref, layer, sink, { registry, signal: layerSignal, kind: 'layer', onProgress });
        }),
      ),
    ).then(() => undefined);
  };
  const checkPlatformFirst = top.kind === 'manifest' && options.platform !== undefined && !options.acceptOtherPlatform;
  let layers = checkPlatformFirst ? undefined : pullLayers();
  layers?.catch(() => undefined); // awaited below; a config failure first must not leave it unhandled
  let cfg: { bytes: Buffer; value: ImageConfig };
  let config: ImageConfig;
  let platform: Platform;
  try {
    cfg = await readJsonBlob<ImageConfig>(client, ref, manifest.config, registry, signal);
    config = cfg.value;
    if (!config || typeof config !== 'object' || typeof config.os !== 'string' || typeof config.architecture !== 'string') {
      throw new OcibuildError('MANIFEST_INVALID', `config ${manifest.config.digest} of ${formatReference(ref)} has no os/architecture`);
    }
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
      throw new OcibuildError('MANIFEST_INVALID', `${formatReference(ref)}: config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids for ${manifest.layers.length} layers`);
    }
    platform = normalizePlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
    if (checkPlatformFirst) {
      // A single-platform image must still be the platform asked for.
      selectPlatform([{ ...descriptor, platform }], wanted, formatReference(ref));
    }
  } catch (e) {
    if (layers) {
      stopLayers.abort(e);
      await layers.catch(() => undefined);
    }
    throw e;
  }
  layers ??= pullLayers();
  await layers;
  // Config and manifests last: a store never names an image whose layers are missing.
  await sink.writeBlob(cfg.bytes);
  onProgress?.({ digest: manifest.config.digest, kind: 'config', phase: 'done', bytes: cfg.bytes.length, total: manifest.config.size });
  await sink.writeBlob(chosen.bytes);
  onProgress?.({ digest: chosen.digest, kind: 'manifest', phase: 'done', bytes: chosen.bytes.length, total: chosen.bytes.length });
  if (top.kind === 'index') {
    await sink.writeBlob(top.bytes);
    onProgress?.({ digest: top.digest, kind: 'index', phase: 'done', bytes: top.bytes.length, total: top.bytes.length });
  }
  const configDescriptor = manifest.config;
  return {
    reference: withDigest(ref, top.digest),
    descriptor,
    ...(index ? { index } : {}),
    manifestDescriptor,
    manifest,
    config,
    configDescriptor,
    platform,
    source: registry,
    repository: `${ref.domain}/${ref.path}`,
  };
}

/**
 * Pull an image: resolve the reference (tag or digest), pick the platform
 * from an index, verify every manifest and blob (digest and size), and store
 * layers, config and manifests into `options.sink` (layers in parallel, blobs
 * the sink has skipped). Configured mirrors are tried first; on any mirror
 * failure the origin registry is used, as Docker does.
 */
export async function pullImage(client: RegistryClient, reference: ImageReference | string, options: PullOptions): Promise<PullResult> {
  const ref = typeof reference === 'string' ? normalizeReference(reference) : reference;
  const mirrors = client.mirrorsFor(ref.domain);
  for (const mirror of mirrors) {
    try {
      return await pullFrom(client, ref, mirror, options);
    } catch (e) {
      if (options.signal?.aborted) throw e;
      if (isOcibuildError(e) && (e.code === 'PLATFORM_NOT_FOUND' || e.code === 'USAGE')) throw e;
      client.options.debug?.(`mirror ${mirror} failed for ${formatReference(ref)}: ${(e as Error).message}; trying next`);
    }
  }
  return pullFrom(client, ref, ref.domain, options);
}

/**
 * A {@link BlobSource} over one repository of a registry (for `COPY --from`
 * of a remote image, or as a push source). Reads are verified.
 */
export class RegistryBlobSource implements BlobSource {
  constructor(
    private readonly client: RegistryClient,
    private readonly ref: ImageReference,
    private readonly signal?: AbortSignal,
  ) {}

  async open(digest: Digest, size?: number): Promise<Readable> {
    return openBlob(this.client, this.ref, { digest, size: size ?? -1 }, { signal: this.signal });
  }

  async has(digest: Digest): Promise<boolean> {
    const res = await this.client.request({
      registry: this.ref.domain,
      method: 'HEAD',
      path: `/v2/${this.ref.path}/blobs/${digest}`,
      scopes: pullScope(this.ref),
      accept: [404],
      what: `check blob ${digest}`,
      signal: this.signal,
    });
    await res.body.dump();
    return res.status !== 404;
  }
}

/** Read a small response body fully (used by tests and callers of `request`). */
export async function readText(body: Readable, limit = MAX_MANIFEST_SIZE): Promise<string> {
  return readLimited(body, limit);
}
