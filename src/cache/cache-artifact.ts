/**
 * The step cache as a plain OCI artifact, so any Distribution-API registry
 * (or an OCI layout) can hold it and skopeo can copy it: an image manifest
 * with `artifactType` {@link CACHE_ARTIFACT_TYPE}, whose config blob (of our
 * own media type, so registries without OCI 1.1 store it too) is a small JSON
 * mapping step keys to step records, and whose layers are the step layers.
 *
 * Importing trusts a record only as far as it agrees with the manifest (the
 * layer it names must be listed there with the same digest, size and media
 * type); a record that does not is skipped with a warning. Pure.
 */
import { OcibuildError } from '../errors.js';
import { isDigest, sha256, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageManifest } from '../oci/types.js';
import { isStepRecord, type StepRecord } from './step-cache.js';

/** `artifactType` of a cache manifest. */
export const CACHE_ARTIFACT_TYPE = 'application/vnd.ocibuild.cache.v1';
/** Media type of the cache record blob (the manifest's config). */
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.ocibuild.cache.config.v1+json';
/** Largest record blob read (a cache of many thousand steps stays far below it). */
export const MAX_CACHE_CONFIG = 16 * 1024 * 1024;

const KEY_RE = /^[a-f0-9]{64}$/;

/** One exported step: its cache key and record. */
export interface CacheEntry {
  key: string;
  record: StepRecord;
}

/** A cache artifact as bytes: the record blob and the manifest naming it and the layers. */
export interface CacheArtifact {
  config: { bytes: Buffer; descriptor: Descriptor };
  manifest: { bytes: Buffer; descriptor: Descriptor };
  /** The layers, as listed in the manifest. */
  layers: Descriptor[];
}

/**
 * The artifact holding `entries` (sorted by key, one layer per digest; the
 * same entries give the same bytes). `subject` attaches it to an image (the
 * inline cache).
 */
export function makeCacheArtifact(entries: readonly CacheEntry[], options: { subject?: Descriptor } = {}): CacheArtifact {
  const byKey = new Map<string, StepRecord>();
  for (const e of entries) if (!byKey.has(e.key)) byKey.set(e.key, e.record);
  const keys = [...byKey.keys()].sort();
  const layers: Descriptor[] = [];
  const seen = new Set<string>();
  const steps = keys.map((key) => {
    const r = byKey.get(key)!;
    if (r.layer && !seen.has(r.layer.digest)) {
      seen.add(r.layer.digest);
      layers.push({ mediaType: r.layer.mediaType, digest: r.layer.digest, size: r.layer.size });
    }
    return {
      key,
      ...(r.layer ? { layer: { mediaType: r.layer.mediaType, digest: r.layer.digest, size: r.layer.size, diffId: r.layer.diffId } } : {}),
      configChange: r.configChange ?? null,
      created: r.created,
    };
  });
  const configBytes = Buffer.from(JSON.stringify({ version: 1, steps }));
  const config: Descriptor = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256(configBytes), size: configBytes.length };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config,
    layers,
    ...(options.subject ? { subject: { mediaType: options.subject.mediaType, digest: options.subject.digest, size: options.subject.size } } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    config: { bytes: configBytes, descriptor: config },
    manifest: { bytes: manifestBytes, descriptor: { mediaType: MediaType.ociManifest, digest: sha256(manifestBytes), size: manifestBytes.length } },
    layers,
  };
}

/** True when `m` is a cache manifest (by artifactType, or by its config media type on registries that drop artifactType). */
export function isCacheManifest(m: ImageManifest): boolean {
  return m.artifactType === CACHE_ARTIFACT_TYPE || m.config?.mediaType === CACHE_CONFIG_MEDIA_TYPE;
}

/** The records of a cache, with a warning for each one skipped. */
export interface ReadCache {
  records: Map<string, StepRecord>;
  warnings: string[];
}

/**
 * Reads a cache's record blob (`configBytes`, already verified against the
 * manifest's config descriptor) against its manifest: every record whose
 * layer the manifest does not list exactly (digest, size, media type) is
 * skipped with a warning. `where` names the cache in warnings.
 */
export function readCacheArtifact(manifest: ImageManifest, configBytes: Buffer, where: string): ReadCache {
  if (!isCacheManifest(manifest)) {
    throw new OcibuildError('MANIFEST_INVALID', `${where} is not an ocibuild cache (config media type ${manifest.config?.mediaType ?? 'none'})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(configBytes.toString('utf8'));
  } catch (e) {
    throw new OcibuildError('MANIFEST_INVALID', `${where}: the cache record blob is not JSON`, { cause: e });
  }
  const steps = (doc as { version?: unknown; steps?: unknown } | null)?.steps;
  if ((doc as { version?: unknown } | null)?.version !== 1 || !Array.isArray(steps)) {
    throw new OcibuildError('MANIFEST_INVALID', `${where}: the cache record blob has no version 1 step list`);
  }
  const listed = new Map<Digest, Descriptor>();
  for (const l of manifest.layers ?? []) listed.set(l.digest, l);
  const records = new Map<string, StepRecord>();
  const warnings: string[] = [];
  for (const s of steps as unknown[]) {
    const e = s as { key?: unknown } & Record<string, unknown>;
    const key = typeof e?.key === 'string' ? e.key : undefined;
    const rec = { ...(e ?? {}) } as Record<string, unknown>;
    delete rec.key;
    if (!key || !KEY_RE.test(key) || !isStepRecord(rec)) {
      warnings.push(`${where}: a malformed step record was skipped`);
      continue;
    }
    const layer = rec.layer;
    if (layer) {
      const l = listed.get(layer.digest);
      if (!l) {
        warnings.push(`${where}: the record of step ${key.slice(0, 12)} names layer ${layer.digest}, which the cache manifest does not list: skipped`);
        continue;
      }
      if (l.size !== layer.size || l.mediaType !== layer.mediaType) {
        warnings.push(`${where}: the record of step ${key.slice(0, 12)} says layer ${layer.digest} has ${layer.size} bytes (${layer.mediaType}), the manifest ${l.size} (${l.mediaType}): skipped`);
        continue;
      }
      if (!isDigest(layer.diffId)) {
        warnings.push(`${where}: the record of step ${key.slice(0, 12)} has no valid diffId: skipped`);
        continue;
      }
    }
    records.set(key, { ...(layer ? { layer: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size, diffId: layer.diffId } } : {}), configChange: rec.configChange ?? null, created: rec.created });
  }
  return { records, warnings };
}
