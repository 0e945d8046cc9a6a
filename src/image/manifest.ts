import { OcibuildError } from '../errors.js';
import { MediaType } from '../oci/media-types.js';
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

export { validateDescriptor, parseManifest, parseIndex, parseConfig, sniffMediaType, documentDigest } from '../oci/documents.js';
