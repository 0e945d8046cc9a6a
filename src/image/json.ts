import { OcibuildError } from '../errors.js';
import { sha256, type Digest } from '../oci/digest.js';
import type { Descriptor, Platform } from '../oci/types.js';

/**
 * Serialize a manifest, index or config to the exact bytes that are stored,
 * digested and pushed: keys in the order they were written, no whitespace,
 * UTF-8. Undefined properties are dropped (as JSON.stringify does); values JSON
 * cannot represent faithfully (NaN, Infinity, bigint, functions, symbols) are a
 * MANIFEST_INVALID error rather than a silent `null`.
 */
export function serializeJson(value: unknown): Buffer {
  const text = JSON.stringify(value, (key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) {
      throw new OcibuildError('MANIFEST_INVALID', `cannot serialize ${String(v)} at key ${JSON.stringify(key)}`);
    }
    if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol') {
      throw new OcibuildError('MANIFEST_INVALID', `cannot serialize a ${typeof v} at key ${JSON.stringify(key)}`);
    }
    return v;
  });
  if (text === undefined) throw new OcibuildError('MANIFEST_INVALID', 'nothing to serialize');
  return Buffer.from(text, 'utf8');
}

/** Bytes of a JSON document together with the descriptor that names exactly those bytes. */
export interface JsonBlob<T> {
  /** The parsed (or constructed) value. */
  value: T;
  /** The bytes written, digested and pushed. */
  bytes: Buffer;
  /** Descriptor of `bytes` (mediaType, digest, size, and platform/annotations when given). */
  descriptor: Descriptor;
}

/** Serialize `value` and describe the bytes with `mediaType`. */
export function createJsonBlob<T>(value: T, mediaType: string): JsonBlob<T> {
  const bytes = serializeJson(value);
  return { value, bytes, descriptor: { mediaType, digest: sha256(bytes), size: bytes.length } };
}

/** A platform object with keys in spec order, empty optional fields dropped. */
export function canonicalPlatform(p: Platform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os };
  if (p['os.version']) out['os.version'] = p['os.version'];
  if (p['os.features'] && p['os.features'].length > 0) out['os.features'] = [...p['os.features']];
  if (p.variant) out.variant = p.variant;
  return out;
}

/**
 * A descriptor with keys in spec order (mediaType, digest, size, urls,
 * annotations, platform, artifactType), so equal descriptors serialize to equal bytes
 * whatever order the caller built them in. Extra properties (e.g. a diffId a
 * caller keeps beside a layer descriptor) are dropped.
 */
export function canonicalDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest as Digest, size: d.size };
  if (d.urls && d.urls.length > 0) out.urls = [...d.urls];
  if (d.annotations && Object.keys(d.annotations).length > 0) out.annotations = sortedRecord(d.annotations);
  if (d.platform) out.platform = canonicalPlatform(d.platform);
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

/** A copy of a string map with its keys sorted (annotations, labels). */
export function sortedRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k]!;
  return out;
}
