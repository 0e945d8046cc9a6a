import { OcibuildError } from '../errors.js';

/**
 * An image name split as Docker's reference grammar does it:
 * `[domain/]path[:tag][@digest]`.
 */
export interface ImageName {
  /** Registry host (and port): `docker.io` when none was given. */
  domain: string;
  /** Repository path inside the registry: `library/busybox`. */
  path: string;
  /** Tag: `latest` when neither a tag nor a digest was given. */
  tag?: string;
  digest?: string;
}

const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT_RE = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const NAME_TOTAL_MAX = 255;

function invalid(name: string, why: string): OcibuildError {
  return new OcibuildError('REFERENCE_INVALID', `invalid image name ${JSON.stringify(name)}: ${why}`);
}

function isDomain(part: string): boolean {
  if (part === 'localhost') return true;
  if (!part.includes('.') && !part.includes(':')) return false;
  const [host, port, ...rest] = part.split(':');
  if (rest.length > 0 || (port !== undefined && !/^\d+$/.test(port))) return false;
  if (host!.startsWith('[') && host!.endsWith(']')) return true; // IPv6 literal
  return host!.split('.').every((c) => DOMAIN_COMPONENT_RE.test(c));
}

/**
 * Parse and normalize an image name as Docker does: `busybox` →
 * `docker.io/library/busybox:latest`, `ghcr.io/a/b@sha256:...` keeps its digest.
 * The domain is the first component when it looks like a host (contains `.`
 * or `:`, or is `localhost`). Throws REFERENCE_INVALID.
 */
export function parseImageName(name: string): ImageName {
  if (name.length === 0) throw invalid(name, 'empty');
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid(name, `bad digest ${JSON.stringify(digest)}`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(name, `bad tag ${JSON.stringify(tag)}`);
  }
  let domain = 'docker.io';
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0 && isDomain(rest.slice(0, slash))) {
    domain = rest.slice(0, slash);
    path = rest.slice(slash + 1);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (path.length === 0) throw invalid(name, 'no repository');
  for (const c of path.split('/')) {
    if (!COMPONENT_RE.test(c)) {
      throw invalid(name, /[A-Z]/.test(c) ? 'repository names must be lower-case' : `bad path component ${JSON.stringify(c)}`);
    }
  }
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (`${domain}/${path}`.length > NAME_TOTAL_MAX) throw invalid(name, `longer than ${NAME_TOTAL_MAX} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { domain, path, tag, digest };
}

/** The full normalized string of a parsed name: `docker.io/library/busybox:latest`. */
export function formatImageName(n: ImageName): string {
  return `${n.domain}/${n.path}${n.tag !== undefined ? `:${n.tag}` : ''}${n.digest !== undefined ? `@${n.digest}` : ''}`;
}

/** `parseImageName` then `formatImageName`: the canonical spelling used to compare names. */
export function normalizeImageName(name: string): string {
  return formatImageName(parseImageName(name));
}

/** Docker's short spelling: `docker.io/library/busybox:latest` → `busybox:latest`. */
export function familiarImageName(n: ImageName): string {
  let repo = `${n.domain}/${n.path}`;
  if (n.domain === 'docker.io') repo = n.path.startsWith('library/') && n.path.split('/').length === 2 ? n.path.slice(8) : n.path;
  return `${repo}${n.tag !== undefined ? `:${n.tag}` : ''}${n.digest !== undefined ? `@${n.digest}` : ''}`;
}

/** Repository part of a name in Docker's short spelling, without tag or digest (`busybox`, `ghcr.io/a/b`). */
export function familiarRepository(n: ImageName): string {
  return familiarImageName({ domain: n.domain, path: n.path });
}
