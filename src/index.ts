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
 */

/** Build an image from a Dockerfile and a context (see {@link BuildOptions}). */
export { build } from './build.js';
/** Parse and compile without building: the plan `ocibuild build --dry-run` prints. */
export { plan } from './build.js';
/** Options, results and progress events of {@link build} and {@link plan}. */
export type { BuildOptions, BuildResult, PlanResult, PullFn, ProgressEvent, PlatformImage, OutputSpec, OutputRecord, BuildRegistryOptions, RunOptions, CacheExportRecord } from './build.js';
/** Where a progress event's vertex comes from in the Dockerfile, and the `onProgress` callback's type. */
export type { ProgressLocation, ProgressSink } from './engine/progress.js';
/** What this host offers RUN (runtimes, overlayfs, user namespaces, subordinate ids), as `ocibuild doctor` prints it. */
export { probeHost, type HostProbe, type ProbeItem } from './run/index.js';
/** Where a build secret comes from (`RunOptions.secrets`), and the `--secret` / `--ssh` value parsers. */
export { parseSecretFlag, parseSshFlag, type SecretSource } from './run/index.js';
/** Parse an `--output` value (`type=oci,dest=out`) into an {@link OutputSpec}. */
export { parseOutputSpec } from './output/spec.js';
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

/** Write reproducible layers, read them back, apply them to a directory. */
export { writeLayer, readLayer, listLayer, applyLayer, entriesFromDirectory, validateLayerEntry } from './layers/index.js';
export { decodeFsName, encodeFsName, fsPath } from './fs-names.js';
/** The layer writer's entry and result types. */
export type { LayerEntry, LayerResult, WriteLayerOptions } from './layers/index.js';

/** Read images and write them as an OCI layout, a `docker load` archive or a plain directory. */
export { readImage, writeOciLayout, writeDockerArchive, writeLocal, createManifest, createIndex, createConfigBlob } from './image/index.js';
/** Platform strings (`linux/arm64/v8`) to objects and back. */
export { parsePlatform, formatPlatform, normalizePlatform, defaultPlatform } from './image/index.js';

/** Pull an image into a blob sink (the store), push a local image: `ocibuild pull`/`push` as functions. */
export { pull } from './registry/index.js';
/** Push a local image (store or OCI layout) to a registry reference. */
export { push } from './push/index.js';
/** The Distribution API client (auth, TLS, retries, mirrors) and its pull/push operations. */
export { RegistryClient, pullImage } from './registry/index.js';
/** Push an image (manifest or index) from any blob source: HEAD, mounts, chunked uploads, manifests last. */
export { pushImage } from './push/index.js';
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
export type { Digest, Descriptor, ImageManifest, ImageIndex, ImageConfig, Platform, BlobSource, BlobSink } from './oci/index.js';

/** The error every failure is reported with, and its codes. */
export { OcibuildError, isOcibuildError } from './errors.js';
/** Error codes and source positions. */
export type { ErrorCode, SourceRange, SourcePosition } from './errors.js';
/** A code frame (lines around a range, with a marker) for printing Dockerfile errors. */
export { formatCodeFrame } from './code-frame.js';
