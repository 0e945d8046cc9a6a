/**
 * The configs of a Dockerfile's base images, for commands that check without
 * building (`ocibuild check`): BuildKit reads them before its checks, so that
 * UndefinedVar knows `$GOPATH` in a `FROM golang` stage. Each base comes from
 * the store (a local tag), else, unless `pull` is false, from its registry
 * (manifest and config only, nothing is stored). A base found in neither is
 * left out: the checks then behave as without the image (the caller says so).
 */
import type { Store } from '../cache/store.js';
import { OcibuildError } from '../errors.js';
import { readImage } from '../image/read.js';
import { normalizeImageName } from '../image/names.js';
import { isIndexMediaType } from '../oci/media-types.js';
import { formatPlatform, normalizePlatform, parsePlatform } from '../oci/platform.js';
import type { ContainerConfig, Descriptor, ImageConfig, Platform } from '../oci/types.js';
import { fetchManifest, normalizeReference, openBlob, selectPlatform, type RegistryClient } from '../registry/index.js';
import { readText } from '../registry/pull.js';

/** A base image the checks need: its reference and platform (`os/arch[/variant]`). */
export interface BaseRequest {
  ref: string;
  platform: string;
}

export interface BaseConfigs {
  /** The `baseImageConfig` hook of the compiler. */
  lookup: (ref: string, platform: string) => ContainerConfig | undefined;
  /** Bases whose config could not be read, with why. */
  missing: { ref: string; reason: string }[];
}

const key = (ref: string, platform: string): string => `${ref}\0${formatPlatform(normalizePlatform(parsePlatform(platform)))}`;

/** Resolve every requested base's config; never throws for a base that cannot be read. */
export async function resolveBaseConfigs(
  requests: readonly BaseRequest[],
  options: { store: Store; client?: RegistryClient; pull: boolean; signal?: AbortSignal },
): Promise<BaseConfigs> {
  const found = new Map<string, ContainerConfig>();
  const missing: { ref: string; reason: string }[] = [];
  const seen = new Set<string>();
  for (const r of requests) {
    const k = key(r.ref, r.platform);
    if (seen.has(k)) continue;
    seen.add(k);
    const platform = normalizePlatform(parsePlatform(r.platform));
    try {
      let config = await fromStore(options.store, r.ref, platform);
      if (!config && options.pull && options.client) config = await fromRegistry(options.client, r.ref, platform, options.signal);
      if (config) found.set(k, config.config ?? {});
      else missing.push({ ref: r.ref, reason: options.pull ? 'not in the store and no registry client' : 'not in the store (--pull=false)' });
    } catch (e) {
      if (!(e instanceof OcibuildError)) throw e;
      missing.push({ ref: r.ref, reason: e.message });
    }
  }
  return { lookup: (ref, platform) => found.get(key(ref, platform)), missing };
}

async function fromStore(store: Store, ref: string, platform: Platform): Promise<ImageConfig | undefined> {
  let descriptor: Descriptor | undefined = await store.resolve(ref);
  if (!descriptor) {
    try {
      descriptor = await store.resolve(normalizeImageName(ref));
    } catch {
      descriptor = undefined;
    }
  }
  if (!descriptor) return undefined;
  try {
    return (await readImage(store, descriptor, platform)).config;
  } catch (e) {
    // a single-platform image of another platform is still the base (the build warns about it)
    if (!(e instanceof OcibuildError && e.code === 'PLATFORM_NOT_FOUND') || isIndexMediaType(descriptor.mediaType)) throw e;
    return (await readImage(store, descriptor)).config;
  }
}

/** Manifest (through the index for `platform`) and config from the registry; no layer is read. */
async function fromRegistry(client: RegistryClient, ref: string, platform: Platform, signal?: AbortSignal): Promise<ImageConfig> {
  const reference = normalizeReference(ref);
  let m = await fetchManifest(client, reference, { ...(signal ? { signal } : {}) });
  if (m.kind === 'index') {
    const d = selectPlatform(m.index.manifests, platform, ref);
    m = await fetchManifest(client, reference, { target: d.digest, expected: d, ...(signal ? { signal } : {}) });
  }
  if (m.kind !== 'manifest') throw new OcibuildError('MANIFEST_INVALID', `${ref}: an index points to another index`);
  const body = await openBlob(client, reference, m.manifest.config, { ...(signal ? { signal } : {}) });
  let config: ImageConfig;
  try {
    config = JSON.parse(await readText(body)) as ImageConfig;
  } catch (e) {
    if (e instanceof SyntaxError) throw new OcibuildError('MANIFEST_INVALID', `${ref}: image config is not valid JSON`);
    throw e;
  }
  return config;
}
