/**
 * The step protocol: one executor per step kind. An executor says what
 * identifies its result (`key`: the canonical step plus the identities of its
 * inputs, or "not cacheable") and does the work (`execute`: an outcome with
 * an optional layer, the config after the step and the history entry).
 * `withCache` (cached.ts) wraps any executor with the step cache. Models:
 * BuildKit's solver Op (CacheMap / Exec), go-containerregistry's
 * mutate.Addendum.
 */
import type { StatCache } from '../cache/stat-cache.js';
import type { ExplainFilesJson } from '../cache/step-cache.js';
import type { Store } from '../cache/store.js';
import type { CopyWarning, HttpOptions, IgnoreView, SourceFs } from '../copy/index.js';
import type { ConfigState } from '../graph/config.js';
import type { ArgValue, SourceRef, Stage, Step } from '../graph/types.js';
import type { ImageState, Layer } from '../image/state.js';
import type { GrowingBlob, HistoryEntry, Platform } from '../oci/types.js';
import type { RootfsView } from '../rootfs/view.js';
import type { ProgressEvent } from './progress.js';
import type { ExtraHost, Rlimit, SandboxMethod } from '../run/index.js';

/** The progress sink of one step: events about its vertex. */
export interface StepProgress {
  /** The step's vertex id. */
  readonly vertex: string;
  /** Bytes moved for one item (a layer being written). */
  status(id: string, current: number, total?: number, completed?: boolean): void;
  /** Output lines of a command (RUN). */
  log(stream: 'stdout' | 'stderr', data: string): void;
  /** Any other event (warnings). */
  emit(event: ProgressEvent): void;
}

/** Build-wide settings every step may read. */
export interface BuildSettings {
  /** Absolute path of the build context. */
  contextDir: string;
  /** The build's .dockerignore view. */
  ignore?: IgnoreView;
  /** Named directory contexts (`--build-context NAME=DIR`): absolute path and own .dockerignore, by name. */
  namedContexts?: ReadonlyMap<string, { dir: string; ignore?: IgnoreView }>;
  /** Source name of the Dockerfile, for errors. */
  file: string;
  /** SOURCE_DATE_EPOCH in seconds. */
  sourceDateEpoch?: number;
  /** `created` of the image and its history entries (RFC 3339). */
  created: string;
  /** HTTP options for ADD URLs. */
  http?: HttpOptions;
  /** How RUN steps run (none: RUN cannot run in this build). */
  run?: RunSettings;
  /**
   * Hash context files to know a COPY's key before writing its layer, even
   * when the stat cache does not know them (a remote cache is imported: a
   * fresh store can hit it, and a hit writes nothing).
   */
  eagerKeys?: boolean;
  /**
   * Takes the layers of the stages it names while they are written: the
   * build's registry output starts their uploads before their digests are
   * known (`follow` owns the {@link GrowingBlob} and closes it).
   */
  layerFollower?: LayerFollower;
}

/** What follows layers as they are written (see {@link BuildSettings.layerFollower}). */
export interface LayerFollower {
  /** Indexes of the stages whose layers are followed (those of the pushed image). */
  readonly stages: ReadonlySet<number>;
  /** Called once per layer a step of those stages writes, as the writing starts; `vertex` is the step's. */
  follow(blob: GrowingBlob, vertex: string): void;
}

/** The build's RUN settings (docker build's RUN-side flags). */
export interface RunSettings {
  /** The sandbox method, probed once per build on the first RUN that runs. */
  method(): Promise<SandboxMethod>;
  /** `--network` for RUN steps that do not set their own. */
  network?: 'default' | 'none' | 'host';
  /** `--allow security.insecure`: RUN --security=insecure is allowed. */
  allowInsecure?: boolean;
  addHosts?: ExtraHost[];
  shmSize?: number;
  ulimits?: Rlimit[];
  /** A build secret's value by id (`--secret`); undefined when the build has none of that id. */
  secret?(id: string): Promise<Uint8Array | undefined>;
  /** SSH forwarding by id (`--ssh`): agent sockets or key files (empty: `$SSH_AUTH_SOCK`); undefined when not given. */
  ssh?(id: string): readonly string[] | undefined;
  /** The build's environment (`$SSH_AUTH_SOCK` for `--ssh default`). */
  env?: Record<string, string | undefined>;
}

/** Files a step reads besides its own root filesystem. */
export interface StepInputs {
  /** The build context, another stage or an image, as a read-only filesystem. */
  sourceFs(from: SourceRef): Promise<SourceFs>;
  /** What exactly names a source other than the context: a stage's chain key, an image's manifest digest. */
  sourceIdentity(from: SourceRef): Promise<string | undefined>;
  /** Source file stat → content digest, for context files (undefined with --no-cache). */
  statCache?(): Promise<StatCache>;
}

/** The root filesystem of the stage so far. */
export interface StepRootfs {
  /** The union metadata of the layers (undefined for an empty image). */
  view(): Promise<RootfsView | undefined>;
  /** Each layer's unpacked tree, in order (overlay lower dirs for RUN). */
  unpacked(): Promise<string[]>;
}

/** Everything a step executor gets: one object. */
export interface StepContext<S extends Step = Step> {
  readonly step: S;
  /** Index of the step in its stage. */
  readonly index: number;
  readonly stage: Stage;
  /** The platform the stage builds for. */
  readonly platform: Platform;
  /** The image so far (layers as {digest, size, mediaType, diffId}, config, history). */
  readonly image: ImageState;
  /** The config state before the step. */
  readonly config: ConfigState;
  /** The config state after the step (the pure config change of the step). */
  readonly configAfter: ConfigState;
  /** The build args in scope, with their values. */
  readonly args: readonly ArgValue[];
  /** The chain key before the step. */
  readonly chain: string;
  readonly inputs: StepInputs;
  readonly rootfs: StepRootfs;
  readonly store: Store;
  readonly settings: BuildSettings;
  /** A fresh temp directory under the store, removed when the step is done. */
  tempDir(prefix?: string): Promise<string>;
  /** Runs `fn` when the step is done (hit, miss or failure). */
  defer(fn: () => Promise<void> | void): void;
  readonly signal: AbortSignal;
  readonly progress: StepProgress;
}

/** What identifies a step's result. */
export type StepKey =
  /** Never looked up or recorded (config-only steps, downloads without a checksum, ...). */
  | { cacheable: false; reason: string; explain?: ExplainInputs }
  /**
   * Looked up under `key`; without `key`, the key is known only once the step
   * ran (file digests taken while the layer is written) and the outcome gives it.
   */
  | {
      cacheable: true;
      key?: string;
      /**
       * Without `key`: what names the same work for builds running at once over
       * one store (the step, its parent and its input files' identities by
       * stat), so they run it once (`StepFlights`).
       */
      flight?: string;
      explain?: ExplainInputs;
    };

/** An explain file list: name → identity, or the same as the JSON text the log keeps. */
export type ExplainFileList = Record<string, string> | ExplainFilesJson;

/** The inputs of a step that `--explain` compares with the previous build. */
export interface ExplainInputs {
  /**
   * Input files: name → identity (digest of bytes and metadata), or a function that computes
   * them, called only when the explain record needs them (not for a hit under the last build's key).
   */
  files?: ExplainFileList | (() => ExplainFileList | Promise<ExplainFileList>);
  /** The stage or image copied from. */
  source?: string;
}

/** What a step did. */
export interface StepOutcome {
  /** The layer it made, if any (already in the store). */
  layer?: Layer;
  /** The config state after the step. */
  config: ConfigState;
  /** The history entry, or undefined for none (ONBUILD). */
  history?: Omit<HistoryEntry, 'empty_layer'>;
  /** The cache key, when `key()` could not know it before the step ran. */
  key?: string;
  /** Explain inputs known only after the step ran. */
  explain?: ExplainInputs;
  /** Warnings of the step (COPY's). */
  warnings?: CopyWarning[];
}

/** One step kind's executor. */
export interface Executor<S extends Step = Step> {
  key(ctx: StepContext<S>): Promise<StepKey>;
  execute(ctx: StepContext<S>): Promise<StepOutcome>;
  /** The outcome of a cache hit: the recorded layer with the step's config change and history. */
  reuse(ctx: StepContext<S>, layer: Layer | undefined): StepOutcome;
}

/** The step of a given kind. */
export type StepOf<K extends Step['kind']> = Step extends infer S ? (S extends { kind: infer SK } ? (K extends SK ? S : never) : never) : never;

/** One executor per step kind: a kind without one is a type error. */
export type Executors = { readonly [K in Step['kind']]: Executor<StepOf<K>> };
