import { OcibuildError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import type { BlobSource, Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from '../oci/types.js';
import { parseConfig, parseIndex, parseManifest, sniffMediaType } from './manifest.js';
import { defaultPlatform, formatPlatform, normalizePlatform, platformRank } from './platform.js';

/** Manifests and configs larger than this are refused (registries use 4 MiB for manifests). */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/**
 * Read a small blob (manifest, index, config) fully from a source, verified
 * against the descriptor's digest and size by the source's `open`.
 */
export async function readDocument(source: BlobSource, descriptor: Descriptor, limit = MAX_DOCUMENT_BYTES): Promise<Buffer> {
  if (descriptor.size > limit) {
    throw new OcibuildError('MANIFEST_INVALID', `${descriptor.digest}: ${descriptor.size} bytes is too large for a ${descriptor.mediaType || 'document'} (limit ${limit})`);
  }
  const stream = await source.open(descriptor.digest, descriptor.size);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > limit) {
      stream.destroy();
      throw new OcibuildError('MANIFEST_INVALID', `${descriptor.digest}: larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}

/** A single-platform image as read from a source: parsed values plus the exact bytes. */
export interface ResolvedImage {
  /** Descriptor of the manifest (with `platform` when it came from an index or the config). */
  descriptor: Descriptor;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  config: ImageConfig;
  configBytes: Buffer;
  /** The index the manifest was chosen from, when the descriptor named an index. */
  index?: { descriptor: Descriptor; index: ImageIndex; bytes: Buffer };
}

/** Options of readImage. */
export interface ReadImageOptions {
  /** Maximum nesting of indexes followed (default 2). */
  maxDepth?: number;
}

function mediaTypeOf(descriptor: Descriptor, bytes: Buffer): string | undefined {
  return descriptor.mediaType || sniffMediaType(bytes);
}

/**
 * Choose the manifest for `platform` among an index's entries, as containerd
 * does: an exact match first, then the best compatible one (older variants,
 * 32-bit siblings). Entries without a platform and attestation manifests
 * (`vnd.docker.reference.type`) are skipped. Throws PLATFORM_NOT_FOUND listing
 * what the index offers.
 */
export function selectManifest(index: ImageIndex, platform: Platform, what = 'image'): Descriptor {
  let best: Descriptor | undefined;
  let bestRank = Infinity;
  const offered: string[] = [];
  for (const m of index.manifests) {
    if (m.annotations?.['vnd.docker.reference.type']) continue;
    if (!isManifestMediaType(m.mediaType) && !isIndexMediaType(m.mediaType)) continue;
    if (!m.platform) continue;
    if (m.platform.os === 'unknown' || m.platform.architecture === 'unknown') continue;
    offered.push(formatPlatform(normalizePlatform(m.platform)));
    const rank = platformRank(platform, m.platform);
    if (rank >= 0 && rank < bestRank) {
      best = m;
      bestRank = rank;
    }
  }
  if (!best) {
    // An index with one un-annotated manifest: take it, its config names the platform.
    const plain = index.manifests.filter((m) => !m.platform && isManifestMediaType(m.mediaType) && !m.annotations?.['vnd.docker.reference.type']);
    if (offered.length === 0 && plain.length === 1) return plain[0]!;
    throw new OcibuildError(
      'PLATFORM_NOT_FOUND',
      `${what} has no manifest for platform ${formatPlatform(platform)}; it offers ${offered.length > 0 ? [...new Set(offered)].join(', ') : 'no platforms'}`,
      { details: { wanted: formatPlatform(platform), offered: [...new Set(offered)] } },
    );
  }
  return best;
}

/**
 * Read an image from a blob source: follow an index to the manifest for
 * `platform` (default: the host's), then read and validate manifest and config.
 * Every blob is verified by the source. Throws MANIFEST_INVALID on malformed
 * documents, PLATFORM_NOT_FOUND when an index lacks the platform or a single
 * manifest's config names another one (only when `platform` was given
 * explicitly).
 */
export async function readImage(
  source: BlobSource,
  descriptor: Descriptor,
  platform?: Platform,
  options: ReadImageOptions = {},
): Promise<ResolvedImage> {
  const want = platform ? normalizePlatform(platform) : defaultPlatform();
  let current = descriptor;
  let bytes = await readDocument(source, current);
  let index: ResolvedImage['index'];
  for (let depth = 0; ; depth++) {
    const mt = mediaTypeOf(current, bytes);
    if (isIndexMediaType(mt)) {
      if (depth >= (options.maxDepth ?? 2)) throw new OcibuildError('MANIFEST_INVALID', `${descriptor.digest}: indexes nested too deeply`);
      const parsed = parseIndex(bytes, current.mediaType || undefined, `index ${current.digest}`);
      index = { descriptor: current, index: parsed, bytes };
      current = selectManifest(parsed, want, `image ${descriptor.digest}`);
      bytes = await readDocument(source, current);
      continue;
    }
    if (!isManifestMediaType(mt)) {
      throw new OcibuildError('MANIFEST_INVALID', `${current.digest}: not an image manifest or index (media type ${JSON.stringify(mt)})`);
    }
    break;
  }
  const manifest = parseManifest(bytes, current.mediaType || undefined, `manifest ${current.digest}`);
  const configBytes = await readDocument(source, manifest.config);
  const config = parseConfig(configBytes, `config ${manifest.config.digest}`);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new OcibuildError(
      'MANIFEST_INVALID',
      `manifest ${current.digest} has ${manifest.layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`,
    );
  }
  const configPlatform = normalizePlatform({ os: config.os, architecture: config.architecture, variant: config.variant });
  if (platform && !index && platformRank(want, configPlatform) < 0) {
    throw new OcibuildError('PLATFORM_NOT_FOUND', `image ${current.digest} is ${formatPlatform(configPlatform)}, not ${formatPlatform(want)}`, {
      details: { wanted: formatPlatform(want), offered: [formatPlatform(configPlatform)] },
    });
  }
  const resolved: Descriptor = { ...current, mediaType: current.mediaType || manifest.mediaType || 'application/vnd.oci.image.manifest.v1+json' };
  if (!resolved.platform) {
    resolved.platform = { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
  }
  return { descriptor: resolved, manifest, manifestBytes: bytes, config, configBytes, index };
}

/** Every blob an image descriptor reaches (indexes, manifests, configs, layers), each once, in a stable order. */
export async function collectBlobs(source: BlobSource, descriptor: Descriptor, options: { maxDepth?: number } = {}): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  const seen = new Set<string>();
  const add = (d: Descriptor) => {
    if (seen.has(d.digest)) return false;
    seen.add(d.digest);
    out.push(d);
    return true;
  };
  const walk = async (d: Descriptor, depth: number): Promise<void> => {
    if (!add(d)) return;
    const bytes = await readDocument(source, d);
    const mt = mediaTypeOf(d, bytes);
    if (isIndexMediaType(mt)) {
      if (depth >= (options.maxDepth ?? 2)) throw new OcibuildError('MANIFEST_INVALID', `${d.digest}: indexes nested too deeply`);
      const idx = parseIndex(bytes, d.mediaType || undefined, `index ${d.digest}`);
      for (const m of idx.manifests) {
        if (isManifestMediaType(m.mediaType) || isIndexMediaType(m.mediaType)) await walk(m, depth + 1);
        else add(m);
      }
      return;
    }
    if (!isManifestMediaType(mt)) throw new OcibuildError('MANIFEST_INVALID', `${d.digest}: not an image manifest or index`);
    const m = parseManifest(bytes, d.mediaType || undefined, `manifest ${d.digest}`);
    add(m.config);
    for (const l of m.layers) add(l);
  };
  await walk(descriptor, 0);
  return out;
}
