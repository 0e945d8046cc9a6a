/**
 * Image names as the store and the outputs use them: Docker's reference
 * grammar, from the one implementation in src/oci/reference.ts.
 */
import { familiarString, formatReference, normalizeReference, type ImageReference } from './reference.js';

/**
 * An image name split as Docker's reference grammar does it:
 * `[domain/]path[:tag][@digest]`, normalized (`docker.io`, `library/`, `latest`).
 */
export type ImageName = ImageReference;

/**
 * Parse and normalize an image name as Docker does: `busybox` →
 * `docker.io/library/busybox:latest`; a digest is kept. Throws REFERENCE_INVALID.
 */
export function parseImageName(name: string): ImageName {
  return normalizeReference(name);
}

/** The full normalized string of a parsed name: `docker.io/library/busybox:latest`. */
export function formatImageName(n: ImageName): string {
  return formatReference(n);
}

/** `parseImageName` then `formatImageName`: the canonical spelling used to compare names. */
export function normalizeImageName(name: string): string {
  return formatReference(normalizeReference(name));
}

/** Docker's short spelling: `docker.io/library/busybox:latest` → `busybox:latest`. */
export function familiarImageName(n: ImageName): string {
  return familiarString(n);
}

/** Repository part of a name in Docker's short spelling, without tag or digest (`busybox`, `ghcr.io/a/b`). */
export function familiarRepository(n: ImageName): string {
  return familiarString({ domain: n.domain, path: n.path });
}
