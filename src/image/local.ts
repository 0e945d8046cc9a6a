import { promises as fs } from 'node:fs';
import { pipeline as pipelineCb, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip } from '../layers/gzip.js';
import { OcibuildError, isOcibuildError } from '../errors.js';
import { DigestStream, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { BlobSource, Descriptor, Platform } from '../oci/types.js';
import { applyLayer, type SkippedEntry } from '../layers/apply.js';
import { createZstdDecompress } from '../layers/zstd.js';
import { readImage } from './read.js';

/**
 * Applies one uncompressed layer tar to a directory: creates, replaces and
 * (for whiteouts `.wh.x`, `.wh..wh..opq`) deletes entries, refusing paths that
 * escape `rootDir`. This is the signature of `applyLayer` in `src/layers`.
 */
export type ApplyLayerFn = (stream: Readable, rootDir: string, options?: { signal?: AbortSignal; devices?: boolean }) => Promise<{ skipped?: readonly SkippedEntry[] } | void>;

/** Options of writeLocal. */
export interface WriteLocalOptions {
  /** The layer applier; default `applyLayer` from src/layers (whiteouts, escape checks, owners when root). */
  applyLayer?: ApplyLayerFn;
  /** Platform to pick when the descriptor is an index (default: the host's). */
  platform?: Platform;
  /**
   * Write block and character device nodes (as root). Default false: a local
   * output is a directory for people, and a layer's `brw-rw-rw- 8:0` would be
   * a world-writable handle on a real disk. Skipped nodes are listed in the
   * result's `skipped`. Fifos are always written.
   */
  devices?: boolean;
  signal?: AbortSignal;
}

/** What writeLocal wrote. */
export interface WriteLocalResult {
  /** The manifest applied (with its platform). */
  descriptor: Descriptor;
  /** diffIds of the layers applied, in order, each verified. */
  diffIds: Digest[];
  /** Entries not written (device nodes not asked for, xattrs), by layer path; the last layer's word wins. */
  skipped: SkippedEntry[];
}

type Decompress = () => NodeJS.ReadWriteStream;

function decompressorFor(mediaType: string): Decompress | undefined | 'none' {
  switch (mediaType) {
    case MediaType.ociLayer:
    case 'application/vnd.docker.image.rootfs.diff.tar':
      return 'none';
    case MediaType.ociLayerGzip:
    case MediaType.dockerLayerGzip:
    case MediaType.dockerForeignLayerGzip:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return () => createGunzip();
    case MediaType.ociLayerZstd:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return () => createZstdDecompress();
    default:
      return undefined;
  }
}

/**
 * Write an image's final filesystem into `destDir` (created if missing):
 * apply its layers in order, whiteouts included (src/layers' `applyLayer`
 * unless `options.applyLayer` is given).
 * Each layer is streamed from `source` (digest verified), decompressed, and
 * its diffId checked against the config's `rootfs.diff_ids`.
 */
export async function writeLocal(
  source: BlobSource,
  descriptor: Descriptor,
  destDir: string,
  options: WriteLocalOptions = {},
): Promise<WriteLocalResult> {
  const apply = options.applyLayer ?? applyLayer;
  const image = await readImage(source, descriptor, options.platform);
  // Refuse unsupported layers before touching the destination.
  const decompressors = image.manifest.layers.map((l) => {
    const d = decompressorFor(l.mediaType);
    if (d === undefined) {
      throw new OcibuildError('UNSUPPORTED', `layer ${l.digest} has media type ${l.mediaType}, which this Node.js cannot decompress`);
    }
    return d;
  });
  try {
    await fs.mkdir(destDir, { recursive: true });
  } catch (e) {
    throw new OcibuildError('OUTPUT_INVALID', `cannot create ${destDir}: ${(e as Error).message}`, { cause: e });
  }
  const diffIds: Digest[] = [];
  const skipped = new Map<string, SkippedEntry>();
  for (const [i, layer] of image.manifest.layers.entries()) {
    options.signal?.throwIfAborted();
    const expected = image.config.rootfs.diff_ids[i]!;
    const blob = await source.open(layer.digest, layer.size);
    const digest = new DigestStream();
    const decompress = decompressors[i]!;
    // pipeline() carries an error of any stage (a corrupt blob, bad gzip) to the stream the applier reads.
    if (decompress === 'none') pipelineCb(blob, digest, () => undefined);
    else pipelineCb(blob, decompress(), digest, () => undefined);
    try {
      const applied = await apply(digest, destDir, { signal: options.signal, devices: options.devices ?? false });
      for (const s of applied?.skipped ?? []) skipped.set(s.path, s);
      // The applier may stop at the end-of-archive marker: hash the rest too.
      if (!digest.readableEnded) {
        digest.resume();
        await finished(digest);
      }
    } catch (e) {
      blob.destroy();
      // Say which layer holds the entry (the message names the entry itself).
      if (isOcibuildError(e) && (e.code === 'LAYER_ESCAPE' || e.code === 'LAYER_INVALID')) {
        throw new OcibuildError(e.code, `layer ${i} (${layer.digest}): ${e.message}`, { cause: e, details: { ...e.details, layer: layer.digest } });
      }
      if (isOcibuildError(e)) throw e;
      throw new OcibuildError('LAYER_INVALID', `cannot apply layer ${i} (${layer.digest}): ${(e as Error).message}`, { cause: e });
    }
    if (digest.digest !== expected) {
      throw new OcibuildError('DIGEST_MISMATCH', `layer ${i} (${layer.digest}) decompresses to ${digest.digest}, the config says ${expected}`);
    }
    diffIds.push(digest.digest);
  }
  return { descriptor: image.descriptor, diffIds, skipped: [...skipped.values()] };
}
