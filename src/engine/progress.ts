/**
 * The build's progress as data: one event model for the whole build, pulls
 * and pushes included. The library never prints; `build()`'s `onProgress`
 * receives these events and the CLI renders them (tty, plain, json, quiet).
 *
 * Every event names a vertex (a step, a pull, a layer write, an upload, an
 * output) and carries a time (milliseconds since the Unix epoch). Vertex ids
 * are stable strings within one build (e.g. `step:<platform>:<stage>:<n>`,
 * `pull:<ref>`, `push:<ref>`, `output:<n>`); `name` is what BuildKit's plain
 * progress shows after `#N` (e.g. `[build 2/5] RUN make`,
 * `[internal] load metadata for docker.io/library/alpine:3`).
 *
 * Fields may be added; none is renamed or removed without changing every
 * renderer and the README.
 */
import { OcibuildError } from '../errors.js';

/** Where a vertex comes from in the Dockerfile. */
export interface ProgressLocation {
  file: string;
  /** 1-based line of the instruction. */
  line: number;
}

export type ProgressEvent =
  | {
      type: 'vertex.started';
      time: number;
      vertex: string;
      name: string;
      kind: 'step' | 'pull' | 'push' | 'output' | 'internal';
      platform?: string;
      location?: ProgressLocation;
    }
  | { type: 'vertex.completed'; time: number; vertex: string; cached: boolean; durationMs: number }
  | { type: 'vertex.errored'; time: number; vertex: string; durationMs: number; message: string; code?: string }
  /** Bytes moved for one item (a blob pulled, a layer written, an upload) inside a vertex. */
  | { type: 'status'; time: number; vertex: string; id: string; name?: string; current: number; total?: number; completed?: boolean }
  /** Output of a RUN step (already redacted of secret values). */
  | { type: 'log'; time: number; vertex: string; stream: 'stdout' | 'stderr'; data: string }
  | { type: 'warning'; time: number; vertex?: string; rule?: string; message: string; location?: ProgressLocation };

export type ProgressSink = (event: ProgressEvent) => void;

/** What starts a vertex, less its time. */
export type VertexStart = Omit<Extract<ProgressEvent, { type: 'vertex.started' }>, 'type' | 'time'>;

/**
 * Runs `work` as one vertex: `vertex.started`, then `vertex.completed` (not
 * cached) or `vertex.errored` with the error's message and code, which is
 * rethrown. Without `emit` it only runs `work`.
 */
export async function inVertex<T>(emit: ProgressSink | undefined, now: () => number, start: VertexStart, work: () => Promise<T>): Promise<T> {
  if (!emit) return work();
  const t0 = now();
  emit({ type: 'vertex.started', time: t0, ...start });
  let result: T;
  try {
    result = await work();
  } catch (e) {
    const t = now();
    emit({ type: 'vertex.errored', time: t, vertex: start.vertex, durationMs: t - t0, message: (e as Error)?.message ?? String(e), ...(e instanceof OcibuildError ? { code: e.code } : {}) });
    throw e;
  }
  const t = now();
  emit({ type: 'vertex.completed', time: t, vertex: start.vertex, cached: false, durationMs: t - t0 });
  return result;
}
