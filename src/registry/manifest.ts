import { OcibuildError } from '../errors.js';
import { isDigest, sha256, digestAlgorithm, type Digest } from '../oci/digest.js';
import { MediaType, isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../oci/types.js';
import { createHash } from 'node:crypto';

/** Every manifest and index type we accept, OCI and Docker schema2. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest].join(', ');

/** Largest manifest we read (as containerd: 4 MiB). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** A manifest or index as fetched: raw bytes (digest is over these), parsed value, media type. */
export type FetchedManifest =
  | { kind: 'index'; mediaType: string; bytes: Buffer; digest: Digest; index: ImageIndex }
  | { kind: 'manifest'; mediaType: string; bytes: Buffer; digest: Digest; manifest: ImageManifest };

/** Digest of bytes with the algorithm of `like` (sha256 by default). */
export function digestBytes(bytes: Uint8Array, like?: Digest): Digest {
  const alg = like ? digestAlgorithm(like) : 'sha256';
  if (alg === 'sha256') return sha256(bytes);
  return `${alg}:${createHash(alg).update(bytes).digest('hex')}` as Digest;
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  if (!d || typeof d !== 'object') throw new OcibuildError('MANIFEST_INVALID', `${where}: descriptor is not an object`);
  const o = d as Record<string, unknown>;
  if (typeof o.mediaType !== 'string') throw new OcibuildError('MANIFEST_INVALID', `${where}: descriptor has no mediaType`);
  if (typeof o.digest !== 'string' || !isDigest(o.digest)) throw new OcibuildError('MANIFEST_INVALID', `${where}: invalid digest ${JSON.stringify(o.digest)}`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw new OcibuildError('MANIFEST_INVALID', `${where}: invalid size ${JSON.stringify(o.size)}`);
  return o as unknown as Descriptor;
}

/**
 * Parse manifest or index bytes. The media type comes from the document's
 * own `mediaType`, else from the `Content-Type` header, else from its shape
 * (`manifests` → OCI index, `config` → OCI manifest).
 */
export function parseManifestBytes(bytes: Buffer, contentType: string | undefined, digest: Digest, what: string): FetchedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new OcibuildError('MANIFEST_INVALID', `${what}: manifest is not valid JSON`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new OcibuildError('MANIFEST_INVALID', `${what}: manifest is not a JSON object`);
  if (doc.schemaVersion !== 2) {
    throw new OcibuildError('MANIFEST_INVALID', `${what}: unsupported manifest schemaVersion ${JSON.stringify(doc.schemaVersion)} (schema 1 images are not supported)`);
  }
  const ct = contentType?.split(';')[0]?.trim();
  let mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if (!mediaType && (isIndexMediaType(ct) || isManifestMediaType(ct))) mediaType = ct;
  if (!mediaType) mediaType = Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw new OcibuildError('MANIFEST_INVALID', `${what}: index has no manifests list`);
    doc.manifests.forEach((m, i) => checkDescriptor(m, `${what}: manifests[${i}]`));
    return { kind: 'index', mediaType, bytes, digest, index: doc as unknown as ImageIndex };
  }
  if (isManifestMediaType(mediaType)) {
    checkDescriptor(doc.config, `${what}: config`);
    if (!Array.isArray(doc.layers)) throw new OcibuildError('MANIFEST_INVALID', `${what}: manifest has no layers list`);
    doc.layers.forEach((l, i) => checkDescriptor(l, `${what}: layers[${i}]`));
    return { kind: 'manifest', mediaType, bytes, digest, manifest: doc as unknown as ImageManifest };
  }
  throw new OcibuildError('MANIFEST_INVALID', `${what}: unsupported manifest media type ${mediaType}`);
}
