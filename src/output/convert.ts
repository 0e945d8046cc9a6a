/**
 * Layers in the compression an output asks for. The store keeps each layer
 * as it was written (gzip for built layers, as pulled for a base's); an
 * output with `compression=` gets converted copies, made in one streaming
 * pass each ({@link convertLayer}) and kept in the store keyed by (source
 * digest, compression, level), so a second output or push of the same layer
 * reuses the converted blob instead of compressing again.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import type { Store } from '../cache/store.js';
import { OcibuildError } from '../errors.js';
import { compressionLevel, compressionOfMediaType, convertLayer, GZIP_DEFAULT_LEVEL, type CompressionSpec } from '../layers/convert.js';
import type { Digest } from '../oci/digest.js';
import { parseDigest } from '../oci/digest.js';
import { isIndexMediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { createIndex, createManifest, parseIndex, parseManifest } from '../image/manifest.js';
import type { PlatformImage } from '../image/state.js';
import type { OutputCompression } from './spec.js';

/** Store directory of conversion records: `<sha256 of the key>.json` -> the converted blob's descriptor. */
const RECORDS = 'conversions';

/** Options of {@link convertLayerBlob}. */
export interface ConvertLayerBlobOptions {
  signal?: AbortSignal;
  /** Called once per layer actually converted (not for a reused conversion), with the bytes read so far. */
  onProgress?: (event: { source: Digest; current: number; total: number; done: boolean }) => void;
}

interface ConversionRecord {
  source: Digest;
  compression: CompressionSpec['compression'];
  level: number | null;
  digest: Digest;
  size: number;
  mediaType: string;
  diffId: Digest;
}

function recordPath(source: Digest, spec: CompressionSpec): string {
  const key = JSON.stringify([source, spec.compression, compressionLevel(spec) ?? null]);
  return `${RECORDS}/${createHash('sha256').update(key).digest('hex')}.json`;
}

async function readRecord(store: Store, rel: string, source: Digest): Promise<ConversionRecord | undefined> {
  let r: ConversionRecord;
  try {
    r = JSON.parse(await readFile(path.join(store.root, rel), 'utf8')) as ConversionRecord;
    parseDigest(r.digest);
  } catch {
    return undefined; // absent or unreadable: a miss
  }
  if (r.source !== source || typeof r.size !== 'number') return undefined;
  // The blob may have been pruned since: then the record is a miss.
  const info = await store.stat(r.digest);
  if (!info || info.size !== r.size) return undefined;
  await store.touch(r.digest);
  return r;
}

/**
 * A layer blob of the store in the compression `spec` names: converted once
 * (decompressed, its diffId verified against `layer.diffId` when given,
 * recompressed reproducibly, digested, written atomically into the store)
 * and recorded under (source digest, compression, level), so the next call
 * for the same layer and settings returns the stored blob at once. Returns the
 * converted blob's descriptor (`diffId` kept). A layer already in the
 * requested compression is converted too when asked (a level change); an
 * uncompressed layer asked as uncompressed is returned as it is. This is the
 * function to call for any blob that must leave in another compression (an
 * output, a cache export).
 */
export async function convertLayerBlob(
  store: Store,
  layer: Descriptor & { diffId?: Digest },
  spec: CompressionSpec,
  options: ConvertLayerBlobOptions = {},
): Promise<Descriptor & { diffId?: Digest }> {
  const from = compressionOfMediaType(layer.mediaType);
  if (!from) throw new OcibuildError('UNSUPPORTED', `layer ${layer.digest} has media type ${layer.mediaType}, which ocibuild cannot convert to ${spec.compression}`);
  if (from === 'uncompressed' && spec.compression === 'uncompressed') return layer;
  const rel = recordPath(layer.digest, spec);
  const hit = await readRecord(store, rel, layer.digest);
  if (hit) return { mediaType: hit.mediaType, digest: hit.digest, size: hit.size, diffId: hit.diffId };
  const writer = await store.createWriter();
  let source;
  try {
    source = await store.open(layer.digest, layer.size);
  } catch (e) {
    await writer.abort();
    throw e;
  }
  const emit = options.onProgress;
  let converted;
  try {
    converted = await convertLayer(source, from, spec, writer.stream, {
      ...(layer.diffId ? { expected: { diffId: layer.diffId } } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(emit ? { onRead: (current: number) => emit({ source: layer.digest, current, total: layer.size, done: false }) } : {}),
    });
  } catch (e) {
    source.destroy();
    await writer.abort();
    throw e;
  }
  const info = await writer.commit({ digest: converted.digest, size: converted.size });
  const record: ConversionRecord = {
    source: layer.digest,
    compression: spec.compression,
    level: compressionLevel(spec) ?? null,
    digest: info.digest,
    size: info.size,
    mediaType: converted.mediaType,
    diffId: converted.diffId,
  };
  await store.writeRecord(rel, Buffer.from(JSON.stringify(record)));
  options.onProgress?.({ source: layer.digest, current: layer.size, total: layer.size, done: true });
  return { mediaType: converted.mediaType, digest: info.digest, size: info.size, diffId: converted.diffId };
}

/**
 * Whether an output's compression converts a layer: a layer ocibuild built
 * (gzip at GZIP_DEFAULT_LEVEL in the store) is converted unless it already is what the
 * output asks; a base image's layer only with `force`, and only when its
 * compression differs (its level is unknown and kept), as buildx does.
 */
export function needsConversion(layer: Descriptor, built: boolean, want: OutputCompression): boolean {
  const from = compressionOfMediaType(layer.mediaType);
  if (from === undefined) return false; // foreign types pass through as they are
  if (from !== want.compression) return built || want.force;
  if (!built || from !== 'gzip') return false;
  return (want.level ?? GZIP_DEFAULT_LEVEL) !== GZIP_DEFAULT_LEVEL;
}

/** Options of {@link convertImage}. */
export interface ConvertImageOptions extends ConvertLayerBlobOptions {
  /** Layers converted at once (default 2). */
  concurrency?: number;
}

/**
 * The image `descriptor` (a built manifest or index, in the store) with its
 * layers in the compression `want` names: converted layers are written (or
 * found) in the store, then a manifest naming them (and an index over those
 * manifests) is written there too. Returns `descriptor` itself when no layer
 * changes, so an output without `compression=` keeps today's digests.
 */
export async function convertImage(
  store: Store,
  descriptor: Descriptor,
  images: readonly PlatformImage[],
  want: OutputCompression,
  options: ConvertImageOptions = {},
): Promise<Descriptor> {
  const spec: CompressionSpec = { compression: want.compression, ...(want.level !== undefined ? { level: want.level } : {}) };
  const converted = new Map<Digest, Promise<Descriptor>>();
  const slot = pLimit(Math.max(1, options.concurrency ?? 2));
  const convertOne = (l: Descriptor & { diffId?: Digest }): Promise<Descriptor> => {
    let p = converted.get(l.digest);
    if (!p) {
      p = slot(() => convertLayerBlob(store, l, spec, options));
      converted.set(l.digest, p);
    }
    return p;
  };

  const convertManifest = async (img: PlatformImage): Promise<Descriptor> => {
    const stored = parseManifest(await store.readBlob(img.manifest.digest), img.manifest.mediaType);
    if (stored.layers.length !== img.layers.length) throw new Error(`manifest ${img.manifest.digest} has ${stored.layers.length} layers, the build made ${img.layers.length}`);
    const plan = stored.layers.map((l, i) => needsConversion(l, i >= img.baseLayerCount, want));
    if (!plan.some(Boolean)) return img.manifest;
    const layers = await Promise.all(
      stored.layers.map(async (l, i) => {
        if (!plan[i]) return l;
        const c = await convertOne({ ...l, diffId: img.layers[i]!.diffId });
        return { ...l, mediaType: c.mediaType, digest: c.digest, size: c.size };
      }),
    );
    const manifest = createManifest(stored.config, layers, stored.annotations, { ...(img.manifest.platform ? { platform: img.manifest.platform } : {}) });
    await store.writeBlob(manifest.bytes);
    return manifest.descriptor;
  };

  if (!isIndexMediaType(descriptor.mediaType)) {
    const img = images.find((i) => i.manifest.digest === descriptor.digest);
    if (!img) throw new Error(`convertImage: ${descriptor.digest} is not one of the built images`);
    return convertManifest(img);
  }
  const index = parseIndex(await store.readBlob(descriptor.digest), descriptor.mediaType);
  const manifests = await Promise.all(
    index.manifests.map(async (m) => {
      const img = images.find((i) => i.manifest.digest === m.digest);
      if (!img) throw new Error(`convertImage: index entry ${m.digest} is not one of the built images`);
      const d = await convertManifest(img);
      return { ...m, digest: d.digest, size: d.size };
    }),
  );
  if (manifests.every((m, i) => m.digest === index.manifests[i]!.digest)) return descriptor;
  const out = createIndex(manifests, index.annotations);
  await store.writeBlob(out.bytes);
  return out.descriptor;
}
