/**
 * Layer compressions as outputs name them (`compression=gzip|zstd|uncompressed`,
 * `compression-level=N`), their levels and media types: plain data, so the
 * option parsers load none of the compressors.
 */
import { OcibuildError } from '../errors.js';
import { MediaType } from './media-types.js';

/** zstd levels `compression-level` takes, and the default (zstd's own). */
export const ZSTD_MIN_LEVEL = 1;
export const ZSTD_MAX_LEVEL = 19;
export const ZSTD_DEFAULT_LEVEL = 3;

/** A layer blob's compression, as `--output ...,compression=` names it. */
export type Compression = 'gzip' | 'zstd' | 'uncompressed';

/** A compression and its level (the compression's default when absent). */
export interface CompressionSpec {
  compression: Compression;
  level?: number;
}

/**
 * gzip level of the layers ocibuild writes (and of `compression=gzip` without
 * a level). 4, not zlib's default 6 (issue 8, measured on 2 cores with the
 * bench's two contexts, zlib's 128 KiB blocks): level 4 compresses ~2x as fast
 * per core as 6 (58-60 against 26-29 MB/s) for layers 3-5% bigger (a cold
 * build of 419 MB of big files: 6.9 s against 11.9 s; 220.0 MB against
 * 213.1 MB), and a build on a small CI runner is bound by this one pass.
 * containers/image (buildah, podman) defaults to gzip level 5 for the same
 * reason. `compression-level=` on an output recompresses for smaller blobs.
 */
export const GZIP_DEFAULT_LEVEL = 4;

/** The level a spec means: its own, else its compression's default (undefined for uncompressed). */
export function compressionLevel(spec: CompressionSpec): number | undefined {
  if (spec.compression === 'uncompressed') return undefined;
  return spec.level ?? (spec.compression === 'gzip' ? GZIP_DEFAULT_LEVEL : ZSTD_DEFAULT_LEVEL);
}

/** Throws USAGE when the level does not exist for the compression. */
export function checkCompressionSpec(spec: CompressionSpec): void {
  if (spec.level === undefined) return;
  const range: [number, number] | undefined = spec.compression === 'gzip' ? [0, 9] : spec.compression === 'zstd' ? [ZSTD_MIN_LEVEL, ZSTD_MAX_LEVEL] : undefined;
  if (!range) throw new OcibuildError('USAGE', `compression=${spec.compression} takes no level`);
  if (!Number.isInteger(spec.level) || spec.level < range[0] || spec.level > range[1]) {
    throw new OcibuildError('USAGE', `compression-level for ${spec.compression} must be an integer from ${range[0]} to ${range[1]}, got ${spec.level}`);
  }
}

/** The compression a layer media type names, or undefined when it is not a layer type ocibuild knows. */
export function compressionOfMediaType(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MediaType.ociLayer:
    case 'application/vnd.docker.image.rootfs.diff.tar':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'uncompressed';
    case MediaType.ociLayerGzip:
    case MediaType.dockerLayerGzip:
    case MediaType.dockerForeignLayerGzip:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return 'gzip';
    case MediaType.ociLayerZstd:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    default:
      return undefined;
  }
}

/** The OCI layer media type of a compression. */
export function layerMediaType(compression: Compression): string {
  return compression === 'gzip' ? MediaType.ociLayerGzip : compression === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
}

