/**
 * Builds a compiled BuildGraph for one platform: the scheduler runs the
 * stages, each stage folds its steps' outcomes (executors wrapped in the
 * cache protocol) into an image state, and the target's state is finished
 * into a config and a manifest in the store. Layers stream straight into the
 * store; nothing here holds a layer in memory.
 */
import os from 'node:os';
import { rm } from 'node:fs/promises';
import type { StatCache } from '../cache/stat-cache.js';
import type { ExplainLog, StepCache } from '../cache/step-cache.js';
import type { Store } from '../cache/store.js';
import { contextSourceFs, type CopyWarning, type SourceFs } from '../copy/index.js';
import { OcibuildError } from '../errors.js';
import type { BuildGraph, SourceRef, Stage, Step } from '../graph/types.js';
import { finishImage, imageFromConfig, type ImageState, type Layer, type PlatformImage as FinishedPlatformImage } from '../image/state.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor, ImageConfig, Platform } from '../oci/types.js';
import { rootfsSourceFs } from '../rootfs/source-fs.js';
import { ensureLayerUnpacked } from '../rootfs/unpacked.js';
import { indexedHeaders, RootfsView, type ViewOptions } from '../rootfs/view.js';
import { withCache, type CachedExecutor, type StepFlights } from './cached.js';
import type { ExplainEntry } from './explain.js';
import type { ProgressEvent, ProgressSink } from './progress.js';
import { scheduleStages } from './scheduler.js';
import { runStage, scratchImage, type StageDeps, type StageResult, type StageStart, type StepResult } from './stage.js';
import { executors } from './steps/index.js';
import type { BuildSettings, StepContext, StepOf, StepProgress } from './step.js';

/** A base image resolved for a stage (from the store, or pulled into it). */
export interface ResolvedBase {
  /** The reference as written (expanded). */
  ref: string;
  /** The pinned reference, `name@sha256:...` of the manifest used. */
  pinned: string;
  manifest: Descriptor;
  config: ImageConfig;
  layers: Layer[];
  /** True when it was pulled from a registry by this build. */
  pulled?: boolean;
  /** Set when a single-platform base of another platform was used (a warning, as BuildKit). */
  platformMismatch?: { expected: Platform; actual: Platform };
  /**
   * Every blob of the base in the store (the descriptor resolved, the manifest, the config, the
   * layers): build() keeps them fresh for prune while it runs, since a base pulled by digest is
   * tagged by nothing until the build's image names it.
   */
  blobs?: Digest[];
}

/** What the engine needs from the outside world (build() provides it). */
export interface EngineOptions {
  store: Store;
  settings: BuildSettings;
  /** Resolves `FROM image` and `COPY --from=image` bases (store, then registry); memoized by the caller. */
  resolveImage(ref: string, platform: Platform): Promise<ResolvedBase>;
  /** The step cache (undefined: --no-cache). */
  stepCache?: StepCache;
  /** Keys in flight, shared with builds running at the same time over the same store (a step they share runs once). */
  stepFlights?: StepFlights;
  /** Where each stage's step inputs are kept for `--explain` (undefined: not kept). */
  explainLog?: ExplainLog;
  /** The tag `--explain` compares builds under (the first `-t`, or ''). */
  explainScope?: string;
  /** The stat cache (source file stat → content digest), loaded once per build. */
  statCache?: () => Promise<StatCache>;
  /** Stages built at once (default: the number of cores). */
  stageConcurrency?: number;
  /** Name vertices with the platform too (a multi-platform build). */
  showPlatform?: boolean;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
  /** The clock (build() passes it in). */
  now: () => number;
  /**
   * Makes a layer's blob present in the store before it is read (a remote
   * cache hit's layer is downloaded only when a later step or the output
   * needs its bytes). Undefined: every layer is in the store already.
   */
  ensureLayer?: (layer: Layer, signal?: AbortSignal) => Promise<void>;
  /** Told of every step looked up or recorded under a cache key (cache exports, write-through). */
  onStepResult?: (result: StepResult) => void;
}

/** A finished single-platform image, written to the store (the type lives in src/image/state.ts, re-exported here). */
export type PlatformImage = FinishedPlatformImage<CopyWarning, ExplainEntry>;

export function formatPlatformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Key of a resolved base in the per-build map. */
export function baseKey(ref: string, platform: Platform): string {
  return `${ref}|${formatPlatformString(platform)}`;
}

function stagePlatform(stage: Stage, platform: Platform): Platform {
  if (!stage.platform) return platform;
  const [o, architecture, variant] = stage.platform.split('/');
  return { os: o!, architecture: architecture!, ...(variant ? { variant } : {}) };
}

/** Runs the graph for one platform and writes config + manifest to the store. */
export async function buildPlatform(
  options: EngineOptions,
  graph: BuildGraph,
  platform: Platform,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Promise<PlatformImage> {
  const results = new Map<number, StageResult>();
  const views = new Map<string, Promise<RootfsView>>();
  const sources = new Map<string, Promise<SourceFs>>();
  const warnings: CopyWarning[] = [];
  const store = options.store;
  const platformText = formatPlatformString(platform);
  const runners = new Map<Step['kind'], CachedExecutor>();
  let contextFs: SourceFs | undefined;
  /** How many of each stage's first layers are a base image's (the rest were built). */
  const baseLayerCounts = new Map<number, number>();

  const runner = <K extends Step['kind']>(kind: K): CachedExecutor<StepOf<K>> => {
    let r = runners.get(kind);
    if (!r) {
      r = withCache(executors[kind] as never, options.stepCache, () => new Date(options.now()), options.stepFlights) as CachedExecutor;
      runners.set(kind, r);
    }
    return r as CachedExecutor<StepOf<K>>;
  };

  /** The union view of `layers` (memoized by the chain of diffIds, each extending its parent's). */
  const view = (layers: readonly Layer[], signal: AbortSignal): Promise<RootfsView> => {
    const key = layers.map((l) => l.diffId).join(',');
    let v = views.get(key);
    if (!v) {
      const parent = layers.length > 0 ? views.get(layers.slice(0, -1).map((l) => l.diffId).join(',')) : undefined;
      const open = async (i: number) => {
        await options.ensureLayer?.(layers[i]!, signal);
        return openLayer(store, layers[i]!);
      };
      const opts: ViewOptions = {
        signal,
        diffIdOf: (i) => layers[i]?.diffId,
        digestOf: (i) => layers[i]?.digest,
        // A layer verified once keeps its headers in the store: later builds read the base's
        // view from them instead of decompressing every layer again.
        index: {
          get: async (i) => {
            const kept = await store.readLayerIndex(layers[i]!.digest, layers[i]!.diffId);
            return kept && indexedHeaders(kept);
          },
          put: (i, headers) => store.writeLayerIndex(layers[i]!.digest, layers[i]!.diffId, headers),
        },
      };
      v = parent ? parent.then((p) => RootfsView.extend(p, layers.length - 1, open, opts)) : RootfsView.load(layers.length, open, opts);
      views.set(key, v);
    }
    return v;
  };

  /** Each layer's unpacked tree (made once per diffId in the store, diffId verified). */
  const trees = async (layers: readonly Layer[], signal: AbortSignal): Promise<string[]> => {
    const out: string[] = [];
    for (const l of layers) {
      await options.ensureLayer?.(l, signal);
      out.push(await ensureLayerUnpacked(store, l, { signal }));
    }
    return out;
  };

  const rootfsFs = async (layers: readonly Layer[], description: string, signal: AbortSignal): Promise<SourceFs> => {
    // Trees first: unpacking verifies every diffId before anything is read from the layers.
    const dirs = await trees(layers, signal);
    return rootfsSourceFs(await view(layers, signal), dirs, description);
  };

  const sourceFs = (from: SourceRef, p: Platform, signal: AbortSignal): Promise<SourceFs> => {
    switch (from.kind) {
      case 'context': {
        if (from.name === undefined) return Promise.resolve((contextFs ??= contextSourceFs(options.settings.contextDir, options.settings.ignore)));
        const key = `context:${from.name}`;
        let fs = sources.get(key);
        if (!fs) {
          const named = options.settings.namedContexts?.get(from.name);
          if (!named) throw new Error(`no named context ${from.name} in the build settings`);
          fs = Promise.resolve(contextSourceFs(named.dir, named.ignore, `build context ${JSON.stringify(from.name)}`));
          sources.set(key, fs);
        }
        return fs;
      }
      case 'stage': {
        const key = `stage:${from.index}`;
        let fs = sources.get(key);
        if (!fs) {
          const result = results.get(from.index);
          if (!result) throw new Error(`COPY --from stage ${from.index} before it ran`);
          const stage = graph.stages.find((s) => s.index === from.index);
          fs = rootfsFs(result.image.layers, `stage ${JSON.stringify(stage?.name ?? String(from.index))}`, signal);
          sources.set(key, fs);
        }
        return fs;
      }
      case 'image': {
        const key = `image:${baseKey(from.ref, p)}`;
        let fs = sources.get(key);
        if (!fs) {
          fs = options.resolveImage(from.ref, p).then((base) => rootfsFs(base.layers, `image ${JSON.stringify(from.ref)}`, signal));
          sources.set(key, fs);
        }
        return fs;
      }
    }
  };

  const emit = options.onProgress;
  const now = options.now;
  const multiStage = graph.stages.length > 1;

  const deps: StageDeps = {
    platform,
    platformText,
    file: options.settings.file,
    now,
    ...(emit ? { emit } : {}),
    ...(options.onStepResult ? { onStepResult: options.onStepResult } : {}),
    vertexPrefix(stage) {
      const name = stage.name ?? (multiStage ? `stage-${stage.index}` : '');
      return [options.showPlatform ? platformText : '', name].filter(Boolean).join(' ');
    },
    async start(stage, signal): Promise<StageStart> {
      const p = stagePlatform(stage, platform);
      switch (stage.base.kind) {
        case 'scratch':
          baseLayerCounts.set(stage.index, 0);
          return { image: scratchImage(p), baseConfig: scratchImage(p).config, chain: { kind: 'scratch' }, pinned: [] };
        case 'stage': {
          const parent = results.get(stage.base.index);
          if (!parent) throw new Error(`stage ${stage.index} runs before its base stage ${stage.base.index}`);
          baseLayerCounts.set(stage.index, baseLayerCounts.get(stage.base.index) ?? 0);
          return { image: parent.image, baseConfig: parent.image.config, chain: { kind: 'stage', chain: parent.chain }, pinned: [] };
        }
        case 'image': {
          const base = await options.resolveImage(stage.base.ref, p);
          const diffIds = base.config.rootfs?.diff_ids ?? [];
          if (diffIds.length !== base.layers.length) {
            throw new OcibuildError('MANIFEST_INVALID', `base ${base.pinned} has ${base.layers.length} layers but ${diffIds.length} diff_ids in its config`);
          }
          // Verify the base before anything is built on it (and so before anything is tagged or
          // written): reading its view hashes every layer against its diff_id. The view is
          // memoized, so COPY's destination checks reuse it.
          if (base.layers.length > 0) await view(base.layers, signal);
          baseLayerCounts.set(stage.index, base.layers.length);
          return {
            image: imageFromConfig(base.config, base.layers, p),
            baseConfig: base.config.config,
            chain: { kind: 'image', manifest: base.manifest.digest },
            pinned: [base.pinned],
            from: { name: base.pinned, pulled: base.pulled === true },
          };
        }
      }
    },
    runner,
    context(stage, index, image, before, after, chain, signal) {
      const step = stage.steps[index]!;
      const p = stagePlatform(stage, platform);
      const disposers: (() => Promise<void> | void)[] = [];
      const vertex = `step:${platformText}:${stage.index}:${index + 1}`;
      const progress: StepProgress = {
        vertex,
        status: (id, current, total, completed) => emit?.({ type: 'status', time: now(), vertex, id, current, ...(total !== undefined ? { total } : {}), ...(completed ? { completed } : {}) }),
        log: (stream, data) => emit?.({ type: 'log', time: now(), vertex, stream, data }),
        emit: (e: ProgressEvent) => emit?.(e),
      };
      const ctx: StepContext = {
        step,
        index,
        stage,
        platform: p,
        image,
        config: before,
        configAfter: after,
        args: step.args,
        chain,
        inputs: {
          sourceFs: (from) => sourceFs(from, p, signal),
          sourceIdentity: async (from) => {
            switch (from.kind) {
              case 'context':
                return undefined;
              case 'stage':
                return results.get(from.index)?.chain;
              case 'image':
                return (await options.resolveImage(from.ref, p)).manifest.digest;
            }
          },
          ...(options.statCache ? { statCache: options.statCache } : {}),
        },
        rootfs: {
          view: async () => (image.layers.length > 0 ? view(image.layers, signal) : undefined),
          unpacked: () => trees(image.layers, signal),
        },
        store,
        settings: options.settings,
        async tempDir(prefix = 'step') {
          const dir = await store.tempDir(prefix);
          disposers.push(() => rm(dir, { recursive: true, force: true }));
          return dir;
        },
        defer: (fn) => disposers.push(fn),
        signal,
        progress,
      };
      return {
        ctx,
        async dispose() {
          // Last registered, first run: a plan's downloads go before the temp dir holding them.
          for (const fn of disposers.reverse()) await fn();
        },
      };
    },
    ...(options.explainLog
      ? {
          explainRecord: (stage: Stage) => options.explainLog!.get(explainScope(stage)),
          saveExplainRecord: (stage: Stage, record) => options.explainLog!.put(explainScope(stage), record),
        }
      : {}),
  };
  function explainScope(stage: Stage): string {
    return JSON.stringify([options.explainScope ?? '', platformText, stage.name ?? String(stage.index)]);
  }

  const done = await scheduleStages(
    graph.stages,
    graph.order,
    async (stage, signal) => {
      const r = await runStage(deps, stage, signal);
      results.set(stage.index, r);
      warnings.push(...r.warnings);
      return r;
    },
    { concurrency: options.stageConcurrency ?? os.availableParallelism(), ...(options.signal ? { signal: options.signal } : {}) },
  );
  const target = done.get(graph.target);
  if (!target) throw new Error(`the target stage ${graph.target} did not run`);
  const finished = finishImage(target.image, { created: options.settings.created, ...extra });
  await store.writeBlob(finished.config.bytes);
  await store.writeBlob(finished.manifest.bytes);
  const ordered = graph.order.map((i) => done.get(i)).filter((r): r is StageResult => r !== undefined);
  return {
    platform: finished.platform,
    manifest: finished.manifest.descriptor,
    config: finished.config.descriptor,
    configValue: finished.config.value,
    layers: [...target.image.layers],
    baseLayerCount: baseLayerCounts.get(graph.target) ?? 0,
    bases: [...new Set([...done.values()].flatMap((r) => r.pinned))],
    warnings,
    explain: ordered.flatMap((r) => r.explain),
  };
}

/** Opens a layer blob from the store (digest verified); readers detect the compression themselves. */
async function openLayer(store: Store, layer: Layer) {
  if (!/(\.tar|\+gzip|\.gzip|\+zstd)$/.test(layer.mediaType)) {
    throw new OcibuildError('UNSUPPORTED', `layer ${layer.digest} has media type ${layer.mediaType}, which ocibuild cannot read yet`);
  }
  return store.open(layer.digest, layer.size);
}

export type { ImageState, StepResult };
