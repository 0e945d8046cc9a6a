/**
 * COPY and ADD: sources (build context with .dockerignore, another stage or
 * image root, heredocs, URLs, git repositories, local archives) to a
 * reproducible layer. Knows `oci`, `layers` and `context`, never the
 * Dockerfile text: build.ts maps the compiler's typed steps onto a CopySpec.
 */
export { planCopy, copyToLayer, type CopyPlan, type CopyLayerResult } from './copy.js';
export type { PlannedEntries } from './plan-entries.js';
export type { CopySpec, CopyOptions, InlineFile, SourceFs, SourceStat, SourceType, DestFs, DestStat, IgnoreHit, HttpOptions, CopyWarning } from './types.js';
export { contextSourceFs, directorySourceFs, type DirectorySourceOptions, type IgnoreView } from './source-fs.js';
export { directoryDestFs, type DirectoryDestOptions } from './dest-fs.js';
export { ignoreViewFromPatterns, excludeMatcher } from './ignore.js';
export { parseChmod, type ChmodSpec } from './chmod.js';
export { resolveChown, splitChown, type ChownSpec, type Owner, type LookupFile } from './chown.js';
export { parseGitRef, checkoutGit, resolveGitCommit, type GitRef, type GitCheckout } from './git.js';
export { download, unchangedSince, urlFileName, isHttpSource, type Download } from './http.js';
export { detectCompression, detectArchive, openDecompressed, type Compression } from './archive.js';
export { resolveDestination } from './paths.js';
export { entriesDigest, type EntriesDigestOptions } from './digest.js';
