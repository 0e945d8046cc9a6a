/**
 * ocibuild: a daemonless, rootless OCI image builder and Dockerfile compiler.
 *
 * ```ts
 * import { build } from 'ocibuild';
 * const result = await build({ context: '.', tags: ['app:1.0'], outputs: ['type=oci,dest=app.oci'] });
 * console.log(result.descriptor.digest);
 * ```
 *
 * Every function returns a promise or a value; nothing prints. Errors are
 * {@link OcibuildError}s with a stable `code` (and a `file`/`range` for
 * Dockerfile errors, see {@link formatCodeFrame}).
 *
 * Importing this module stays cheap (issue 8: start-up): {@link build},
 * {@link plan}, {@link probeHost}, {@link pull}, {@link push},
 * {@link pullImage}, {@link pushImage}, the layer reader and writer and the
 * image readers and writers load their machinery (the engine, RUN, the
 * registry client, tar and gzip) on their first call, and the registry client,
 * the Dockerfile grammar and the tar reader load their packages when first used.
 */
import type * as BuildModule from './build.js';
import type * as ComposeModule from './build-compose.js';
import type * as ConvertModule from './output/convert.js';
import type * as RunModule from './run/index.js';
import type * as RegistryModule from './registry/index.js';
import type * as PushModule from './push/index.js';
import type * as LayersModule from './layers/index.js';
import type * as ImageModule from './image/index.js';

/** Build an image from a Dockerfile and a context (see {@link BuildOptions}). */
export function build(...args: Parameters<typeof BuildModule.build>): ReturnType<typeof BuildModule.build> {
  return import('./build.js').then((m) => m.build(...args));
}
/** Parse and compile without building: the plan `ocibuild build --dry-run` prints. */
export function plan(...args: Parameters<typeof BuildModule.plan>): ReturnType<typeof BuildModule.plan> {
  return import('./build.js').then((m) => m.plan(...args));
}
/** Build every service of a Compose file that has a build section, at once, sharing common steps (`ocibuild compose`). */
export function compose(...args: Parameters<typeof ComposeModule.compose>): ReturnType<typeof ComposeModule.compose> {
  return import('./build-compose.js').then((m) => m.compose(...args));
}
/** Each service's build options as `compose` would build them (reads and checks the Compose files, builds nothing). */
export function composeBuildPlan(...args: Parameters<typeof ComposeModule.composeBuildPlan>): ReturnType<typeof ComposeModule.composeBuildPlan> {
  return import('./build-compose.js').then((m) => m.composeBuildPlan(...args));
}
/** Options and results of {@link compose}: each service's build options, image or error. */
export type { ComposeOptions, ComposePlan, ComposeServicePlan, ComposeResult, ComposeServiceResult } from './build-compose.js';
/** A Compose file's checked build section, and where its values were written. */
export type { ComposeBuild, ComposeLocation, ComposeWarning } from './compose/index.js';
/** Options, results and progress events of {@link build} and {@link plan}. */
export type { BuildOptions, BuildResult, PlanResult, PullFn, LayerUploadFn, LayerUploader, ProgressEvent, PlatformImage, OutputSpec, OutputRecord, BuildRegistryOptions, RunOptions, CacheExportRecord } from './build.js';
/** Where a progress event's vertex comes from in the Dockerfile, and the `onProgress` callback's type. */
export type { ProgressLocation, ProgressSink } from './engine/progress.js';
/** What this host offers RUN (runtimes, overlayfs, user namespaces, subordinate ids), as `ocibuild doctor` prints it. */
export function probeHost(...args: Parameters<typeof RunModule.probeHost>): ReturnType<typeof RunModule.probeHost> {
  return import('./run/index.js').then((m) => m.probeHost(...args));
}
/** The host probe's result and its items. */
export type { HostProbe, ProbeItem } from './run/index.js';
/** Where a build secret comes from (`RunOptions.secrets`), and the `--secret` / `--ssh` value parsers. */
export { parseSecretFlag, parseSshFlag, type SecretSource } from './run/secrets.js';
/** Parse an `--output` value (`type=oci,dest=out`) into an {@link OutputSpec}. */
export { parseOutputSpec } from './output/spec.js';
export type { OutputCompression } from './output/spec.js';
/**
 * A stored layer blob in another compression (gzip, zstd, uncompressed), converted once and kept in
 * the store keyed by (source digest, compression, level); what `--output ...,compression=` uses.
 */
export function convertLayerBlob(...args: Parameters<typeof ConvertModule.convertLayerBlob>): ReturnType<typeof ConvertModule.convertLayerBlob> {
  return import('./output/convert.js').then((m) => m.convertLayerBlob(...args));
}
/** Parse `--cache-from` / `--cache-to` values (buildx syntax) into specs, as `build()` does with `cacheFrom`/`cacheTo`. */
export { parseCacheImport, parseCacheExport, type CacheImportSpec, type CacheExportSpec } from './cache/cache-spec.js';
/** The remote step cache artifact's `artifactType` and record media type. */
export { CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE } from './cache/cache-artifact.js';

/** Dockerfile text (or bytes) to a syntax tree with source ranges; variables are not expanded. */
export { parseDockerfile } from './parser/index.js';
/** BuildKit's AST dump of a syntax tree (the format of BuildKit's parser tests). */
export { dumpBuildkit } from './parser/index.js';
/** The syntax tree's types. */
export type { DockerfileAst, InstructionNode, FlagNode, Heredoc, Directive, ParseWarning } from './parser/ast.js';

/** Compile a syntax tree to a BuildGraph (typed, expanded steps; stages the target needs). */
export { compileDockerfile } from './compiler/index.js';
/** Run BuildKit's build checks (lint rules) on a syntax tree; warnings are data. */
export { checkDockerfile } from './compiler/index.js';
/** Compiler options and results, and the build-check warning shape. */
export type { CompileOptions, CompileResult, CheckResult, Warning } from './compiler/index.js';
/** The build graph: stages, steps and their dependencies. */
export type { BuildGraph, Stage, Step, StageBase, SourceRef, MountSpec } from './graph/index.js';
/** A readable plan of a build graph (stages, steps, what each depends on). */
export { formatPlan } from './graph/index.js';
/** Stage indexes grouped by depth: the stages of one group can build in parallel. */
export { levels } from './graph/index.js';

/** The local content-addressed store (an OCI image layout) and its default location. */
export { Store, defaultStoreRoot } from './cache/index.js';
/** Store operations as the CLI offers them: list, remove and prune images. */
export { listImages, removeImages, pruneStore } from './cache/index.js';
/** `RUN --mount=type=cache` directories of a store: list (`ocibuild images --caches`) and prune. */
export { listCacheMounts, pruneCacheMounts, type CacheMountInfo, type PruneCacheMountsOptions } from './cache/cache-mounts.js';

/** Write a reproducible layer (tar, diffId, gzip, digest) from entries. */
export function writeLayer(...args: Parameters<typeof LayersModule.writeLayer>): ReturnType<typeof LayersModule.writeLayer> {
  return import('./layers/index.js').then((m) => m.writeLayer(...args));
}
/** Read a layer's entries with their bodies (gzip, zstd or plain tar); names leaving the tree end the read. */
export async function* readLayer(...args: Parameters<typeof LayersModule.readLayer>): ReturnType<typeof LayersModule.readLayer> {
  return yield* (await import('./layers/index.js')).readLayer(...args);
}
/** List a layer's entries (gzip, zstd or plain) without their bodies. */
export function listLayer(...args: Parameters<typeof LayersModule.listLayer>): ReturnType<typeof LayersModule.listLayer> {
  return import('./layers/index.js').then((m) => m.listLayer(...args));
}
/** Apply a layer (whiteouts included) to a directory. */
export function applyLayer(...args: Parameters<typeof LayersModule.applyLayer>): ReturnType<typeof LayersModule.applyLayer> {
  return import('./layers/index.js').then((m) => m.applyLayer(...args));
}
/** The layer entries of a directory tree, as COPY writes them. */
export function entriesFromDirectory(...args: Parameters<typeof LayersModule.entriesFromDirectory>): ReturnType<typeof LayersModule.entriesFromDirectory> {
  return import('./layers/index.js').then((m) => m.entriesFromDirectory(...args));
}
/** Check one layer entry as every reader must: its name, a hardlink's target and a whiteout stay inside the tree. */
export { validateLayerEntry } from './layers/names.js';
export { decodeFsName, encodeFsName, fsPath } from './fs-names.js';
/** The layer writer's entry and result types (entries: an array, or a list that makes each when asked for). */
export type { LayerEntry, LayerEntryList, LayerResult, WriteLayerOptions } from './layers/index.js';
/** Convert a layer stream from one compression to another in one pass (diffId verified, reproducible bytes). */
export function convertLayer(...args: Parameters<typeof LayersModule.convertLayer>): ReturnType<typeof LayersModule.convertLayer> {
  return import('./layers/index.js').then((m) => m.convertLayer(...args));
}
export type { Compression, CompressionSpec, ConvertedLayer } from './layers/index.js';

/** Read and validate an image's manifest (of one platform of an index) and config from a blob source. */
export function readImage(...args: Parameters<typeof ImageModule.readImage>): ReturnType<typeof ImageModule.readImage> {
  return import('./image/index.js').then((m) => m.readImage(...args));
}
/** Write an image as an OCI image layout: a directory, or a reproducible tarball of it. */
export function writeOciLayout(...args: Parameters<typeof ImageModule.writeOciLayout>): ReturnType<typeof ImageModule.writeOciLayout> {
  return import('./image/index.js').then((m) => m.writeOciLayout(...args));
}
/** Write an image as a `docker load` archive. */
export function writeDockerArchive(...args: Parameters<typeof ImageModule.writeDockerArchive>): ReturnType<typeof ImageModule.writeDockerArchive> {
  return import('./image/index.js').then((m) => m.writeDockerArchive(...args));
}
/** Write an image's final filesystem (its layers applied in order) into a directory. */
export function writeLocal(...args: Parameters<typeof ImageModule.writeLocal>): ReturnType<typeof ImageModule.writeLocal> {
  return import('./image/index.js').then((m) => m.writeLocal(...args));
}
/** Manifests, indexes and config blobs as exact bytes with their descriptors. */
export { createManifest, createIndex, createConfigBlob } from './image/manifest.js';
/** Platform strings (`linux/arm64/v8`) to objects and back. */
export { parsePlatform, formatPlatform, normalizePlatform, defaultPlatform } from './image/platform.js';

/** Pull an image into a blob sink (the store), push a local image: `ocibuild pull`/`push` as functions. */
export function pull(...args: Parameters<typeof RegistryModule.pull>): ReturnType<typeof RegistryModule.pull> {
  return import('./registry/index.js').then((m) => m.pull(...args));
}
/** Push a local image (store or OCI layout) to a registry reference. */
export function push(...args: Parameters<typeof PushModule.push>): ReturnType<typeof PushModule.push> {
  return import('./push/index.js').then((m) => m.push(...args));
}
/** The Distribution API client on node:http (auth, TLS, retries, mirrors). */
export { RegistryClient } from './registry/client.js';
/** Pull an image (manifest or index, its config and layers) into a blob sink with a client. */
export function pullImage(...args: Parameters<typeof RegistryModule.pullImage>): ReturnType<typeof RegistryModule.pullImage> {
  return import('./registry/index.js').then((m) => m.pullImage(...args));
}
/** Push an image (manifest or index) from any blob source: HEAD, mounts, chunked uploads, manifests last. */
export function pushImage(...args: Parameters<typeof PushModule.pushImage>): ReturnType<typeof PushModule.pushImage> {
  return import('./push/index.js').then((m) => m.pushImage(...args));
}
/** Registry client, pull and push options and results. */
export type { RegistryClientOptions, PullOptions, PullResult, PullProgress, Credentials } from './registry/index.js';
/** Bounded waits of registry requests (connect, response, idle body) and the waits reported while they last. */
export type { RegistryTimeouts, RegistryWait } from './registry/index.js';
/** Push options and results. */
export type { PushOptions, PushResult, PushProgress } from './push/index.js';
/** Image references parsed and normalized as Docker does (`busybox` → `docker.io/library/busybox:latest`). */
export { normalizeReference, formatReference, familiarString } from './oci/reference.js';
/** A parsed image reference. */
export type { ImageReference } from './oci/reference.js';

/** Digests and OCI value types. */
export { parseDigest, sha256, MediaType } from './oci/index.js';
/** OCI value types. */
export type { Digest, Descriptor, ImageManifest, ImageIndex, ImageConfig, Platform, BlobSource, BlobSink, GrowingBlob } from './oci/index.js';

/** The error every failure is reported with, and its codes. */
export { OcibuildError, isOcibuildError } from './errors.js';
/** Error codes and source positions. */
export type { ErrorCode, SourceRange, SourcePosition } from './errors.js';
/** A code frame (lines around a range, with a marker) for printing Dockerfile errors. */
export { formatCodeFrame } from './code-frame.js';
