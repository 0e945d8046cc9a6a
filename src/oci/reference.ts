import { OcibuildError } from '../errors.js';
import { isDigest, type Digest } from './digest.js';

/**
 * An image reference, split as Docker's distribution/reference does:
 * `domain/path[:tag][@digest]`. `domain` is empty only for references made by
 * {@link parseReference} without a registry part; {@link normalizeReference}
 * always fills it (`docker.io` by default).
 */
export interface ImageReference {
  /** Registry host with optional port (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`). */
  readonly domain: string;
  /** Repository path inside the registry (`library/busybox`). */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

/** The default registry of familiar names. */
export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
/** Longest allowed name (domain + path), as upstream's NameTotalLengthMax. */
export const NAME_TOTAL_LENGTH_MAX = 255;

// The grammar of distribution/reference (regexp.go), as JS regular expressions.
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const optionalPort = '(?::[0-9]+)?';
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}';
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = host + optionalPort;
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;

const REFERENCE_RE = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const ANCHORED_NAME_RE = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const TAG_RE = new RegExp(`^${tagPat}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
const DIGEST_SHAPE_RE = new RegExp(`^${digestPat}$`);

function invalid(input: string, why: string): OcibuildError {
  return new OcibuildError('REFERENCE_INVALID', `invalid reference ${JSON.stringify(input)}: ${why}`, {
    details: { reference: input },
  });
}

function checkDigest(input: string, value: string): Digest {
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  const lengths: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
  const want = lengths[algorithm];
  if (want === undefined) throw invalid(input, `unsupported digest algorithm ${JSON.stringify(algorithm)}`);
  if (hex.length !== want) throw invalid(input, `invalid ${algorithm} digest length ${hex.length} (want ${want})`);
  if (!/^[a-f0-9]+$/.test(hex)) throw invalid(input, 'digest must be lower-case hexadecimal');
  if (!isDigest(value)) throw invalid(input, `unsupported digest algorithm ${JSON.stringify(algorithm)}`);
  return value as Digest;
}

/**
 * Parse a reference exactly as distribution/reference's `Parse`: no
 * normalisation, no default registry or tag. Throws REFERENCE_INVALID.
 */
export function parseReference(input: string): ImageReference {
  const m = REFERENCE_RE.exec(input);
  if (!m) {
    if (input === '') throw invalid(input, 'repository name must have at least one component');
    if (REFERENCE_RE.test(input.toLowerCase())) throw invalid(input, 'repository name must be lowercase');
    throw invalid(input, 'invalid reference format');
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(input, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const nm = ANCHORED_NAME_RE.exec(name);
  const domain = nm?.[1] ?? '';
  const path = nm ? nm[2]! : name;
  const ref: { domain: string; path: string; tag?: string; digest?: Digest } = { domain, path };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) ref.digest = checkDigest(input, m[3]);
  return ref;
}

/** Split a familiar name into registry and path, as upstream's splitDockerDomain. */
function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash < 0) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const maybeRemote = name.slice(slash + 1);
  let domain: string;
  let remote: string;
  if (maybeDomain === 'localhost') [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) [domain, remote] = [DEFAULT_DOMAIN, maybeRemote];
  else if (/[.:]/.test(maybeDomain)) [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain.toLowerCase() !== maybeDomain) [domain, remote] = [maybeDomain, maybeRemote];
  else [domain, remote] = [DEFAULT_DOMAIN, name];
  if (domain === DEFAULT_DOMAIN && !remote.includes('/')) remote = OFFICIAL_REPO_PREFIX + remote;
  return [domain, remote];
}

/** Options of {@link normalizeReference}. */
export interface NormalizeOptions {
  /**
   * Add `:latest` when the reference has neither tag nor digest (Docker's
   * `TagNameOnly`). Default true.
   */
  defaultTag?: boolean;
}

/**
 * Parse a user-supplied ("familiar") reference as Docker does
 * (`ParseNormalizedNamed` + `TagNameOnly`): `busybox` becomes
 * `docker.io/library/busybox:latest`, `index.docker.io` becomes `docker.io`,
 * `localhost/x` and names whose first component has a `.` or `:` keep it as the
 * registry. A tag and a digest may both be given; pulls then use the digest.
 * Throws REFERENCE_INVALID with the reason.
 */
export function normalizeReference(input: string, options: NormalizeOptions = {}): ImageReference {
  if (IDENTIFIER_RE.test(input)) {
    throw invalid(input, 'cannot specify 64-byte hexadecimal strings as a repository name');
  }
  const [domain, remainder] = splitDockerDomain(input);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw invalid(input, `repository name (${remote}) must be lowercase`);
  }
  const ref = parseReference(`${domain}/${remainder}`);
  if ((options.defaultTag ?? true) && ref.tag === undefined && ref.digest === undefined) {
    return { ...ref, tag: DEFAULT_TAG };
  }
  return ref;
}

/** `domain/path`, the full repository name. */
export function referenceName(ref: ImageReference): string {
  return ref.domain ? `${ref.domain}/${ref.path}` : ref.path;
}

/** The canonical string form: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  let s = referenceName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/**
 * The short form Docker prints: `docker.io/` and `library/` (for one-level
 * official names) removed.
 */
export function familiarString(ref: ImageReference): string {
  let domain = ref.domain;
  let path = ref.path;
  if (domain === DEFAULT_DOMAIN) {
    domain = '';
    if (path.startsWith(OFFICIAL_REPO_PREFIX)) {
      const rest = path.slice(OFFICIAL_REPO_PREFIX.length);
      if (!rest.includes('/')) path = rest;
    }
  }
  return formatReference({ ...ref, domain, path });
}

/** The tag or digest to ask the registry for: the digest wins when both are set. */
export function referenceTarget(ref: ImageReference): string {
  if (ref.digest) return ref.digest;
  if (ref.tag) return ref.tag;
  return DEFAULT_TAG;
}

/** A copy of `ref` with another tag (validated) and no digest. */
export function withTag(ref: ImageReference, tag: string): ImageReference {
  if (!TAG_RE.test(tag)) throw invalid(tag, 'invalid tag format');
  return { domain: ref.domain, path: ref.path, tag };
}

/** A copy of `ref` pinned to `digest` (the tag is kept, as Docker prints `name:tag@digest`). */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  if (!DIGEST_SHAPE_RE.test(digest)) throw invalid(digest, 'invalid digest format');
  return { ...ref, digest: checkDigest(digest, digest) };
}

/** True when `tag` is a valid tag. */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/**
 * Validate a bare repository name (domain optional, no tag/digest), as used
 * for `mountFrom` lists. Returns the normalised full name.
 */
export function normalizeRepositoryName(input: string): string {
  const ref = normalizeReference(input, { defaultTag: false });
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw invalid(input, 'a repository name cannot have a tag or digest');
  }
  return referenceName(ref);
}
