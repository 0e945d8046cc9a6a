/**
 * Parsing and validation of manifests, indexes and image configs as they
 * come from a store, a layout or a registry. OCI documents only: the store
 * (src/cache) reads them without knowing images.
 */
import { OcibuildError } from '../errors.js';
import { isDigest, parseDigest, type Digest } from './digest.js';
import { MediaType, isIndexMediaType, isManifestMediaType } from './media-types.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from './types.js';

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
