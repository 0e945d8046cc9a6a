/**
 * One stage: start from its base (scratch, another stage, an image), then
 * fold each step's outcome into the image state, through the step's
 * executor wrapped in the cache protocol. Emits a vertex per step and
 * collects `--explain` entries.
 */
import { isOcibuildError } from '../errors.js';
import type { CopyWarning } from '../copy/index.js';
import { ExplainFilesJson, withFilesJson, type ExplainRecord, type ExplainStepRecord, type StepRecord } from '../cache/step-cache.js';
import { applyConfigStep, initialConfigState, type ConfigState } from '../graph/config.js';
import { baseChainKey, nextChainKey, type ChainBase } from '../graph/cache-key.js';
import { canonicalJson, canonicalStep } from '../graph/canonical.js';
import type { Stage, Step } from '../graph/types.js';
import { appendStep, emptyImage, type ImageState } from '../image/state.js';
import type { ContainerConfig, Platform } from '../oci/types.js';
import type { CachedExecutor, CachedOutcome } from './cached.js';
import { explainMiss, previousStep, type ExplainEntry } from './explain.js';
import type { ProgressSink } from './progress.js';
import type { StepContext, StepOf } from './step.js';

/** The state of a stage after its last step. */
export interface StageResult {
  image: ImageState;
  /** Bases pulled for this stage (pinned references). */
  pinned: string[];
  /** The cache chain key after the stage's last step. */
  chain: string;
  explain: ExplainEntry[];
  /** Warnings of the stage's steps (COPY's). */
  warnings: CopyWarning[];
}

/** Where a stage starts. */
export interface StageStart {
  image: ImageState;
  /** The base's container config as it was (undefined: the base has none). */
  baseConfig: ContainerConfig | undefined;
  chain: ChainBase;
  pinned: string[];
  /** For the FROM vertex: the pinned image, when the base is an image. */
  from?: { name: string; pulled: boolean };
}

/** What a stage needs from the platform build. */
export interface StageDeps {
  platform: Platform;
  /** `linux/amd64`, for vertex ids. */
  platformText: string;
  /** Prefix of vertex names (`[linux/arm64 build 2/5]`): the platform when there are several, the stage name. */
  vertexPrefix(stage: Stage): string;
  file: string;
  start(stage: Stage, signal: AbortSignal): Promise<StageStart>;
  /** The cached executor of each step kind. */
  runner<K extends Step['kind']>(kind: K): CachedExecutor<StepOf<K>>;
  /** The context of one step (disposers run by the caller through `dispose`). */
  context(stage: Stage, index: number, image: ImageState, before: ConfigState, after: ConfigState, chain: string, signal: AbortSignal): { ctx: StepContext; dispose(): Promise<void> };
  /** The previous build's record of the stage (for --explain), and where to leave this one. */
  explainRecord?(stage: Stage): Promise<ExplainRecord | undefined>;
  saveExplainRecord?(stage: Stage, record: ExplainRecord): Promise<void>;
  emit?: ProgressSink;
  now(): number;
  /** Told of every step looked up or recorded under a cache key (for cache exports and write-through). */
  onStepResult?(result: StepResult): void;
}

/** One step's cache record, as a build saw it. */
export interface StepResult {
  stage: Stage;
  /** 0-based index of the step in its stage. */
  step: number;
  key: string;
  record: StepRecord;
  /** True for a hit (`record.source` set: from a remote cache). */
  cached: boolean;
}

/** The instruction as shown in progress: continuation lines joined, heredoc bodies left out. */
export function instructionText(original: string): string {
  const first = original.includes('<<') ? original.split('\n')[0]! : original;
  return first.replace(/\\\r?\n\s*/g, ' ').replace(/\s*\r?\n\s*/g, ' ').trim();
}

/** Step kinds that get a vertex of their own (those that touch the filesystem, as in BuildKit). */
const VERTEX_KINDS: ReadonlySet<Step['kind']> = new Set(['run', 'copy', 'add', 'workdir']);

/** Runs the steps of `stage`, returning its final image state. */
export async function runStage(deps: StageDeps, stage: Stage, signal: AbortSignal): Promise<StageResult> {
  let start: StageStart;
  try {
    start = await deps.start(stage, signal);
  } catch (e) {
    throw locate(e, stage, deps.file);
  }
  const total = stage.steps.length + 1;
  const prefix = deps.vertexPrefix(stage);
  const label = (i: number) => `[${prefix ? `${prefix} ` : ''}${i}/${total}]`;
  const emit = deps.emit;
  if (start.from && emit) {
    const vertex = `step:${deps.platformText}:${stage.index}:0`;
    const time = deps.now();
    emit({ type: 'vertex.started', time, vertex, name: `${label(1)} FROM ${start.from.name}`, kind: 'step', platform: deps.platformText, location: { file: deps.file, line: stage.range.start.line } });
    emit({ type: 'vertex.completed', time: deps.now(), vertex, cached: !start.from.pulled, durationMs: deps.now() - time });
  }
  let chain = baseChainKey(deps.platformText, start.chain);
  // The base's triggers were run by the compiler's ONBUILD handling; the new image starts with none of its own.
  let config: ConfigState = initialConfigState(start.baseConfig, start.image.author);
  config = { ...config, config: { ...config.config, OnBuild: null } };
  if (config.config.OnBuild === null) delete config.config.OnBuild;
  let image: ImageState = { ...start.image, config: config.config };
  const previous = await deps.explainRecord?.(stage);
  const record: ExplainRecord = { steps: [] };
  const explain: ExplainEntry[] = [];
  const stageName = stage.name ?? String(stage.index);
  const warnings: CopyWarning[] = [];
  for (let i = 0; i < stage.steps.length; i++) {
    const step = stage.steps[i]!;
    signal.throwIfAborted();
    const after = applyConfigStep(config, step);
    const vertex = `step:${deps.platformText}:${stage.index}:${i + 1}`;
    const text = instructionText(step.original);
    const withVertex = VERTEX_KINDS.has(step.kind) && emit !== undefined;
    const t0 = deps.now();
    if (withVertex) {
      emit!({ type: 'vertex.started', time: t0, vertex, name: `${label(i + 2)} ${text}`, kind: 'step', platform: deps.platformText, location: { file: deps.file, line: step.range.start.line } });
    }
    const { ctx, dispose } = deps.context(stage, i, image, config, after, chain, signal);
    let outcome;
    try {
      outcome = await (deps.runner(step.kind) as CachedExecutor)(ctx);
    } catch (e) {
      const located = locate(e, step, deps.file);
      if (withVertex) {
        const t = deps.now();
        emit!({ type: 'vertex.errored', time: t, vertex, durationMs: t - t0, message: located instanceof Error ? located.message : String(located), ...(isOcibuildError(located) ? { code: located.code } : {}) });
      }
      throw located;
    } finally {
      await dispose();
    }
    if (withVertex) {
      const t = deps.now();
      emit!({ type: 'vertex.completed', time: t, vertex, cached: outcome.cached, durationMs: t - t0 });
    }
    warnings.push(...(outcome.warnings ?? []));
    for (const w of outcome.warnings ?? []) {
      emit?.({ type: 'warning', time: deps.now(), vertex, message: w.message, location: { file: deps.file, line: step.range.start.line } });
    }
    const prevStep = previousStep(previous, i);
    const files = await explainFiles(outcome, prevStep);
    const stepRecord: ExplainStepRecord = {
      text: step.original,
      expanded: canonicalJson(canonicalStep(step)),
      args: Object.fromEntries(step.args.map((a) => [a.key, a.value ?? null])),
      parent: chain,
      ...(files?.filesRef !== undefined ? { filesRef: files.filesRef } : files?.files ? { files: files.files } : {}),
      ...(outcome.explain?.source !== undefined ? { source: outcome.explain.source } : {}),
      ...(outcome.cacheKey ? { key: outcome.cacheKey } : {}),
    };
    if (files?.json) withFilesJson(stepRecord, files.json);
    record.steps.push(stepRecord);
    const parentText = i === 0 ? instructionText(stage.original) : instructionText(stage.steps[i - 1]!.original);
    explain.push({
      platform: deps.platformText,
      stage: stageName,
      step: i,
      instruction: text,
      line: step.range.start.line,
      cached: outcome.cached,
      ...(outcome.remote !== undefined ? { remote: outcome.remote } : {}),
      ...(outcome.uncacheable !== undefined ? { uncacheable: outcome.uncacheable } : {}),
      ...(!outcome.cached && outcome.uncacheable === undefined ? { reasons: explainMiss(prevStep, stepRecord, parentText) } : {}),
    });
    if (outcome.cacheKey !== undefined && outcome.record) deps.onStepResult?.({ stage, step: i, key: outcome.cacheKey, record: outcome.record, cached: outcome.cached });
    config = outcome.config;
    image = appendStep(image, { ...(outcome.layer ? { layer: outcome.layer } : {}), config: config.config, ...(config.author !== undefined ? { author: config.author } : {}), ...(outcome.history ? { history: outcome.history } : {}) });
    chain = nextChainKey(chain, step, outcome.layer?.diffId);
  }
  // A rebuild that changed nothing leaves the record as it was (no write, no fsync).
  if (!sameExplainRecord(previous, record)) await deps.saveExplainRecord?.(stage, record);
  return { image, pinned: start.pinned, chain, explain, warnings };
}

/**
 * The input files of a step for the explain record: a hit under the key the last build
 * recorded had the same inputs, so that build's list is reused as it is (not recomputed,
 * and not even read when the log keeps it apart: its ref says it).
 */
async function explainFiles(outcome: CachedOutcome, prev: ExplainStepRecord | undefined): Promise<{ files?: Record<string, string>; filesRef?: string; json?: ExplainFilesJson } | undefined> {
  const files = outcome.explain?.files;
  if (files === undefined) return undefined;
  if (outcome.cached && prev && prev.key !== undefined && prev.key === outcome.cacheKey) {
    if (prev.filesRef !== undefined) return { filesRef: prev.filesRef };
    if (prev.files) return { files: prev.files };
  }
  const list = typeof files === 'function' ? await files() : files;
  return list instanceof ExplainFilesJson ? { json: list } : { files: list };
}

/** True when `record` says what `previous` says (files compared by identity: reused lists only). */
function sameExplainRecord(previous: ExplainRecord | undefined, record: ExplainRecord): boolean {
  if (!previous || previous.steps.length !== record.steps.length) return false;
  return record.steps.every((s, i) => {
    const p = previous.steps[i]!;
    return (
      p.text === s.text &&
      p.expanded === s.expanded &&
      p.parent === s.parent &&
      p.key === s.key &&
      p.source === s.source &&
      // Files by ref or by identity: only a reused list is the same list (never read to compare; a
      // list made as text in this build is a new one).
      (s.filesRef !== undefined ? p.filesRef === s.filesRef : s.filesJson === undefined && p.filesRef === undefined && p.files === s.files) &&
      canonicalJson(p.args) === canonicalJson(s.args)
    );
  });
}

/** Attach the instruction's location to an error raised while executing it. */
function locate(e: unknown, step: { range: Step['range'] }, file: string): unknown {
  if (isOcibuildError(e) && !e.range) {
    e.file = file;
    e.range = step.range;
  }
  return e;
}

/** The image of `FROM scratch`. */
export function scratchImage(platform: Platform): ImageState {
  return emptyImage(platform, initialConfigState().config);
}
