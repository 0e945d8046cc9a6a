/**
 * The build as the progress renderers see it: vertices in the order they
 * started, each with its transfers and output, folded from the event stream.
 * Pure: `applyEvent` returns nothing but mutates only the state it is given.
 */
import type { ProgressEvent, ProgressLocation } from '../../engine/progress.js';

export type VertexState = 'running' | 'done' | 'cached' | 'error';

/** One item of bytes moved inside a vertex (a blob, a layer, an upload). */
export interface TransferView {
  id: string;
  name?: string;
  current: number;
  total?: number;
  completed: boolean;
  /** Time of the first status event for it (ms). */
  started: number;
  /** Time of the last status event (ms). */
  updated: number;
}

export interface VertexView {
  /** 1-based number in start order (BuildKit's `#N`). */
  n: number;
  id: string;
  name: string;
  kind: string;
  state: VertexState;
  started: number;
  /** Set once completed or errored. */
  durationMs?: number;
  message?: string;
  code?: string;
  location?: ProgressLocation;
  transfers: TransferView[];
  /** Complete output lines (newest last), kept to the last `LOG_LINES_KEPT`. */
  logs: string[];
  /** A line not ended yet, per stream. */
  partial: Record<string, string>;
}

export interface WarningView {
  rule?: string;
  message: string;
  location?: ProgressLocation;
  vertex?: string;
}

export interface ProgressState {
  vertices: VertexView[];
  byId: Map<string, VertexView>;
  warnings: WarningView[];
  /** Time of the first event (ms). */
  started?: number;
}

const LOG_LINES_KEPT = 50;

export function createProgressState(): ProgressState {
  return { vertices: [], byId: new Map(), warnings: [] };
}

/** The vertex an event names; one that never started is started implicitly with its id as name. */
function vertexOf(state: ProgressState, id: string, time: number): VertexView {
  let v = state.byId.get(id);
  if (!v) {
    v = { n: state.vertices.length + 1, id, name: id, kind: 'internal', state: 'running', started: time, transfers: [], logs: [], partial: {} };
    state.vertices.push(v);
    state.byId.set(id, v);
  }
  return v;
}

/** Complete lines of `data` appended to the vertex's log; the rest waits for its newline. Returns the lines completed. */
export function appendLog(v: VertexView, stream: string, data: string): string[] {
  const text = (v.partial[stream] ?? '') + data;
  const parts = text.split(/\r?\n/);
  v.partial[stream] = parts.pop()!;
  v.logs.push(...parts);
  if (v.logs.length > LOG_LINES_KEPT) v.logs.splice(0, v.logs.length - LOG_LINES_KEPT);
  return parts;
}

/** Folds one event into the state. */
export function applyEvent(state: ProgressState, e: ProgressEvent): void {
  state.started ??= e.time;
  switch (e.type) {
    case 'vertex.started': {
      const v = vertexOf(state, e.vertex, e.time);
      v.name = e.name;
      v.kind = e.kind;
      v.state = 'running';
      v.started = e.time;
      if (e.location) v.location = e.location;
      break;
    }
    case 'vertex.completed': {
      const v = vertexOf(state, e.vertex, e.time);
      v.state = e.cached ? 'cached' : 'done';
      v.durationMs = e.durationMs;
      break;
    }
    case 'vertex.errored': {
      const v = vertexOf(state, e.vertex, e.time);
      v.state = 'error';
      v.durationMs = e.durationMs;
      v.message = e.message;
      if (e.code) v.code = e.code;
      break;
    }
    case 'status': {
      const v = vertexOf(state, e.vertex, e.time);
      let t = v.transfers.find((x) => x.id === e.id);
      if (!t) {
        t = { id: e.id, current: 0, completed: false, started: e.time, updated: e.time };
        v.transfers.push(t);
      }
      if (e.name !== undefined) t.name = e.name;
      t.current = e.current;
      if (e.total !== undefined) t.total = e.total;
      t.completed = e.completed ?? false;
      t.updated = e.time;
      break;
    }
    case 'log':
      appendLog(vertexOf(state, e.vertex, e.time), e.stream, e.data);
      break;
    case 'warning':
      state.warnings.push({ message: e.message, ...(e.rule ? { rule: e.rule } : {}), ...(e.location ? { location: e.location } : {}), ...(e.vertex ? { vertex: e.vertex } : {}) });
      break;
  }
}

/** Bytes as BuildKit shows them: `512B`, `1.50kB`, `12.34MB` (powers of 1000). */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toFixed(2)}${units[i]}`;
}

/** Seconds with one decimal, as BuildKit prints durations: `0.3s`, `12.0s`. */
export function formatSeconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/** `12.34MB / 50.00MB` (or the current count alone when the total is unknown). */
export function formatTransfer(t: TransferView): string {
  return t.total !== undefined ? `${formatBytes(t.current)} / ${formatBytes(t.total)}` : formatBytes(t.current);
}
