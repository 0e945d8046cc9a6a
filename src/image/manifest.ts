import { OcibuildError } from '../errors.js';
import { isDigest, parseDigest, type Digest } from '../oci/digest.js';
import { MediaType, isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from '../oci/types.js';
import { canonicalDescriptor, canonicalPlatform, createJsonBlob, sortedRecord, type JsonBlob } from './json.js';

/** Options of createManifest. */
export interface CreateManifestOptions {
  /** `oci` (default) or `docker` (schema2; layers must then be Docker media types). */
  format?: 'oci' | 'docker';
  /** Platform recorded on the returned descriptor (for an index entry or a store tag). */
  platform?: Platform;
  /** OCI 1.1 `subject` (referrers). */
  subject?: Descriptor;
  /** OCI 1.1 `artifactType`. */
  artifactType?: string;
}

/**
 * Build an image manifest from a config descriptor and layer descriptors.
 * Returns the manifest value, its exact bytes and the descriptor of those
 * bytes. Descriptors are written with their keys in spec order and extra
 * properties (such as a `diffId` kept beside a layer) dropped.
 */
export function createManifest(
  config: Descriptor,
  layers: readonly Descriptor[],
  annotations?: Record<string, string>,
  options: CreateManifestOptions = {},
): JsonBlob<ImageManifest> {
  const mediaType = options.format === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    ...(options.artifactType ? { artifactType: options.artifactType } : {}),
    config: canonicalDescriptor(config),
    layers: layers.map(canonicalDescriptor),
    ...(options.subject ? { subject: canonicalDescriptor(options.subject) } : {}),
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations: sortedRecord(annotations) } : {}),
  };
  const blob = createJsonBlob(manifest, mediaType);
  if (options.platform) blob.descriptor.platform = canonicalPlatform(options.platform);
  return blob;
}

/**
 * Build an image index (multi-platform image) from manifest descriptors, each
 * carrying its `platform`. Throws MANIFEST_INVALID when a manifest lacks a
 * platform or two share one.
 */
export function createIndex(
  manifests: readonly Descriptor[],
  annotations?: Record<string, string>,
  options: { format?: 'oci' | 'docker' } = {},
): JsonBlob<ImageIndex> {
  const seen = new Set<string>();
  for (const m of manifests) {
    if (!m.platform) throw new OcibuildError('MANIFEST_INVALID', `index entry ${m.digest} has no platform`);
    const key = `${m.platform.os}/${m.platform.architecture}/${m.platform.variant ?? ''}/${m.platform['os.version'] ?? ''}`;
    if (seen.has(key)) throw new OcibuildError('MANIFEST_INVALID', `two index entries for platform ${key.replace(/\/+$/, '')}`);
    seen.add(key);
  }
  const mediaType = options.format === 'docker' ? MediaType.dockerManifestList : MediaType.ociIndex;
  const index: ImageIndex = { schemaVersion: 2, mediaType, manifests: manifests.map(canonicalDescriptor) };
  if (annotations && Object.keys(annotations).length > 0) index.annotations = sortedRecord(annotations);
  return createJsonBlob(index, mediaType);
}

/** Serialize an image config; the descriptor uses the OCI config media type unless `mediaType` says otherwise. */
export function createConfigBlob(config: ImageConfig, mediaType: string = MediaType.ociConfig): JsonBlob<ImageConfig> {
  return createJsonBlob(config, mediaType);
}

// ---------------------------------------------------------------------------
// Parsing and validation of what comes from a store, a layout or a registry.

function bad(what: string, why: string): OcibuildError {
  return new OcibuildError('MANIFEST_INVALID', `${what}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkStringMap(v: unknown, what: string): void {
  if (v === undefined) return;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) throw bad(what, 'annotations must map strings to strings');
}

/** Validate one descriptor object (mediaType, digest, size, platform). */
export function validateDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw bad(what, 'descriptor is not an object');
  if (typeof v.mediaType !== 'string' || v.mediaType.length === 0) throw bad(what, 'descriptor has no mediaType');
  if (typeof v.digest !== 'string' || !isDigest(v.digest)) throw bad(what, `descriptor has an invalid digest ${JSON.stringify(v.digest)}`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw bad(what, `descriptor has an invalid size ${JSON.stringify(v.size)}`);
  checkStringMap(v.annotations, what);
  if (v.platform !== undefined) {
    const p = v.platform;
    if (!isObject(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') throw bad(what, 'descriptor platform needs os and architecture');
    if (p.variant !== undefined && typeof p.variant !== 'string') throw bad(what, 'descriptor platform variant must be a string');
  }
  if (v.urls !== undefined && (!Array.isArray(v.urls) || v.urls.some((u) => typeof u !== 'string'))) throw bad(what, 'descriptor urls must be strings');
  return v as unknown as Descriptor;
}

function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new OcibuildError('MANIFEST_INVALID', `${what}: not valid JSON`, { cause: e });
  }
  if (!isObject(v)) throw bad(what, 'not a JSON object');
  return v;
}

/**
 * Parse and validate manifest bytes. `mediaType` is the media type the
 * descriptor (or HTTP Content-Type) announced; when the document states one
 * too they must agree.
 */
export function parseManifest(bytes: Uint8Array, mediaType?: string, what = 'manifest'): ImageManifest {
  const v = parseJsonObject(bytes, what);
  if (v.schemaVersion !== 2) throw bad(what, `schemaVersion must be 2, got ${JSON.stringify(v.schemaVersion)}`);
  if (v.mediaType !== undefined && mediaType !== undefined && v.mediaType !== mediaType) {
    throw bad(what, `document says mediaType ${JSON.stringify(v.mediaType)}, descriptor says ${JSON.stringify(mediaType)}`);
  }
  const mt = (v.mediaType as string | undefined) ?? mediaType;
  if (mt !== undefined && !isManifestMediaType(mt)) throw bad(what, `unsupported manifest media type ${JSON.stringify(mt)}`);
  if ('manifests' in v) throw bad(what, 'is an index, not a manifest');
  validateDescriptor(v.config, `${what} config`);
  if (!Array.isArray(v.layers)) throw bad(what, 'layers must be an array');
  v.layers.forEach((l, i) => validateDescriptor(l, `${what} layer ${i}`));
  checkStringMap(v.annotations, what);
  return v as unknown as ImageManifest;
}

/** Parse and validate image index (or Docker manifest list) bytes. */
export function parseIndex(bytes: Uint8Array, mediaType?: string, what = 'index'): ImageIndex {
  const v = parseJsonObject(bytes, what);
  if (v.schemaVersion !== 2) throw bad(what, `schemaVersion must be 2, got ${JSON.stringify(v.schemaVersion)}`);
  if (v.mediaType !== undefined && mediaType !== undefined && v.mediaType !== mediaType) {
    throw bad(what, `document says mediaType ${JSON.stringify(v.mediaType)}, descriptor says ${JSON.stringify(mediaType)}`);
  }
  const mt = (v.mediaType as string | undefined) ?? mediaType;
  if (mt !== undefined && !isIndexMediaType(mt)) throw bad(what, `unsupported index media type ${JSON.stringify(mt)}`);
  if (!Array.isArray(v.manifests)) throw bad(what, 'manifests must be an array');
  v.manifests.forEach((m, i) => validateDescriptor(m, `${what} entry ${i}`));
  checkStringMap(v.annotations, what);
  return v as unknown as ImageIndex;
}

/** Parse and validate image config bytes: os, architecture and rootfs.diff_ids are required. */
export function parseConfig(bytes: Uint8Array, what = 'image config'): ImageConfig {
  const v = parseJsonObject(bytes, what);
  if (typeof v.os !== 'string' || typeof v.architecture !== 'string') throw bad(what, 'os and architecture are required');
  const rootfs = v.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw bad(what, 'rootfs must be {"type":"layers","diff_ids":[...]}');
  }
  for (const d of rootfs.diff_ids) {
    if (typeof d !== 'string' || !isDigest(d)) throw bad(what, `invalid diff_id ${JSON.stringify(d)}`);
  }
  if (v.config !== undefined && v.config !== null && !isObject(v.config)) throw bad(what, 'config must be an object');
  if (v.history !== undefined && !Array.isArray(v.history)) throw bad(what, 'history must be an array');
  return v as unknown as ImageConfig;
}

/**
 * Sniff whether manifest bytes are an index or a manifest when the media type
 * is unknown (an OCI layout entry without `mediaType`).
 */
export function sniffMediaType(bytes: Uint8Array): string | undefined {
  try {
    const v = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    if (typeof v.mediaType === 'string') return v.mediaType;
    if (Array.isArray(v.manifests)) return MediaType.ociIndex;
    if (isObject(v.config)) return MediaType.ociManifest;
  } catch {
    return undefined;
  }
  return undefined;
}

/** `parseDigest` for digests found inside documents, reported as MANIFEST_INVALID. */
export function documentDigest(value: string, what: string): Digest {
  if (!isDigest(value)) throw bad(what, `invalid digest ${JSON.stringify(value)}`);
  return parseDigest(value);
}
