/**
 * Pushing images: upload order, mounts, chunked uploads with resume,
 * retries (push.ts), OCI layout sources (oci-layout.ts) and the
 * `ocibuild push` core. Depends on src/registry, never the other way.
 */
import type { BlobSource, Descriptor } from '../oci/types.js';
import { OcibuildError } from '../errors.js';
import { normalizeReference, type ImageReference } from '../oci/reference.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import { pushImage, type PushOptions, type PushResult } from './push.js';
import { OciLayoutSource } from './oci-layout.js';

export { pushImage, ORIGIN_ANNOTATION, type PushOptions, type PushResult, type PushProgress, type RangeBlobSource, type ChunkBlobSource } from './push.js';
export { OciLayoutSource } from './oci-layout.js';
export { blobOrigins, type OriginLookup, type TaggedBlobSource } from './origins.js';
export { LayerUploads, LAYER_UPLOAD_THRESHOLD, type LayerUploadOptions, type LayerUploadRecord } from './layer-upload.js';

/** A local image to push: where its blobs are and the manifest/index descriptor. */
export interface LocalImage {
  source: BlobSource;
  descriptor: Descriptor;
}

/** Options of {@link push}. */
export type PushCommandOptions = RegistryClientOptions &
  Omit<PushOptions, 'reference' | 'descriptor' | 'tags'> & {
    client?: RegistryClient;
    /** More tags besides the one in the remote reference. */
    tags?: string[];
  };

/**
 * `ocibuild push <local> <remote ref>`: push a local image (a blob source
 * and descriptor, or an OCI layout directory written `dir` or `dir:refname`)
 * to `remoteRef` (its tag, default `latest`, plus `options.tags`). See
 * {@link pushImage}.
 */
export async function push(local: LocalImage | string, remoteRef: string, options: PushCommandOptions = {}): Promise<PushResult> {
  const ref: ImageReference = normalizeReference(remoteRef);
  let image: LocalImage;
  if (typeof local === 'string') {
    const colon = local.lastIndexOf(':');
    const hasName = colon > 0 && !local.slice(colon + 1).includes('/');
    const dir = hasName ? local.slice(0, colon) : local;
    const source = new OciLayoutSource(dir);
    image = { source, descriptor: await source.resolve(hasName ? local.slice(colon + 1) : undefined) };
  } else {
    image = local;
  }
  if (ref.digest && ref.digest !== image.descriptor.digest) {
    throw new OcibuildError('REFERENCE_INVALID', `${remoteRef} names digest ${ref.digest} but the image is ${image.descriptor.digest}`);
  }
  const tags = [...(ref.tag ? [ref.tag] : []), ...(options.tags ?? [])];
  const client = options.client ?? (await RegistryClient.create(options));
  try {
    return await pushImage(client, image.source, { ...options, reference: ref, descriptor: image.descriptor, tags });
  } finally {
    if (!options.client) await client.close();
  }
}
