/**
 * Executes a compiled BuildGraph for one platform: stages in dependency order,
 * each step either a config change, a layer synthesized from sources (COPY,
 * ADD, WORKDIR) or, later, a RUN in the sandbox. Layers stream straight into
 * the store; nothing here holds a layer in memory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Store } from '../cache/store.js';
import { planCopy, type CopySpec, type CopyWarning, type HttpOptions, type IgnoreView, type SourceFs } from '../copy/index.js';
import { contextSourceFs } from '../copy/source-fs.js';
import { resolveChown, splitChown } from '../copy/chown.js';
import { OcibuildError, isOcibuildError } from '../errors.js';
import { applyConfigStep, initialConfigState, resolveWorkdir, type ConfigState } from '../graph/config.js';
import { canonicalJson, canonicalStep, type CanonicalValue } from '../graph/canonical.js';
import { entriesDigest, hashPath } from '../copy/digest.js';
import { statKey, type StatCache } from './stat-cache.js';
import { createHash } from 'node:crypto';
import type { BuildGraph, CopyStep, SourceRef, Stage, Step, WorkdirStep } from '../graph/types.js';
import { createConfigBlob, createManifest } from '../image/manifest.js';
import { createLayerLimit, writeLayer } from '../layers/index.js';
import os from 'node:os';
import type { LayerEntry } from '../layers/types.js';
import type { Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { ContainerConfig, Descriptor, HistoryEntry, ImageConfig, Platform } from '../oci/types.js';
import { HISTORY_COMMENT, historyText } from './history.js';
import { materializeRootfs, rootfsSourceFs } from './materialize.js';
import { RootfsView } from './rootfs.js';

/** A layer of an image being built: its descriptor and its diffId. */
export interface LayerRecord extends Descriptor {
  diffId: Digest;
}

/** A base image resolved for a stage (from the store, or pulled into it). */
export interface ResolvedBase {
  /** The reference as written (expanded). */
  ref: string;
  /** The pinned reference, `name@sha256:...` of the manifest used. */
  pinned: string;
  manifest: Descriptor;
  config: ImageConfig;
  layers: LayerRecord[];
  /** Set when a single-platform base of another platform was used (a warning, as BuildKit). */
  platformMismatch?: { expected: Platform; actual: Platform };
}

/** Progress of a build, for CLIs and build scripts. */
export type ProgressEvent =
  | { type: 'stage'; platform: string; stage: number; name?: string; base: string }
  | { type: 'step'; platform: string; stage: number; step: number; text: string; line: number }
  | { type: 'layer'; platform: string; stage: number; step: number; digest: Digest; size: number; diffId: Digest; cached: boolean }
  | { type: 'warning'; message: string; line?: number }
  | { type: 'pull'; ref: string; digest: Digest }
  | { type: 'output'; kind: string; dest: string };

/** What the engine needs from the outside world. */
export interface EngineContext {
  store: Store;
  /** Absolute path of the build context. */
  contextDir: string;
  /** The build's .dockerignore view. */
  ignore?: IgnoreView;
  /** Source name of the Dockerfile, for errors. */
  file: string;
  /** SOURCE_DATE_EPOCH in seconds. */
  sourceDateEpoch?: number;
  /** `created` of the image and its history entries (RFC 3339). */
  created: string;
  /** Resolves `FROM image` and `COPY --from=image` bases (store, then registry); memoized by the caller. */
  resolveImage(ref: string, platform: Platform): Promise<ResolvedBase>;
  /** Temporary directory owned by the build (removed by the caller). */
  tmpDir: string;
  /** Stages built at once (default: the number of cores). */
  stageConcurrency?: number;
  /** Do not look up or record COPY/ADD layers in the step cache. */
  noCache?: boolean;
  /** The stat cache (source file stat → content digest), loaded once per build. */
  statCache?: () => Promise<StatCache>;
  http?: HttpOptions;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
}

/** The state of a stage after its last step. */
export interface StageResult {
  config: ImageConfig;
  layers: LayerRecord[];
  /** Bases pulled for this stage (pinned references). */
  pinned: string[];
  /** The cache chain key after the stage's last step. */
  chain: string;
}

/** A finished single-platform image, written to the store. */
export interface PlatformImage {
  platform: Platform;
  /** Manifest descriptor (with platform). */
  manifest: Descriptor;
  config: Descriptor;
  configValue: ImageConfig;
  layers: LayerRecord[];
  /** Base images used, pinned by digest. */
  bases: string[];
  warnings: CopyWarning[];
}

const DOCKER_LAYER_TYPES: Record<string, string> = {
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar': MediaType.ociLayer,
  [MediaType.dockerForeignLayerGzip]: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

/** Opens a layer blob from the store (digest verified); readers detect gzip and zstd themselves. */
async function openLayerTar(store: Store, layer: LayerRecord): Promise<Readable> {
  if (!/(\.tar|\+gzip|\.gzip|\+zstd)$/.test(layer.mediaType)) {
    throw new OcibuildError('UNSUPPORTED', `layer ${layer.digest} has media type ${layer.mediaType}, which ocibuild cannot read yet`);
  }
  return store.open(layer.digest, layer.size);
}

function formatPlatformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Runs the graph for one platform and writes config + manifest to the store. */
export class PlatformBuild {
  private readonly results = new Map<number, StageResult>();
  private readonly views = new Map<string, Promise<RootfsView>>();
  private readonly materialized = new Map<number, Promise<SourceFs>>();
  private readonly imageSources = new Map<string, Promise<SourceFs>>();
  private readonly warnings: CopyWarning[] = [];
  private contextFs?: SourceFs;
  /** Aborted when a stage fails, so its siblings stop too. */
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;

  constructor(
    private readonly ctx: EngineContext,
    private readonly graph: BuildGraph,
    private readonly platform: Platform,
  ) {
    this.signal = ctx.signal ? AbortSignal.any([ctx.signal, this.stop.signal]) : this.stop.signal;
  }

  private get platformText(): string {
    return formatPlatformString(this.platform);
  }

  /** Runs every needed stage and writes the target image. */
  async run(extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Promise<PlatformImage> {
    await this.runStages();
    const result = this.results.get(this.graph.target)!;
    const config: ImageConfig = structuredClone(result.config);
    if (extra.labels && Object.keys(extra.labels).length > 0) {
      config.config = { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...extra.labels } };
    }
    const configBlob = createConfigBlob(config);
    await this.ctx.store.writeBlob(configBlob.bytes);
    const layers = result.layers.map((l) => ({ ...l, mediaType: DOCKER_LAYER_TYPES[l.mediaType] ?? l.mediaType }));
    const platform: Platform = { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
    const manifest = createManifest(configBlob.descriptor, layers, extra.annotations, { platform });
    await this.ctx.store.writeBlob(manifest.bytes);
    const bases = [...new Set([...this.results.values()].flatMap((r) => r.pinned))];
    return {
      platform,
      manifest: manifest.descriptor,
      config: configBlob.descriptor,
      configValue: config,
      layers: result.layers,
      bases,
      warnings: this.warnings,
    };
  }

  /**
   * Runs every needed stage as soon as the stages it depends on are done, so
   * independent stages build (and compress their layers) at the same time,
   * at most `stageConcurrency` at once. The first failure stops the others.
   */
  private async runStages(): Promise<void> {
    const byIndex = new Map(this.graph.stages.map((s) => [s.index, s]));
    const running = new Map<number, Promise<void>>();
    const limit = createLayerLimit(this.ctx.stageConcurrency ?? os.availableParallelism());
    const start = (index: number): Promise<void> => {
      let p = running.get(index);
      if (!p) {
        const stage = byIndex.get(index);
        if (!stage) throw new Error(`graph order names stage ${index}, which is not in the graph`);
        p = (async () => {
          await Promise.all(stage.dependsOn.map(start));
          this.signal.throwIfAborted();
          this.results.set(index, await limit(() => this.runStage(stage)));
        })();
        running.set(index, p);
      }
      return p;
    };
    try {
      await Promise.all(this.graph.order.map(start));
    } catch (e) {
      this.stop.abort(e);
      await Promise.allSettled(running.values());
      throw e;
    }
  }

  private emptyImage(platform: Platform): ImageConfig {
    return {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: initialConfigState().config,
      rootfs: { type: 'layers', diff_ids: [] },
      history: [],
    };
  }

  private stagePlatform(stage: Stage): Platform {
    if (!stage.platform) return this.platform;
    const [os, architecture, variant] = stage.platform.split('/');
    return { os: os!, architecture: architecture!, ...(variant ? { variant } : {}) };
  }

  private async runStage(stage: Stage): Promise<StageResult> {
    const platform = this.stagePlatform(stage);
    let image: ImageConfig;
    let layers: LayerRecord[];
    const pinned: string[] = [];
    let baseText: string;
    let baseChain: string;
    switch (stage.base.kind) {
      case 'scratch':
        image = this.emptyImage(platform);
        layers = [];
        baseText = 'scratch';
        baseChain = 'scratch';
        break;
      case 'stage': {
        const parent = this.results.get(stage.base.index);
        if (!parent) throw new Error(`stage ${stage.index} runs before its base stage ${stage.base.index}`);
        image = structuredClone(parent.config);
        layers = [...parent.layers];
        baseText = `stage ${stage.base.index}`;
        baseChain = parent.chain;
        break;
      }
      case 'image': {
        const base = await this.ctx.resolveImage(stage.base.ref, platform);
        image = structuredClone(base.config);
        image.history = image.history ?? [];
        layers = [...base.layers];
        pinned.push(base.pinned);
        baseText = base.pinned;
        baseChain = base.manifest.digest;
        break;
      }
    }
    this.ctx.onProgress?.({ type: 'stage', platform: this.platformText, stage: stage.index, name: stage.name, base: baseText });
    let chain = stepKey({ platform: formatPlatformString(platform), base: baseChain });
    // The base's triggers were run by the compiler's ONBUILD handling; the new image starts with none of its own.
    let state: ConfigState = initialConfigState(image.config, image.author);
    state = { ...state, config: { ...state.config, OnBuild: null } };
    if (state.config.OnBuild === null) delete state.config.OnBuild;
    const history: HistoryEntry[] = [...(image.history ?? [])];
    const diffIds: Digest[] = [...(image.rootfs?.diff_ids ?? [])];
    if (diffIds.length !== layers.length) {
      throw new OcibuildError('MANIFEST_INVALID', `base ${baseText} has ${layers.length} layers but ${diffIds.length} diff_ids in its config`);
    }
    for (let i = 0; i < stage.steps.length; i++) {
      const step = stage.steps[i]!;
      this.signal.throwIfAborted();
      this.ctx.onProgress?.({ type: 'step', platform: this.platformText, stage: stage.index, step: i, text: step.original, line: step.range.start.line });
      let layer: LayerRecord | undefined;
      let cached = false;
      const next = applyConfigStep(state, step);
      try {
        ({ layer, cached } = await this.executeStep(step, state, next, layers, stage, platform, chain));
      } catch (e) {
        throw this.locate(e, step);
      }
      state = next;
      chain = layer ? stepKey({ parent: chain, layer: layer.diffId }) : stepKey({ parent: chain, step: canonicalStep(step) });
      if (layer) {
        layers = [...layers, layer];
        diffIds.push(layer.diffId);
        this.ctx.onProgress?.({ type: 'layer', platform: this.platformText, stage: stage.index, step: i, digest: layer.digest, size: layer.size, diffId: layer.diffId, cached });
      }
      const text = historyText(step, state.config);
      if (text !== undefined) {
        history.push({ created: this.ctx.created, created_by: text, comment: HISTORY_COMMENT, ...(layer ? {} : { empty_layer: true }) });
      }
    }
    const config: ImageConfig = {
      ...(this.ctx.created ? { created: this.ctx.created } : {}),
      ...(state.author !== undefined ? { author: state.author } : {}),
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: sortConfigMaps(state.config),
      rootfs: { type: 'layers', diff_ids: diffIds },
      history,
    };
    return { config, layers, pinned, chain };
  }

  /** Attach the instruction's location to an error raised while executing it. */
  private locate(e: unknown, step: Step): unknown {
    if (isOcibuildError(e)) {
      if (!e.range) {
        e.file = this.ctx.file;
        e.range = step.range;
      }
      return e;
    }
    return e;
  }

  private async executeStep(
    step: Step,
    before: ConfigState,
    after: ConfigState,
    layers: LayerRecord[],
    stage: Stage,
    platform: Platform,
    chain: string,
  ): Promise<{ layer?: LayerRecord; cached: boolean }> {
    switch (step.kind) {
      case 'copy':
      case 'add':
        return this.copy(step, before, layers, platform, chain);
      case 'workdir': {
        const layer = await this.workdir(step, after, layers);
        return { ...(layer ? { layer } : {}), cached: false };
      }
      case 'run':
        throw new OcibuildError(
          'UNSUPPORTED',
          'RUN is not supported yet: it needs the rootless sandbox, which is the next milestone (see README, "What is missing")',
          { file: this.ctx.file, range: step.range, hint: `stage ${stage.name ?? stage.index} cannot be built until RUN lands; use --dry-run to see the plan` },
        );
      default:
        return { cached: false };
    }
  }

  /** A layer from the step cache, when the key has one whose blob is still in the store. */
  private async cachedLayer(key: string): Promise<LayerRecord | undefined> {
    const hit = await this.ctx.store.getStep(key);
    if (!hit?.layer || !(await this.ctx.store.has(hit.layer.digest))) return undefined;
    const { diffId, ...descriptor } = hit.layer;
    return { ...descriptor, diffId };
  }

  private recordLayer(key: string, layer: LayerRecord): Promise<void> {
    return this.ctx.store.putStep(key, { layer, configChange: null, created: new Date().toISOString() });
  }

  /** What exactly names a COPY source other than the context: a stage's chain key, an image's manifest digest. */
  private async sourceIdentity(from: SourceRef, platform: Platform): Promise<string | undefined> {
    switch (from.kind) {
      case 'context':
        return undefined;
      case 'stage':
        return this.results.get(from.index)?.chain;
      case 'image': {
        return (await this.ctx.resolveImage(from.ref, platform)).manifest.digest;
      }
    }
  }

  private statCache(): Promise<StatCache> | undefined {
    return this.ctx.statCache?.();
  }

  /** The union filesystem of `layers` (memoized by the chain of diffIds). */
  private view(layers: readonly LayerRecord[]): Promise<RootfsView> {
    const key = layers.map((l) => l.diffId).join(',');
    let v = this.views.get(key);
    if (!v) {
      const parentKey = layers.slice(0, -1).map((l) => l.diffId).join(',');
      const parent = layers.length > 0 ? this.views.get(parentKey) : undefined;
      const open = (i: number) => openLayerTar(this.ctx.store, layers[i]!);
      v = parent
        ? parent.then((p) => RootfsView.extend(p, layers.length - 1, open))
        : RootfsView.load(layers.length, open, this.signal);
      this.views.set(key, v);
    }
    return v;
  }

  private async sourceFs(from: SourceRef, platform: Platform): Promise<SourceFs> {
    switch (from.kind) {
      case 'context':
        return (this.contextFs ??= contextSourceFs(this.ctx.contextDir, this.ctx.ignore));
      case 'stage': {
        let fs = this.materialized.get(from.index);
        if (!fs) {
          const result = this.results.get(from.index);
          if (!result) throw new Error(`COPY --from stage ${from.index} before it ran`);
          const stage = this.graph.stages.find((s) => s.index === from.index);
          fs = this.materializeLayers(result.layers, `stage ${JSON.stringify(stage?.name ?? String(from.index))}`);
          this.materialized.set(from.index, fs);
        }
        return fs;
      }
      case 'image': {
        const key = baseKey(from.ref, platform);
        let fs = this.imageSources.get(key);
        if (!fs) {
          fs = this.ctx.resolveImage(from.ref, platform).then((base) => this.materializeLayers(base.layers, `image ${JSON.stringify(from.ref)}`));
          this.imageSources.set(key, fs);
        }
        return fs;
      }
    }
  }

  private async materializeLayers(layers: LayerRecord[], description: string): Promise<SourceFs> {
    const view = await this.view(layers);
    const dir = await mkdtemp(path.join(this.ctx.tmpDir, 'rootfs-'));
    await materializeRootfs(layers.length, (i) => openLayerTar(this.ctx.store, layers[i]!), dir, this.signal);
    return rootfsSourceFs(view, dir, description);
  }

  private async writeLayer(write: (out: import('node:stream').Writable) => Promise<{ diffId: Digest; digest: Digest; size: number; mediaType: string }>): Promise<LayerRecord> {
    const writer = await this.ctx.store.createWriter();
    try {
      const result = await write(writer.stream);
      const info = await writer.commit(result.digest);
      return { mediaType: result.mediaType, digest: info.digest, size: info.size, diffId: result.diffId };
    } catch (e) {
      await writer.abort();
      throw e;
    }
  }

  private async copy(step: CopyStep, state: ConfigState, layers: LayerRecord[], platform: Platform, chain: string): Promise<{ layer: LayerRecord; cached: boolean }> {
    // COPY --from a stage or an image: the source is named exactly by its chain key (or
    // manifest digest), so the cache is asked before anything is unpacked.
    const sourceId = this.ctx.noCache ? undefined : await this.sourceIdentity(step.from, platform);
    const fromKey = sourceId === undefined ? undefined : stepKey({ parent: chain, step: canonicalStep(step), source: sourceId, epoch: this.ctx.sourceDateEpoch ?? null });
    if (fromKey !== undefined) {
      const hit = await this.cachedLayer(fromKey);
      if (hit) return { layer: hit, cached: true };
    }
    const source = await this.sourceFs(step.from, platform);
    const dest = layers.length > 0 ? await this.view(layers) : undefined;
    const spec: CopySpec = {
      instruction: step.kind === 'copy' ? 'COPY' : 'ADD',
      sources: step.sources,
      inline: step.inline.map((f) => ({ name: f.name, data: f.data })),
      dest: step.dest,
      workdir: state.config.WorkingDir || '/',
      ...(step.chown !== undefined ? { chown: splitChown(step.chown) } : {}),
      ...(step.chmod ? { chmod: step.chmod.kind === 'octal' ? step.chmod.mode.toString(8) : step.chmod.expression } : {}),
      ...(step.link ? { link: true } : {}),
      ...(step.parents ? { parents: true } : {}),
      ...(step.exclude.length > 0 ? { excludes: step.exclude } : {}),
      ...(step.checksum !== undefined ? { checksum: step.checksum } : {}),
      ...(step.keepGitDir ? { keepGitDir: true } : {}),
      ...(step.unpack !== undefined ? { unpack: step.unpack } : {}),
    };
    const tmpDir = await mkdtemp(path.join(this.ctx.tmpDir, 'copy-'));
    try {
      const plan = await planCopy(spec, { source, ...(dest ? { dest } : {}), tmpDir, ...(this.ctx.http ? { http: this.ctx.http } : {}), signal: this.signal });
      try {
        this.warnings.push(...plan.warnings);
        // The step cache: the key covers everything that ends up in the layer (the chain of
        // steps and layers before it, the step as expanded, the selected files' names, modes,
        // owners, links and bytes, SOURCE_DATE_EPOCH), as BuildKit's content checksums do.
        // File bytes are known without reading them through the stat cache; a file it does not
        // know means a miss, and its digest is taken while the layer is written (one pass).
        const cacheable = !this.ctx.noCache && fromKey === undefined && !plan.entries.some((e) => e.source?.kind === 'stream');
        const statCache = cacheable ? await this.statCache() : undefined;
        const before = new Map<string, string | undefined>();
        const keyOf = async (digestOf: (file: string) => Digest | undefined) => {
          const inputs = await entriesDigest(plan.entries, {
            hashFile: async (file, size) => digestOf(file) ?? hashPath(file, size),
            signal: this.signal,
          });
          return stepKey({ parent: chain, step: canonicalStep(step), inputs, epoch: this.ctx.sourceDateEpoch ?? null });
        };
        if (statCache) {
          let known = true;
          for (const e of plan.entries) {
            if (e.type !== 'file' || e.source?.kind !== 'path') continue;
            const k = statKey(e.source.path);
            before.set(e.source.path, k);
            if (!statCache.get(e.source.path, k)) known = false;
          }
          if (known) {
            const hit = await this.cachedLayer(await keyOf((file) => statCache.get(file, before.get(file))));
            if (hit) return { layer: hit, cached: true };
          }
        }
        let fileDigests: Map<string, Digest> | undefined;
        const layer = await this.writeLayer(async (out) => {
          const r = await writeLayer(plan.entries, out, {
            compression: 'gzip',
            ...(statCache ? { fileDigests: true } : {}),
            ...(this.ctx.sourceDateEpoch !== undefined ? { sourceDateEpoch: this.ctx.sourceDateEpoch } : {}),
            signal: this.signal,
          });
          fileDigests = r.fileDigests;
          return r;
        });
        if (statCache && fileDigests) {
          // Remember a context file's digest only if it did not change while it was read
          // (downloads and checkouts live in temp dirs: never worth remembering).
          const inContext = this.ctx.contextDir.endsWith(path.sep) ? this.ctx.contextDir : this.ctx.contextDir + path.sep;
          for (const [file, digest] of fileDigests) {
            const k = before.get(file);
            if (k !== undefined && file.startsWith(inContext) && statKey(file) === k) statCache.set(file, k, digest);
          }
          await this.recordLayer(await keyOf((file) => fileDigests!.get(file)), layer);
        }
        if (fromKey !== undefined) await this.recordLayer(fromKey, layer);
        return { layer, cached: false };
      } finally {
        await plan.dispose();
      }
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
  }

  /**
   * WORKDIR creates its directory (and missing parents) in a layer, owned by
   * the image's USER, as BuildKit's `mkdir -p` file op does. Nothing to create
   * means no layer (the history entry is then an empty layer).
   */
  private async workdir(step: WorkdirStep, after: ConfigState, layers: LayerRecord[]): Promise<LayerRecord | undefined> {
    const wd = after.config.WorkingDir ?? resolveWorkdir('/', step.path);
    if (wd === '/') return undefined;
    const view = layers.length > 0 ? await this.view(layers) : undefined;
    let owner = { uid: 0, gid: 0 };
    const user = after.config.User;
    if (user) owner = await resolveChown(splitChown(user), view ? (p) => view.readFile(p) : undefined);
    const entries: LayerEntry[] = [];
    const parts = wd.split('/').filter(Boolean);
    let cur = '';
    for (const part of parts) {
      cur = cur ? `${cur}/${part}` : part;
      const resolved = view?.resolve('/' + cur);
      const existing = resolved !== undefined ? await view!.lstat(resolved) : undefined;
      if (existing) {
        if (existing.type !== 'directory') {
          throw new OcibuildError('DOCKERFILE_INSTRUCTION', `WORKDIR ${wd}: /${cur} exists in the image and is not a directory`);
        }
        continue;
      }
      if (resolved === undefined && view && (await view.lstat('/' + cur))?.type === 'symlink') {
        throw new OcibuildError('DOCKERFILE_INSTRUCTION', `WORKDIR ${wd}: /${cur} is a symbolic link to a missing directory`);
      }
      entries.push({ path: cur, type: 'directory', mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: this.ctx.sourceDateEpoch ?? 0 });
    }
    if (entries.length === 0) return undefined;
    return this.writeLayer((out) =>
      writeLayer(entries, out, { compression: 'gzip', ...(this.ctx.sourceDateEpoch !== undefined ? { sourceDateEpoch: this.ctx.sourceDateEpoch } : {}) }),
    );
  }
}

/** A step-cache key: SHA-256 over the canonical JSON of what determines a result. */
function stepKey(value: CanonicalValue): string {
  return createHash('sha256').update(canonicalJson({ v: 1, ...(value as Record<string, CanonicalValue>) })).digest('hex');
}

/** Go marshals maps with sorted keys: so do we, for configs equal to BuildKit's byte for byte. */
function sortConfigMaps(c: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...c };
  for (const key of ['ExposedPorts', 'Volumes', 'Labels'] as const) {
    const m = c[key] as Record<string, unknown> | undefined;
    if (m) (out as Record<string, unknown>)[key] = Object.fromEntries(Object.keys(m).sort().map((k) => [k, m[k]]));
  }
  return out;
}

/** Key of a resolved base in the per-build map. */
export function baseKey(ref: string, platform: Platform): string {
  return `${ref}|${formatPlatformString(platform)}`;
}
