import { OcibuildError } from '../errors.js';
import type { Descriptor, Platform } from '../oci/types.js';
import { formatPlatform, normalizePlatform } from '../oci/platform.js';

export { normalizePlatform, formatPlatform, parsePlatform, hostPlatform } from '../oci/platform.js';

/**
 * Does `candidate` serve `wanted`? OS and architecture must match after
 * normalisation; a wanted variant must match, and no wanted variant accepts
 * any variant.
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return false;
  if (w.variant && w.variant !== (c.variant ?? '')) return false;
  return true;
}

/**
 * Pick the index entry for `wanted`: exact variant first, then any match.
 * Entries without a platform and attestation manifests
 * (`vnd.docker.reference.type`) are skipped. Throws PLATFORM_NOT_FOUND
 * listing what the index offers.
 */
export function selectPlatform(manifests: Descriptor[], wanted: Platform, what: string): Descriptor {
  const candidates = manifests.filter(
    (d) => d.platform && d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' && d.platform.os !== 'unknown',
  );
  const w = normalizePlatform(wanted);
  const matching = candidates.filter((d) => platformMatches(w, d.platform!));
  const exact = matching.find((d) => (normalizePlatform(d.platform!).variant ?? '') === (w.variant ?? ''));
  const pick = exact ?? matching[0];
  if (pick) return pick;
  const offered = candidates.map((d) => formatPlatform(normalizePlatform(d.platform!)));
  throw new OcibuildError(
    'PLATFORM_NOT_FOUND',
    `${what} has no image for platform ${formatPlatform(w)}; it offers: ${offered.length ? offered.join(', ') : 'no platforms'}`,
    { details: { wanted: formatPlatform(w), offered } },
  );
}
