/**
 * Named build contexts (`--build-context NAME=VALUE`, buildx's flag; `buildContexts` of `build()`).
 *
 * VALUE is a directory, `docker-image://REF`, `oci-layout://DIR[:TAG][@DIGEST]` or
 * `target:STAGE`. A context replaces what its name names in the Dockerfile, as
 * BuildKit's Dockerfile frontend does: a stage of that name (its instructions
 * are not run), else an image of that name wherever it is used (`FROM`,
 * `COPY --from`, `RUN --mount=from=`); names compare as BuildKit's do (Docker's
 * familiar spelling without `:latest`, so `alpine`, `alpine:latest` and
 * `docker.io/library/alpine` are one name). A directory context is read like the
 * main context, with its own `.dockerignore` (BuildKit reads only that name for
 * a named context); `FROM` a directory context is a stage whose filesystem is the
 * directory (files owned by 0:0), as in BuildKit.
 *
 * Parsing is pure (a malformed value fails before anything is read);
 * {@link loadBuildContexts} then checks directories and resolves OCI layouts.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from './cache/store.js';
import { loadIgnoreFile } from './context/index.js';
import { ignoreViewFromPatterns } from './copy/ignore.js';
import type { IgnoreView } from './copy/index.js';
import { OcibuildError } from './errors.js';
import type { NamedContextRef } from './graph/types.js';
import { readDocument, readImage, type ResolvedImage } from './image/read.js';
import { digestAlgorithm, digestHex, isDigest, type Digest } from './oci/digest.js';
import { sniffMediaType } from './oci/documents.js';
import { isIndexMediaType, isManifestMediaType } from './oci/media-types.js';
import { familiarString, normalizeReference } from './oci/reference.js';
import type { Descriptor, Platform } from './oci/types.js';
import { OciLayoutSource } from './push/oci-layout.js';

const REF_NAME = 'org.opencontainers.image.ref.name';
/** Prefix of the pseudo references that name an image of an OCI layout context (never valid in a Dockerfile). */
export const OCI_LAYOUT_PREFIX = 'oci-layout://';

/** One `--build-context` value, parsed. */
export type BuildContextSource =
  | { kind: 'dir'; dir: string }
  | { kind: 'image'; ref: string }
  | { kind: 'scratch' }
  | { kind: 'oci-layout'; dir: string; tag: string; digest?: Digest }
  | { kind: 'target'; stage: string };

/** A named context: its name as looked up, the flag value as given, and what it is. */
export interface BuildContext {
  /** Docker's familiar spelling without `:latest` (`alpine`, `alpine:3`, `ghcr.io/o/app`). */
  name: string;
  /** `NAME=VALUE` as given, for messages. */
  flag: string;
  source: BuildContextSource;
}

/** A directory context once checked: its path and its `.dockerignore`. */
export interface LoadedDirContext {
  dir: string;
  ignore: IgnoreView;
}

/** Named contexts of a build, checked and resolved. */
export interface BuildContexts {
  byName: Map<string, BuildContext>;
  /** Directory contexts by name. */
  dirs: Map<string, LoadedDirContext>;
  /** Digest of each OCI layout context's image (given, or resolved from index.json), by name. */
  layoutDigests: Map<string, Digest>;
}

function flagText(name: string, value: string): string {
  return `--build-context ${name}=${value}`;
}

/** BuildKit's spelling of a context name: familiar, `:latest` dropped. Throws for a name that is no reference. */
export function contextName(name: string): string {
  const familiar = familiarString(normalizeReference(name));
  return familiar.endsWith(':latest') ? familiar.slice(0, -':latest'.length) : familiar;
}

const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;

/** buildx's parseOCILayoutPath: `DIR[:TAG][@DIGEST]`, the tag `latest` by default. */
function parseLayoutPath(s: string): { dir: string; tag: string; digest?: string } {
  let dir = s;
  let digest: string | undefined;
  let tag = '';
  const at = dir.lastIndexOf('@');
  if (at >= 0 && DIGEST_RE.test(dir.slice(at + 1))) {
    digest = dir.slice(at + 1);
    dir = dir.slice(0, at);
  }
  const colon = dir.lastIndexOf(':');
  if (colon >= 0 && TAG_RE.test(dir.slice(colon + 1))) {
    tag = dir.slice(colon + 1);
    dir = dir.slice(0, colon);
  }
  return { dir, tag: tag || 'latest', ...(digest !== undefined ? { digest } : {}) };
}

/**
 * Parses named contexts (`{ NAME: VALUE }`); relative directories resolve
 * against `cwd`. Throws USAGE naming the flag value for a bad name, an
 * unknown scheme, a malformed reference; UNSUPPORTED for git and URL contexts.
 */
export function parseBuildContexts(values: Readonly<Record<string, string>>, cwd: string): Map<string, BuildContext> {
  const out = new Map<string, BuildContext>();
  for (const [rawName, value] of Object.entries(values)) {
    const flag = flagText(rawName, value);
    let name: string;
    try {
      name = contextName(rawName);
    } catch (e) {
      throw new OcibuildError('USAGE', `${flag}: invalid context name ${JSON.stringify(rawName)}: ${(e as Error).message}`, { cause: e });
    }
    if (name === 'scratch' || name === 'context') {
      throw new OcibuildError('USAGE', `${flag}: "${name}" is reserved and cannot name a build context`);
    }
    if (out.has(name)) throw new OcibuildError('USAGE', `${flag}: context "${name}" given twice (as ${out.get(name)!.flag})`);
    out.set(name, { name, flag, source: parseSource(flag, value, cwd) });
  }
  return out;
}

function parseSource(flag: string, value: string, cwd: string): BuildContextSource {
  if (value === '') throw new OcibuildError('USAGE', `${flag}: empty value (a directory, docker-image://REF, oci-layout://DIR[@DIGEST] or target:STAGE)`);
  if (value.startsWith('docker-image://')) {
    const ref = value.slice('docker-image://'.length);
    if (ref === 'scratch') return { kind: 'scratch' };
    try {
      normalizeReference(ref);
    } catch (e) {
      throw new OcibuildError('USAGE', `${flag}: ${(e as Error).message}`, { cause: e });
    }
    return { kind: 'image', ref };
  }
  if (value.startsWith(OCI_LAYOUT_PREFIX)) {
    const p = parseLayoutPath(value.slice(OCI_LAYOUT_PREFIX.length));
    if (p.dir === '') throw new OcibuildError('USAGE', `${flag}: no directory after oci-layout://`);
    if (p.digest !== undefined && !isDigest(p.digest)) throw new OcibuildError('USAGE', `${flag}: invalid digest ${JSON.stringify(p.digest)}`);
    return { kind: 'oci-layout', dir: path.resolve(cwd, p.dir), tag: p.tag, ...(p.digest !== undefined ? { digest: p.digest as Digest } : {}) };
  }
  if (value.startsWith('target:')) {
    const stage = value.slice('target:'.length);
    if (stage === '') throw new OcibuildError('USAGE', `${flag}: no stage name after target:`);
    return { kind: 'target', stage: stage.toLowerCase() };
  }
  if (/^(?:https?|git|ssh):\/\//i.test(value) || value.startsWith('git@')) {
    throw new OcibuildError('UNSUPPORTED', `${flag}: git and URL build contexts are not supported; clone or download into a directory and name that`);
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value);
  if (scheme) {
    throw new OcibuildError('USAGE', `${flag}: unknown scheme "${scheme[1]}://" (a directory, docker-image://REF, oci-layout://DIR[@DIGEST] or target:STAGE)`);
  }
  return { kind: 'dir', dir: path.resolve(cwd, value) };
}

/**
 * Checks each directory context (it must be a directory; its `.dockerignore`
 * is read) and resolves each OCI layout context to a digest (the one given, or
 * the `index.json` entry named TAG, or its only entry, as buildx does).
 */
export async function loadBuildContexts(byName: Map<string, BuildContext>): Promise<BuildContexts> {
  const dirs = new Map<string, LoadedDirContext>();
  const layoutDigests = new Map<string, Digest>();
  for (const c of byName.values()) {
    const s = c.source;
    if (s.kind === 'dir') {
      const st = await stat(s.dir).catch((e: NodeJS.ErrnoException) => {
        throw new OcibuildError('CONTEXT_NOT_FOUND', `${c.flag}: cannot read directory ${s.dir}: ${e.code ?? e.message}`, { cause: e });
      });
      if (!st.isDirectory()) throw new OcibuildError('CONTEXT_NOT_FOUND', `${c.flag}: ${s.dir} is not a directory`);
      const ignore = await loadIgnoreFile(s.dir, '-');
      // Messages name the file by its path: it is not the main context's .dockerignore.
      dirs.set(c.name, { dir: s.dir, ignore: ignoreViewFromPatterns(ignore.patterns, ignore.path ?? ignore.name) });
    } else if (s.kind === 'oci-layout') {
      layoutDigests.set(c.name, await layoutDigest(c, s));
    }
  }
  return { byName, dirs, layoutDigests };
}

async function layoutDigest(c: BuildContext, s: Extract<BuildContextSource, { kind: 'oci-layout' }>): Promise<Digest> {
  const source = new OciLayoutSource(s.dir);
  let manifests: Descriptor[];
  try {
    const index = await source.index();
    manifests = Array.isArray(index.manifests) ? index.manifests : [];
  } catch (e) {
    throw new OcibuildError('CONTEXT_NOT_FOUND', `${c.flag}: ${(e as Error).message}`, { cause: e });
  }
  if (s.digest !== undefined) {
    if (!(await source.has(s.digest))) throw new OcibuildError('IMAGE_NOT_FOUND', `${c.flag}: the OCI layout ${s.dir} has no blob ${s.digest}`);
    return s.digest;
  }
  const named = manifests.find((d) => d.annotations?.[REF_NAME] === s.tag);
  if (named) return named.digest;
  if (manifests.length === 1) return manifests[0]!.digest;
  const tags = manifests.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined);
  throw new OcibuildError('IMAGE_NOT_FOUND', `${c.flag}: the OCI layout ${s.dir} has no image tagged "${s.tag}" (${manifests.length} images${tags.length > 0 ? `; tags: ${tags.join(', ')}` : ''}); add :TAG or @DIGEST`);
}

/** The pseudo reference the compiler uses for an OCI layout context's image. */
function layoutRef(name: string): string {
  return `${OCI_LAYOUT_PREFIX}${name}`;
}

/**
 * The compiler's `namedContext` hook: what a name of the Dockerfile resolves
 * to, or undefined when no context has that name. Images of OCI layouts are
 * named by a pseudo reference `oci-layout://NAME` that {@link readLayoutImage} reads.
 */
export function namedContextLookup(contexts: BuildContexts): (name: string) => NamedContextRef | undefined {
  return (raw) => {
    let name: string;
    try {
      name = contextName(raw);
    } catch {
      return undefined;
    }
    const c = contexts.byName.get(name);
    if (!c) return undefined;
    const s = c.source;
    switch (s.kind) {
      case 'dir':
        return { kind: 'dir', name, flag: c.flag };
      case 'image':
        return { kind: 'image', ref: s.ref, flag: c.flag };
      case 'scratch':
        return { kind: 'scratch', flag: c.flag };
      case 'oci-layout':
        return { kind: 'image', ref: layoutRef(name), flag: c.flag };
      case 'target':
        return { kind: 'target', stage: s.stage, flag: c.flag };
    }
  };
}

/** The OCI layout context a pseudo reference names (undefined for any other reference). */
export function layoutContextOf(contexts: BuildContexts, ref: string): { context: BuildContext; dir: string; digest: Digest } | undefined {
  if (!ref.startsWith(OCI_LAYOUT_PREFIX)) return undefined;
  const context = contexts.byName.get(ref.slice(OCI_LAYOUT_PREFIX.length));
  const digest = context ? contexts.layoutDigests.get(context.name) : undefined;
  if (!context || context.source.kind !== 'oci-layout' || !digest) return undefined;
  return { context, dir: context.source.dir, digest };
}

/** The descriptor of a blob of an OCI layout: from index.json when listed there, else sniffed from its bytes. */
async function layoutDescriptor(source: OciLayoutSource, digest: Digest, flag: string): Promise<Descriptor> {
  const index = await source.index();
  const listed = (Array.isArray(index.manifests) ? index.manifests : []).find((d) => d.digest === digest);
  if (listed) return listed;
  const size = (await stat(path.join(source.dir, 'blobs', digestAlgorithm(digest), digestHex(digest)))).size;
  const mediaType = sniffMediaType(await readDocument(source, { mediaType: '', digest, size })) ?? '';
  if (!isIndexMediaType(mediaType) && !isManifestMediaType(mediaType)) throw new OcibuildError('MANIFEST_INVALID', `${flag}: ${digest} is neither an image manifest nor an index`);
  return { mediaType, digest, size };
}

/** Reads the image of an OCI layout context for `platform` (index, manifest and config; digests verified). */
export async function readLayoutImage(dir: string, digest: Digest, platform: Platform, flag: string): Promise<{ source: OciLayoutSource; image: ResolvedImage }> {
  const source = new OciLayoutSource(dir);
  const descriptor = await layoutDescriptor(source, digest, flag);
  try {
    return { source, image: await readImage(source, descriptor, platform) };
  } catch (e) {
    if (e instanceof OcibuildError && e.code === 'PLATFORM_NOT_FOUND' && !isIndexMediaType(descriptor.mediaType)) {
      return { source, image: await readImage(source, descriptor) };
    }
    if (e instanceof OcibuildError) throw new OcibuildError(e.code, `${flag}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Copies an OCI layout context's image (for `platform`) into the store: the
 * manifest, its config and every layer, each streamed and verified. Returns
 * the manifest's descriptor (chosen from the index when DIGEST names one).
 */
export async function importLayoutImage(store: Store, dir: string, digest: Digest, platform: Platform, flag: string): Promise<Descriptor> {
  const { source, image } = await readLayoutImage(dir, digest, platform, flag);
  const blobs: Descriptor[] = [image.manifest.config, ...image.manifest.layers];
  for (const d of blobs) {
    if (await store.has(d.digest)) continue;
    await store.ingest(await source.open(d.digest, d.size), { digest: d.digest, size: d.size });
  }
  await store.writeBlob(image.manifestBytes);
  return image.descriptor;
}

/**
 * `--build-context` flag values (`NAME=VALUE`, repeatable) as the
 * `buildContexts` option, relative directories made absolute against `cwd`.
 * Throws USAGE for a value without `=` and for a name given twice.
 */
export function buildContextsFromFlags(values: readonly string[], cwd: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw new OcibuildError('USAGE', `--build-context ${JSON.stringify(v)}: expected NAME=VALUE (a directory, docker-image://REF, oci-layout://DIR[@DIGEST] or target:STAGE)`);
    const name = v.slice(0, i);
    if (Object.prototype.hasOwnProperty.call(out, name)) throw new OcibuildError('USAGE', `--build-context ${v}: context "${name}" given twice`);
    const value = v.slice(i + 1);
    const source = parseSource(flagText(name, value), value, cwd);
    out[name] = source.kind === 'dir' ? source.dir : source.kind === 'oci-layout' ? absoluteLayoutValue(value, cwd) : value;
  }
  parseBuildContexts(out, cwd);
  return out;
}

function absoluteLayoutValue(value: string, cwd: string): string {
  const rest = value.slice(OCI_LAYOUT_PREFIX.length);
  const p = parseLayoutPath(rest);
  const suffix = rest.slice(p.dir.length);
  return `${OCI_LAYOUT_PREFIX}${path.resolve(cwd, p.dir)}${suffix}`;
}
