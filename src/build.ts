/**
 * The build: Dockerfile text → graph → layers in the store → image(s) →
 * outputs. This is the only module that knows every other one.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { storeRemoveOptions } from './rootfs/unpacked.js';
import { Store } from './cache/store.js';
import { defaultStoreRoot } from './cache/paths.js';
import { checkBaseImagePlatform, compileDockerfile, type CompileOptions } from './compiler/index.js';
import type { Warning } from './compiler/lint.js';
import { loadIgnoreFile, PatternMatcher, type LoadedIgnoreFile } from './context/index.js';
import { ignoreViewFromPatterns } from './copy/ignore.js';
import type { HttpOptions } from './copy/types.js';
import { OcibuildError } from './errors.js';
import type { BuildGraph } from './graph/types.js';
import { createIndex } from './image/manifest.js';
import { defaultPlatform, formatPlatform, normalizePlatform, parsePlatform } from './image/platform.js';
import { readImage } from './image/read.js';
import { parseImageName, normalizeImageName } from './image/names.js';
import type { Digest } from './oci/digest.js';
import { isIndexMediaType } from './oci/media-types.js';
import type { Descriptor, ImageConfig, Platform } from './oci/types.js';
import { parseDockerfile } from './parser/index.js';
import type { DockerfileAst } from './parser/ast.js';
import { buildPlatform, baseKey, type PlatformImage, type ResolvedBase } from './engine/engine.js';
import type { ExplainEntry } from './engine/explain.js';
import { createStepFlights, type StepFlights } from './engine/cached.js';
import { inVertex, type ProgressEvent, type ProgressSink } from './engine/progress.js';
import type { Layer } from './image/state.js';
import { writeOutputs, type LayerUploader, type LayerUploadFn, type OutputRecord, type PushBlobProgress, type PushFn } from './output/write.js';
import { StatCache } from './cache/stat-cache.js';
import { localExplainLog, localStepCache } from './cache/step-cache.js';
import { checkOutputSpec, parseOutputSpec, type OutputSpec } from './output/spec.js';
import { chooseSandbox, probeHost, readSecret, type ExtraHost, type IsolationRequest, type Rlimit, type SandboxMethod, type SecretSource, type SnapshotRequest } from './run/index.js';

import { checkBuildOptions, withBuildDefaults, type BuildRegistryOptions } from './build-defaults.js';
import { checkoutGitContext, gitContextOf } from './build-git.js';
import { importLayoutImage, layoutContextOf, loadBuildContexts, namedContextLookup, parseBuildContexts, type BuildContexts } from './build-contexts.js';
import { RemoteCaches, exportCaches, mountOrFetch, writeThrough, type CacheExportRecord, type CacheIo, type SeenStep } from './build-cache.js';
import { parseCacheExport, parseCacheImport } from './cache/cache-spec.js';
import type { RegistryClient } from './registry/index.js';

export type { ProgressEvent, ProgressSink, PlatformImage, OutputSpec, OutputRecord, ExplainEntry, PushFn, PushBlobProgress, LayerUploadFn, LayerUploader, BuildRegistryOptions, CacheExportRecord };

/** Bytes of one blob of a pull, as they arrive. */
export interface PullBlobProgress {
  digest: Digest;
  /** `layer`, `config`, `manifest` or `index`. */
  kind: string;
  /** Bytes received so far. */
  current: number;
  total?: number;
  done: boolean;
}

/**
 * Pulls an image into the store and returns the descriptor of what was
 * pulled (a manifest or an index). Supplied by the registry client.
 */
export type PullFn = (
  ref: string,
  platform: Platform,
  options: { store: Store; signal?: AbortSignal; onProgress?: (event: PullBlobProgress) => void },
) => Promise<{ descriptor: Descriptor; name: string }>;

/** Options of {@link build}. */
export interface BuildOptions {
  /**
   * The build context directory, or a git repository (`https://host/repo.git#ref:subdir`,
   * `git@host:repo.git`, `ssh://...`, `git://...`), checked out into the store for the build.
   */
  context: string;
  /** Path of the Dockerfile (default `<context>/Dockerfile`; with a git context, a relative path is inside it). */
  file?: string;
  /** The Dockerfile's contents, instead of reading `file` (then `file` only names it in errors). */
  dockerfile?: string | Uint8Array;
  /** Target stage (default: the last one). */
  target?: string;
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** Target platforms (`linux/arm64`); several build an OCI index. Default: the host's. */
  platforms?: (string | Platform)[];
  /** Names to give the image (store tags, registry references). */
  tags?: string[];
  /** Labels added to the final image's config. */
  labels?: Record<string, string>;
  /** Annotations added to the manifest (and the index, for several platforms). */
  annotations?: Record<string, string>;
  /** Where the result goes besides the store (`--output` values or specs). `tags` always tag the store. */
  outputs?: (string | OutputSpec)[];
  /** Also push the tags to their registries (`--push`). */
  push?: boolean;
  /** Always pull `FROM` images from their registry, even when the store has the tag. */
  pull?: boolean;
  /** Neither look up nor record COPY/ADD layers in the store's step cache. */
  noCache?: boolean;
  /**
   * Named build contexts (`--build-context NAME=VALUE`, as buildx defines it): VALUE is a directory,
   * `docker-image://REF`, `oci-layout://DIR[@DIGEST]` or `target:STAGE`. `FROM NAME`,
   * `COPY --from=NAME` and `RUN --mount=from=NAME` resolve to it; a context named like a stage
   * replaces the stage, one named like an image replaces that image. Relative directories resolve
   * against the current working directory. A malformed value is a `USAGE` error naming it.
   */
  buildContexts?: Record<string, string>;
  /** Remote step caches to import (`--cache-from` values: `type=registry,ref=...`, `type=local,src=DIR`, or a bare ref). */
  cacheFrom?: string[];
  /** Step cache exports (`--cache-to` values: `type=registry,ref=...,mode=min|max`, `type=local,dest=DIR`, `type=inline`). */
  cacheTo?: string[];
  /** Say, for every step, whether it came from the cache and, for a miss, what changed since the last build (`result.explain`). */
  explain?: boolean;
  /** SOURCE_DATE_EPOCH (seconds): clamps layer mtimes and sets `created`. Default: `env.SOURCE_DATE_EPOCH`. */
  sourceDateEpoch?: number;
  /** The local store (default: opened at `storeRoot`). */
  store?: Store;
  /** Where the store lives (default `$OCIBUILD_HOME`, else `$XDG_CACHE_HOME/ocibuild`). */
  storeRoot?: string;
  /** Pulls base images missing from the store (the registry client provides it). */
  pullImage?: PullFn;
  /** Pushes a built image to a registry reference (the registry client provides it). */
  pushImage?: PushFn;
  /**
   * Uploads the layers of a push (`push`, or a registry output in the stored
   * compression) while they are written, committed by the push once the build
   * succeeded and dropped when it fails (the registry client provides it; by
   * default only when `pushImage` is not given, so a push hook of one's own
   * sees every upload).
   */
  layerUploads?: LayerUploadFn;
  /**
   * The registry client remote caches (`cacheFrom`, `cacheTo`) talk through,
   * and pulls and pushes when `pullImage`/`pushImage` are not given. The
   * caller closes it. Default: one made from `registry` and `env`, closed
   * when the build ends.
   */
  registryClient?: RegistryClient;
  /**
   * Registry settings for pulling bases and pushing when `pullImage`/`pushImage`
   * are not given: explicit `creds` by host, `registryCa` files, `insecureRegistries`,
   * `mirrors`. Credentials also come from `$DOCKER_CONFIG/config.json`, its helpers
   * and `$REGISTRY_AUTH_FILE` (read from `env`), as for the CLI.
   */
  registry?: BuildRegistryOptions;
  /** HTTP options for ADD URLs. */
  http?: HttpOptions;
  /** How RUN steps run (docker build's RUN-side flags). */
  run?: RunOptions;
  /** Environment (SOURCE_DATE_EPOCH, OCIBUILD_HOME, ...): default `process.env`. */
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Receives the build's progress events (steps, pulls, layer writes, outputs, warnings). */
  onProgress?: ProgressSink;
}

/** RUN settings of a build. */
export interface RunOptions {
  /** `oci` (crun or runc), `chroot` (unshare + chroot), or `auto` (default: oci when a runtime works). */
  isolation?: IsolationRequest;
  /** Prefer this runtime when both work (default crun). */
  runtime?: 'crun' | 'runc';
  /**
   * The snapshot method (`--snapshotter`): `overlay` (kernel), `fuse-overlayfs`,
   * `copy` (the layers copied into a fresh tree, diffed by stat after the
   * command), or `auto` (default: the first that works, in that order; a
   * fallback is reported as a warning).
   */
  snapshot?: SnapshotRequest;
  /** Network of RUN steps without `--network` (default: the host's). */
  network?: 'default' | 'none' | 'host';
  /** Extra /etc/hosts lines (`--add-host`). */
  addHosts?: ExtraHost[];
  /** /dev/shm size in bytes (`--shm-size`). */
  shmSize?: number;
  /** Lowered resource limits (`--ulimit`; see parseUlimit). */
  ulimits?: Rlimit[];
  /** Allow `RUN --security=insecure` (`--allow security.insecure`). */
  allowInsecure?: boolean;
  /**
   * Secrets for `RUN --mount=type=secret`, by id (`--secret id=x,src=FILE|env=VAR`).
   * Read when a RUN mounts them; never stored, logged or put in a cache key.
   */
  secrets?: Record<string, SecretSource>;
  /** SSH forwarding for `RUN --mount=type=ssh`, by id: agent sockets or key files (`[]`: `$SSH_AUTH_SOCK`). */
  ssh?: Record<string, string[]>;
}

/** What a build produced. */
export interface BuildResult {
  /** The image: a manifest (one platform) or an index (several). */
  descriptor: Descriptor;
  /** Config digest (the Docker image ID) for a single platform. */
  configDigest?: Digest;
  images: PlatformImage[];
  tags: string[];
  warnings: Warning[];
  outputs: OutputRecord[];
  /** Base images, pinned by digest. */
  bases: string[];
  /** With `explain`: every step, hit or miss, and for a miss what changed. */
  explain?: ExplainEntry[];
  /** With `cacheFrom`/`cacheTo`: what was exported, and the remote caches' warnings (also sent as progress warnings). */
  cache?: { exports: CacheExportRecord[]; warnings: string[] };
}

/** A compiled plan (for `--dry-run`). */
export interface PlanResult {
  ast: DockerfileAst;
  graph: BuildGraph;
  warnings: Warning[];
}

interface Prepared {
  ast: DockerfileAst;
  file: string;
  contextDir: string;
  dockerfilePath?: string;
  ignore: LoadedIgnoreFile;
  platforms: Platform[];
  env: Record<string, string | undefined>;
  /** Named build contexts, checked (directories exist, OCI layouts resolved to a digest). */
  contexts: BuildContexts;
}

async function prepare(options: BuildOptions): Promise<Prepared> {
  const env = options.env ?? process.env;
  const contextDir = path.resolve(options.context);
  let bytes: Uint8Array;
  let file: string;
  let dockerfilePath: string | undefined;
  if (options.dockerfile !== undefined) {
    bytes = typeof options.dockerfile === 'string' ? Buffer.from(options.dockerfile, 'utf8') : options.dockerfile;
    file = options.file ?? 'Dockerfile';
    dockerfilePath = options.file ? path.resolve(options.file) : undefined;
  } else {
    dockerfilePath = path.resolve(options.file ?? path.join(contextDir, 'Dockerfile'));
    file = options.file ?? path.join(options.context, 'Dockerfile');
    try {
      bytes = await readFile(dockerfilePath);
    } catch (e) {
      throw new OcibuildError('CONTEXT_NOT_FOUND', `cannot read Dockerfile ${dockerfilePath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
  }
  const ast = parseDockerfile(bytes, { file });
  const ignore = await loadIgnoreFile(contextDir, dockerfilePath);
  const platforms = (options.platforms && options.platforms.length > 0 ? options.platforms : [defaultPlatform()]).map((p) =>
    normalizePlatform(typeof p === 'string' ? parsePlatform(p) : p),
  );
  const seen = new Set<string>();
  for (const p of platforms) {
    const key = formatPlatform(p);
    if (seen.has(key)) throw new OcibuildError('USAGE', `platform ${key} given twice`);
    seen.add(key);
  }
  const contexts = await loadBuildContexts(parseBuildContexts(options.buildContexts ?? {}, process.cwd()));
  return { ast, file, contextDir, dockerfilePath, ignore, platforms, env, contexts };
}

function compileOptions(options: BuildOptions, prepared: Prepared, platform: Platform): CompileOptions {
  const matcher = new PatternMatcher(prepared.ignore.patterns);
  return {
    target: options.target,
    buildArgs: options.buildArgs,
    platform: { buildPlatform: defaultPlatform(), targetPlatform: platform },
    ignore: { patterns: prepared.ignore.patterns.map((p) => (typeof p === 'string' ? p : p.pattern)), matches: (p) => matcher.matchesOrParentMatches(p) },
    ...(prepared.contexts.byName.size > 0 ? { namedContext: namedContextLookup(prepared.contexts) } : {}),
  };
}

/**
 * Parses and compiles a Dockerfile without building it: the plan `--dry-run`
 * prints (stages, steps, dependencies), for the first target platform.
 */
export async function plan(options: BuildOptions): Promise<PlanResult> {
  checkBuildOptions(options);
  if (gitContextOf(options.context)) throw new OcibuildError('UNSUPPORTED', `a plan (--dry-run) reads a local context; ${options.context} is a git repository (build it, or clone it and plan its directory)`);
  const prepared = await prepare(options);
  const { value, warnings } = compileDockerfile(prepared.ast, compileOptions(options, prepared, prepared.platforms[0]!));
  return { ast: prepared.ast, graph: value, warnings };
}

function sourceDateEpoch(options: BuildOptions, env: Record<string, string | undefined>): number | undefined {
  if (options.sourceDateEpoch !== undefined) return options.sourceDateEpoch;
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^[0-9]+$/.test(v)) throw new OcibuildError('USAGE', `SOURCE_DATE_EPOCH must be a number of seconds, got ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * Builds an image from a Dockerfile and a context, without a daemon and
 * without root. Layers go to the local store; the result is tagged there and
 * written to every requested output.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  return withBuildDefaults(options, (o, client) => buildWithHooks(o, client));
}

/** What builds running at once in one process share (`compose`): the cache keys in flight, and base images resolved or being pulled. */
export interface BuildSession {
  stepFlights: StepFlights;
  bases: Map<string, Promise<ResolvedBase>>;
}

/** A session for builds that are to share their steps (a step two of them reach is built once, a base pulled once). */
export function createBuildSession(): BuildSession {
  return { stepFlights: createStepFlights(), bases: new Map() };
}

/** {@link build} as one of several concurrent builds of `session` (for compose; not exported by index.ts). */
export async function buildInSession(options: BuildOptions, session: BuildSession): Promise<BuildResult> {
  return withBuildDefaults(options, (o, client) => buildWithHooks(o, client, session));
}

/** The store a build (or compose) uses: the one given, else opened at `storeRoot` or the default root. */
export async function openBuildStore(options: Pick<BuildOptions, 'store' | 'storeRoot' | 'env'>, env = options.env ?? process.env): Promise<Store> {
  return options.store ?? (await Store.open(options.storeRoot ?? defaultStoreRoot(env, os.homedir()), storeRemoveOptions()));
}

/** {@link build} once its options are checked and its registry hooks set. */
async function buildWithHooks(options: BuildOptions, client: () => Promise<RegistryClient>, session?: BuildSession): Promise<BuildResult> {
  const started: BuildStarted = { held: [] };
  try {
    return await buildWith(options, client, session, started);
  } finally {
    // A build that did not reach its push leaves no upload behind (a no-op once the push committed them).
    await started.uploads?.cancel();
    for (const release of started.held) release();
  }
}

/**
 * The registry output whose layers go ahead of its push as they are written: the first push in the
 * stored compression (a converted output sends other bytes), by its first name.
 */
function layerUploadTarget(outputs: readonly OutputSpec[], tags: readonly string[]): string | undefined {
  for (const o of outputs) {
    if (!(o.type === 'registry' || (o.type === 'image' && o.push)) || o.compression) continue;
    const name = (o.names.length > 0 ? o.names : tags)[0];
    if (name !== undefined) return name;
  }
  return undefined;
}

/** What a build started that its end must stop: layer uploads, and the blobs of its bases held fresh. */
interface BuildStarted {
  uploads?: LayerUploader;
  held: Array<() => void>;
}

async function buildWith(options: BuildOptions, client: () => Promise<RegistryClient>, session: BuildSession | undefined, started: BuildStarted): Promise<BuildResult> {
  const git = gitContextOf(options.context);
  if (git) {
    // A git URL as the context: checked out into the store's temp dir, built as a directory, removed.
    const store = await openBuildStore(options);
    const checkout = await checkoutGitContext(store, git, options.signal);
    try {
      // A relative Dockerfile path is inside the repository's context, as docker build reads it.
      const file = options.file !== undefined && options.dockerfile === undefined && !path.isAbsolute(options.file) ? path.join(checkout.dir, options.file) : options.file;
      return await buildWithHooks({ ...options, context: checkout.dir, store, ...(file !== undefined ? { file } : {}) }, client, session);
    } finally {
      await checkout.dispose();
    }
  }
  const prepared = await prepare(options);
  const env = prepared.env;
  const store = await openBuildStore(options, env);
  const cacheImports = (options.cacheFrom ?? []).map(parseCacheImport);
  const cacheExports = (options.cacheTo ?? []).map(parseCacheExport);
  const usesRemoteCache = cacheImports.length + cacheExports.length > 0;
  const cacheWarnings: string[] = [];
  const cacheIo: CacheIo = {
    store,
    client,
    warn: (message) => {
      cacheWarnings.push(message);
      options.onProgress?.({ type: 'warning', time: Date.now(), message });
    },
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    now: () => Date.now(),
  };
  if (options.noCache && usesRemoteCache) cacheIo.warn('--no-cache: no step is looked up or recorded, so --cache-from is not read and --cache-to exports nothing');
  const remote = !options.noCache && cacheImports.length > 0 ? await RemoteCaches.load(cacheImports, cacheIo) : undefined;
  const localCache = localStepCache(store);
  const stepCache = remote ? remote.stepCache(localCache) : localCache;
  const seen: SeenStep[] = [];
  const epoch = sourceDateEpoch(options, env);
  // Reproducible by default: without SOURCE_DATE_EPOCH, `created` is the epoch (as ko and kaniko --reproducible do).
  const created = new Date((epoch ?? 0) * 1000).toISOString().replace('.000Z', 'Z');
  const outputs = (options.outputs ?? []).map((o) => (typeof o === 'string' ? parseOutputSpec(o) : checkOutputSpec(o)));
  const tags = [...(options.tags ?? [])];
  for (const t of tags) parseImageName(t);
  // The layers are in the store anyway: -t names always tag it there (other outputs come in addition).
  if (tags.length > 0 && !outputs.some((o) => o.type === 'image')) outputs.unshift({ type: 'image', names: [], push: false });
  if (options.push) outputs.push({ type: 'registry', names: [] });
  if (outputs.some((o) => o.type === 'registry' || (o.type === 'image' && o.push)) && !options.pushImage) {
    throw new OcibuildError('USAGE', 'pushing needs a registry client (pushImage)');
  }
  // The clock enters here.
  const now = () => Date.now();
  let statCacheLoad: Promise<StatCache> | undefined;
  const statCache = () => (statCacheLoad ??= StatCache.load(path.join(store.root, 'statcache')));
  // Per build, or shared by the builds of a session (over the same store, with the same --pull).
  const resolved = session?.bases ?? new Map<string, Promise<ResolvedBase>>();
  const resolveImage = (ref: string, platform: Platform): Promise<ResolvedBase> => {
    const key = session ? JSON.stringify([store.root, options.pull === true, baseKey(ref, platform)]) : baseKey(ref, platform);
    let r = resolved.get(key);
    if (!r) {
      r = resolveBase(store, ref, platform, options, now, prepared.contexts);
      resolved.set(key, r);
    }
    // Until this build ends, its bases look in use to a prune beside it (see ResolvedBase.blobs).
    return r.then((base) => {
      for (const d of base.blobs ?? []) started.held.push(store.holdFresh(store.blobPath(d)));
      return base;
    });
  };
  // The RUN sandbox: probed on the first RUN (a few container starts), once per build.
  let sandbox: Promise<SandboxMethod> | undefined;
  const runOptions = options.run ?? {};
  const sandboxMethod = () =>
    (sandbox ??= probeHost(runOptions.runtime ? { preferRuntime: runOptions.runtime } : {})
      .then((probe) => chooseSandbox(probe, runOptions.isolation ?? 'auto', runOptions.snapshot ?? 'auto'))
      .then((m) => {
        if (m.reason) options.onProgress?.({ type: 'warning', time: now(), message: `RUN sandbox: ${m.reason}` });
        return m;
      }));
  const images: PlatformImage[] = [];
  const warnings: Warning[] = [];
  const ignoreView = ignoreViewFromPatterns(prepared.ignore.patterns, prepared.ignore.name);
  // The layers of the pushed image start for its registry as they are written (issue 8).
  const uploadTarget = layerUploadTarget(outputs, tags);
  const uploads = (started.uploads =
    uploadTarget !== undefined && options.layerUploads
      ? await options.layerUploads(uploadTarget, { ...(options.signal ? { signal: options.signal } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}), now })
      : undefined);
  for (const platform of prepared.platforms) {
    const copts = compileOptions(options, prepared, platform);
    const first = compileDockerfile(prepared.ast, copts);
    // Resolve image bases first: their Env and Shell take part in expansion (a second, exact compile).
    const bases = new Map<string, ResolvedBase>();
    for (const stage of first.value.stages) {
      if (stage.base.kind !== 'image') continue;
      const p = stage.platform ? normalizePlatform(parsePlatform(stage.platform)) : platform;
      try {
        const base = await resolveImage(stage.base.ref, p);
        bases.set(baseKey(stage.base.ref, p), base);
        if (base.platformMismatch) {
          const w = checkBaseImagePlatform(prepared.ast, { buildArgs: options.buildArgs }, { image: stage.base.ref, ...base.platformMismatch, range: stage.range });
          if (w) warnings.push(w);
        }
      } catch (e) {
        if (e instanceof OcibuildError && !e.range) {
          e.file = prepared.file;
          e.range = stage.range;
        }
        throw e;
      }
    }
    const { value: graph, warnings: w } = compileDockerfile(prepared.ast, {
      ...copts,
      baseImageConfig: (ref, plat) => {
        const p = normalizePlatform(parsePlatform(plat));
        return bases.get(baseKey(ref, p))?.config.config;
      },
    });
    if (images.length === 0) warnings.push(...w);
    // The stages the final image is made of: the target and the stages it is built FROM.
    const finalStages = new Set<number>();
    for (let i: number | undefined = graph.target; i !== undefined && !finalStages.has(i); ) {
      finalStages.add(i);
      const stage = graph.stages.find((s) => s.index === i);
      i = stage?.base.kind === 'stage' ? stage.base.index : undefined;
    }
    images.push(
      await buildPlatform(
        {
          store,
          settings: {
            contextDir: prepared.contextDir,
            ignore: ignoreView,
            ...(prepared.contexts.dirs.size > 0 ? { namedContexts: prepared.contexts.dirs } : {}),
            file: prepared.file,
            ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}),
            created,
            ...(options.http ? { http: options.http } : {}),
            run: {
              method: sandboxMethod,
              ...(runOptions.network ? { network: runOptions.network } : {}),
              ...(runOptions.allowInsecure ? { allowInsecure: true } : {}),
              ...(runOptions.addHosts ? { addHosts: runOptions.addHosts } : {}),
              ...(runOptions.shmSize !== undefined ? { shmSize: runOptions.shmSize } : {}),
              ...(runOptions.ulimits ? { ulimits: runOptions.ulimits } : {}),
              ...(runOptions.secrets
                ? {
                    secret: async (id: string) => {
                      const src = Object.prototype.hasOwnProperty.call(runOptions.secrets, id) ? runOptions.secrets![id] : undefined;
                      return src ? readSecret(src, env) : undefined;
                    },
                  }
                : {}),
              ...(runOptions.ssh ? { ssh: (id: string) => (Object.prototype.hasOwnProperty.call(runOptions.ssh, id) ? runOptions.ssh![id] : undefined) } : {}),
              env,
            },
            ...(remote && remote.size > 0 ? { eagerKeys: true } : {}),
            ...(uploads ? { layerFollower: { stages: finalStages, follow: (blob, vertex) => uploads.follow(blob, vertex) } } : {}),
          },
          resolveImage,
          ...(options.noCache ? {} : { stepCache, explainLog: localExplainLog(store), explainScope: tags[0] ?? '', statCache }),
          ...(session && !options.noCache ? { stepFlights: session.stepFlights } : {}),
          ...(remote ? { ensureLayer: remote.ensureLayer } : {}),
          ...(usesRemoteCache && !options.noCache ? { onStepResult: (r) => seen.push({ stage: r.stage.index, inFinalImage: finalStages.has(r.stage.index), key: r.key, record: r.record }) } : {}),
          showPlatform: prepared.platforms.length > 1,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
          now,
        },
        graph,
        platform,
        { ...(options.labels ? { labels: options.labels } : {}), ...(options.annotations ? { annotations: options.annotations } : {}) },
      ),
    );
  }
  if (statCacheLoad) await (await statCacheLoad).save();
  let descriptor: Descriptor;
  if (images.length === 1) {
    descriptor = images[0]!.manifest;
  } else {
    const index = createIndex(images.map((i) => i.manifest), options.annotations);
    await store.writeBlob(index.bytes);
    descriptor = index.descriptor;
  }
  if (remote) {
    // The output's bytes: a remote hit's layer only pushed again to a registry is mounted there; anything else downloads it.
    const layers = images.flatMap((i) => i.layers);
    const pushOnly = outputs.length > 0 && outputs.every((o) => o.type === 'registry');
    if (pushOnly) {
      const targets = outputs.flatMap((o) => (o.type === 'registry' && o.names.length > 0 ? o.names : tags));
      await mountOrFetch(cacheIo, remote, layers, targets);
    } else {
      for (const l of layers) await remote.ensureLayer(l, options.signal);
    }
  }
  const records = await writeOutputs(store, descriptor, images, outputs, {
    tags,
    ...(options.pushImage ? { pushImage: options.pushImage } : {}),
    ...(uploads ? { layerUploads: uploads } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    created,
    mtime: epoch ?? 0,
    now,
  });
  let cacheExportRecords: CacheExportRecord[] = [];
  if (remote) await writeThrough(seen, store, localCache);
  if (cacheExports.length > 0 && !options.noCache) {
    const pushed = records.filter((r) => r.type === 'registry').map((r) => ({ ref: r.dest, descriptor }));
    cacheExportRecords = await exportCaches(cacheExports, seen, cacheIo, remote, pushed);
  }
  return {
    descriptor,
    ...(images.length === 1 ? { configDigest: images[0]!.config.digest } : {}),
    images,
    tags,
    warnings,
    outputs: records,
    ...(usesRemoteCache ? { cache: { exports: cacheExportRecords, warnings: cacheWarnings } } : {}),
    bases: [...new Set(images.flatMap((i) => i.bases))],
    ...(options.explain ? { explain: images.flatMap((i) => i.explain) } : {}),
  };
}

/**
 * A base image from the store (a local tag), else pulled from its registry (bytes reported as they
 * arrive); or the image of an OCI layout context, copied into the store.
 */
async function resolveBase(store: Store, ref: string, platform: Platform, options: BuildOptions, now: () => number, contexts: BuildContexts): Promise<ResolvedBase> {
  let descriptor: Descriptor | undefined;
  let name = ref;
  let pulled = false;
  const layout = layoutContextOf(contexts, ref);
  if (layout) {
    descriptor = await importLayoutImage(store, layout.dir, layout.digest, platform, layout.context.flag);
    name = `oci-layout://${layout.dir}`;
  } else if (!options.pull) {
    descriptor = await store.resolve(ref);
    if (!descriptor) {
      try {
        descriptor = await store.resolve(normalizeImageName(ref));
      } catch {
        descriptor = undefined;
      }
    }
  }
  if (!descriptor) {
    if (!options.pullImage) {
      throw new OcibuildError('IMAGE_NOT_FOUND', `base image ${JSON.stringify(ref)} is not in the local store, and no registry client was given to pull it`);
    }
    const emit = options.onProgress;
    const pullImage = options.pullImage;
    const vertex = `pull:${ref}|${formatPlatform(platform)}`;
    const result = await inVertex(emit, now, { vertex, name: `[internal] pull ${ref}`, kind: 'pull', platform: formatPlatform(platform) }, () =>
      pullImage(ref, platform, {
        store,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(emit
          ? {
              onProgress: (e: PullBlobProgress) =>
                emit({ type: 'status', time: now(), vertex, id: e.digest, name: `${e.kind} ${e.digest.slice(0, 19)}`, current: e.current, ...(e.total !== undefined ? { total: e.total } : {}), ...(e.done ? { completed: true } : {}) }),
            }
          : {}),
      }),
    );
    descriptor = result.descriptor;
    name = result.name;
    pulled = true;
  }
  let image;
  let mismatch: ResolvedBase['platformMismatch'];
  try {
    image = await readImage(store, descriptor, platform);
  } catch (e) {
    // A single-platform image of another platform is used anyway, with a warning (BuildKit's InvalidBaseImagePlatform).
    if (!(e instanceof OcibuildError && e.code === 'PLATFORM_NOT_FOUND') || isIndexMediaType(descriptor.mediaType)) throw e;
    image = await readImage(store, descriptor);
    mismatch = { expected: platform, actual: { os: image.config.os, architecture: image.config.architecture, ...(image.config.variant ? { variant: image.config.variant } : {}) } };
  }
  const config: ImageConfig = image.config;
  const layers: Layer[] = image.manifest.layers.map((l, i) => ({ ...l, diffId: config.rootfs.diff_ids[i]! }));
  const repo = name.includes('@') ? name.slice(0, name.indexOf('@')) : name;
  const blobs = [...new Set([descriptor.digest, image.descriptor.digest, image.manifest.config.digest, ...layers.map((l) => l.digest)])];
  return { ref, pinned: `${repo}@${image.descriptor.digest}`, manifest: image.descriptor, config, layers, blobs, ...(pulled ? { pulled } : {}), ...(mismatch ? { platformMismatch: mismatch } : {}) };
}
