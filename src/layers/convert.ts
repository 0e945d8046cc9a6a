/**
 * Layer compression as values and streams: which compression a media type
 * names, the media type of a compression, a compressor and a decompressor per
 * compression, and {@link convertLayer}, one streaming pass that turns a layer
 * blob of one compression into another (decompress, verify the diffId,
 * recompress, digest). Every compressor is reproducible: the same tar gives
 * the same bytes at any concurrency (gzip: {@link ParallelGzip}, the same
 * bytes the layer writer makes; zstd: the `zstd` program's multi-threaded
 * mode, see {@link createZstdCompress}).
 */
import { PassThrough, Transform, Writable, type Duplex, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcibuildError, isOcibuildError } from '../errors.js';
import { DigestStream, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { createGunzip, defaultGzipInFlight, GZIP_BLOCK_SIZE, ParallelGzip } from './gzip.js';
import { createZstdCompress, createZstdDecompress } from './zstd.js';
import type { Compression, CompressionSpec } from '../oci/compression.js';
import { checkCompressionSpec, compressionLevel, compressionOfMediaType, layerMediaType } from '../oci/compression.js';

export { checkCompressionSpec, compressionLevel, compressionOfMediaType, GZIP_DEFAULT_LEVEL, layerMediaType, type Compression, type CompressionSpec } from '../oci/compression.js';

/** A stream that decompresses `compression` (a pass-through for uncompressed). */
export function createDecompressor(compression: Compression): Duplex {
  switch (compression) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return createZstdDecompress();
    case 'uncompressed':
      return new PassThrough({ highWaterMark: 1024 * 1024 });
  }
}

/** Cuts the stream into fixed blocks for {@link ParallelGzip} (the layer writer's framing, so its bytes). */
class GzipTransform extends Transform {
  private readonly gzip: ParallelGzip;
  private buf: Buffer[] = [];
  private bufLen = 0;

  constructor(level: number, concurrency: number) {
    super({ readableHighWaterMark: 1024 * 1024 });
    this.gzip = new ParallelGzip({ level, emit: (c) => void this.push(c), maxInFlight: concurrency });
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.feed(chunk).then(() => cb(), (e: unknown) => cb(e as Error));
  }

  private async feed(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(GZIP_BLOCK_SIZE - this.bufLen, chunk.length - off);
      this.buf.push(chunk.subarray(off, off + take));
      this.bufLen += take;
      off += take;
      if (this.bufLen === GZIP_BLOCK_SIZE) await this.flushBlock();
    }
  }

  private async flushBlock(): Promise<void> {
    const block = Buffer.concat(this.buf, this.bufLen);
    this.buf = [];
    this.bufLen = 0;
    await this.gzip.push(block);
  }

  override _flush(cb: TransformCallback): void {
    (async () => {
      if (this.bufLen > 0) await this.flushBlock();
      await this.gzip.end();
    })().then(() => cb(), (e: unknown) => cb(e as Error));
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.gzip.abort().then(() => cb(err), () => cb(err));
  }
}

/** Options of {@link createCompressor} and {@link convertLayer}. */
export interface CompressorOptions {
  /**
   * Work at once: gzip blocks queued for the libuv threadpool (default twice its threads),
   * zstd worker threads (default 2). Never changes the bytes.
   */
  concurrency?: number;
}

/**
 * A stream that compresses a tar as `spec` says, reproducibly: gzip through
 * the layer writer's block-parallel encoder (so a gzip layer converted from
 * zstd at the default level has the bytes ocibuild would have written), zstd through
 * the `zstd` program (same bytes for any number of threads; they may change
 * with the zstd version), a pass-through for uncompressed.
 */
export function createCompressor(spec: CompressionSpec, options: CompressorOptions = {}): Duplex {
  checkCompressionSpec(spec);
  switch (spec.compression) {
    case 'gzip':
      return new GzipTransform(compressionLevel(spec)!, options.concurrency ?? defaultGzipInFlight());
    case 'zstd':
      return createZstdCompress({ level: compressionLevel(spec)!, threads: options.concurrency ?? 2 });
    case 'uncompressed':
      return new PassThrough({ highWaterMark: 1024 * 1024 });
  }
}

/** What {@link convertLayer} wrote. */
export interface ConvertedLayer {
  /** SHA-256 of the written blob. */
  digest: Digest;
  /** Its byte length. */
  size: number;
  /** Its OCI media type. */
  mediaType: string;
  /** SHA-256 of the tar inside (checked against `expected.diffId` when given). */
  diffId: Digest;
  /** Byte length of the tar. */
  uncompressedSize: number;
}

/**
 * Converts one layer blob in a single streaming pass: `source` (a blob in
 * compression `from`) is decompressed, its diffId hashed (and verified when
 * `expected.diffId` is given: DIGEST_MISMATCH otherwise), compressed as `to`,
 * digested and written to `out` (`onRead` is told the source bytes read so far). Nothing is held in memory beyond the
 * compressors' windows and blocks. `out` is ended when the pass succeeds; on
 * any failure every stream is destroyed and the error is an OcibuildError.
 */
export async function convertLayer(
  source: Readable,
  from: Compression,
  to: CompressionSpec,
  out: Writable,
  options: CompressorOptions & { expected?: { diffId?: Digest }; signal?: AbortSignal; onRead?: (bytes: number) => void } = {},
): Promise<ConvertedLayer> {
  const compress = createCompressor(to, options);
  const tar = new DigestStream();
  const blob = new DigestStream();
  const onRead = options.onRead;
  let read = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      read += chunk.length;
      onRead?.(read);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(source, counter, createDecompressor(from), tar, compress, blob, out, options.signal ? { signal: options.signal } : {});
  } catch (e) {
    if (isOcibuildError(e)) throw e;
    if ((e as Error).name === 'AbortError') throw e;
    throw new OcibuildError('LAYER_INVALID', `cannot convert a ${from} layer to ${to.compression}: ${(e as Error).message}`, { cause: e });
  }
  if (options.expected?.diffId && tar.digest !== options.expected.diffId) {
    throw new OcibuildError('DIGEST_MISMATCH', `layer decompresses to ${tar.digest}, expected diffId ${options.expected.diffId}`);
  }
  return { digest: blob.digest, size: blob.size, mediaType: layerMediaType(to.compression), diffId: tar.digest, uncompressedSize: tar.size };
}
