export * from './types.js';
export { writeLayer } from './write.js';
export { entriesFromDirectory, type EntriesFromDirectoryOptions } from './walk.js';
export { createLayerLimit } from './limit.js';
export { ParallelGzip, GZIP_BLOCK_SIZE, GZIP_HEADER, type ParallelGzipOptions } from './gzip.js';
export type { TarHeader, TarEntryType } from './tar-format.js';
