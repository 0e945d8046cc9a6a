export * from './types.js';
export { writeLayer } from './write.js';
export { entriesFromDirectory, type EntriesFromDirectoryOptions } from './walk.js';
export { readLayer, listLayer, normalizeTarName, type TarEntry, type EntryBody, type ReadLayerOptions, type ListedEntry } from './read.js';
export { applyLayer, type ApplyLayerOptions, type ApplyLayerResult, type SkippedEntry } from './apply.js';
export { createLayerLimit } from './limit.js';
export { ParallelGzip, GZIP_BLOCK_SIZE, GZIP_HEADER, type ParallelGzipOptions } from './gzip.js';
export type { TarHeader, TarEntryType } from './tar-format.js';
export { validateLayerEntry, parseWhiteout, layerPathParts, type ParsedWhiteout } from './names.js';
export {
  convertLayer,
  createCompressor,
  createDecompressor,
  compressionOfMediaType,
  compressionLevel,
  checkCompressionSpec,
  layerMediaType,
  GZIP_DEFAULT_LEVEL,
  type Compression,
  type CompressionSpec,
  type CompressorOptions,
  type ConvertedLayer,
} from './convert.js';
export { createZstdCompress, createZstdDecompress, ZSTD_DEFAULT_LEVEL, ZSTD_MIN_LEVEL, ZSTD_MAX_LEVEL } from './zstd.js';
