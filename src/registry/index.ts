import type { BlobSink, BlobSource, Descriptor } from '../oci/types.js';
import { OcibuildError } from '../errors.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { pullImage, type PullOptions, type PullResult } from './pull.js';
import { normalizeReference, type ImageReference } from '../oci/reference.js';

export * from '../oci/reference.js';
export * from './platform.js';
export * from './errors.js';
export * from './credentials.js';
export { parseWwwAuthenticate, formatScopes, type AuthChallenge, type RepositoryScope } from './auth.js';
export {
  RegistryClient,
  isLoopbackHost,
  resolveTimeouts,
  timeoutError,
  timeoutKind,
  type RegistryClientOptions,
  type RegistryRequest,
  type RegistryResponse,
  type RegistryTimeouts,
  type ResolvedTimeouts,
  type RegistryWait,
} from './client.js';
export { MANIFEST_ACCEPT, parseManifestBytes, type FetchedManifest } from './manifest.js';
export { pullImage, pullBlob, fetchManifest, openBlob, RegistryBlobSource, type PullOptions, type PullResult, type PullProgress } from './pull.js';
export { resolveRetry, backoffDelay, parseRetryAfter, type RetryOptions } from './retry.js';

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
