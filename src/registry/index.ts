import type { BlobSink, BlobSource, Descriptor } from '../oci/types.js';
import { OcibuildError } from '../errors.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { pullImage, type PullOptions, type PullResult } from './pull.js';
import { normalizeReference, type ImageReference } from '../oci/reference.js';
import { pushImage, type PushOptions, type PushResult } from '../push/push.js';
import { OciLayoutSource } from '../push/oci-layout.js';

export * from '../oci/reference.js';
export * from './platform.js';
export * from './errors.js';
export * from './credentials.js';
export { parseWwwAuthenticate, formatScopes, type AuthChallenge, type RepositoryScope } from './auth.js';
export { RegistryClient, isLoopbackHost, type RegistryClientOptions, type RegistryRequest, type RegistryResponse } from './client.js';
export { MANIFEST_ACCEPT, parseManifestBytes, type FetchedManifest } from './manifest.js';
export { pullImage, pullBlob, fetchManifest, openBlob, RegistryBlobSource, type PullOptions, type PullResult, type PullProgress } from './pull.js';
export { resolveRetry, backoffDelay, parseRetryAfter, type RetryOptions } from './retry.js';
export { pushImage, ORIGIN_ANNOTATION, type PushOptions, type PushResult, type PushProgress, type RangeBlobSource } from '../push/push.js';
export { OciLayoutSource } from '../push/oci-layout.js';

/** Options of {@link pull}: client options, or a client to reuse, plus the pull's own. */
export type PullCommandOptions = RegistryClientOptions & Omit<PullOptions, 'sink'> & {
  /** Reuse this client (its options win); otherwise one is made and closed. */
  client?: RegistryClient;
  sink: BlobSink;
};

/**
 * `ocibuild pull <ref>`: normalise the reference and pull it into `options.sink`
 * (the local store). See {@link pullImage}.
 */
export async function pull(ref: string, options: PullCommandOptions): Promise<PullResult> {
  const reference = normalizeReference(ref);
  const client = options.client ?? (await RegistryClient.create(options));
  try {
    return await pullImage(client, reference, options);
  } finally {
    if (!options.client) await client.close();
  }
}

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
