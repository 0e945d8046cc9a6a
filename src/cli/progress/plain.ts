/**
 * `--progress=plain`: BuildKit's line format, for logs and CI.
 *
 *   #1 [internal] load metadata for docker.io/library/alpine:3
 *   #1 DONE 0.4s
 *
 *   #2 [build 2/5] COPY big /big
 *   #2 sha256:1f2e... 12.34MB / 50.00MB 1.0s
 *   #2 0.123 compiling...
 *   #2 DONE 2.1s
 *
 * A pure function of the event stream: each event gives zero or more lines;
 * times come from the events, so no clock is needed.
 */
import type { ProgressEvent } from '../../engine/progress.js';
import { appendLog, applyEvent, createProgressState, formatSeconds, formatTransfer, type ProgressState } from './state.js';

/** Interval between two byte-count lines for one transfer (a completed one always prints). */
const STATUS_INTERVAL_MS = 1000;

export interface PlainRenderer {
  /** The text one event adds (possibly empty). */
  event(e: ProgressEvent): string;
  /** Lines still buffered (unterminated output) at the end of the build. */
  end(): string;
}

export function createPlainRenderer(options: { warnings?: boolean } = {}): PlainRenderer {
  const showWarnings = options.warnings ?? true;
  const state: ProgressState = createProgressState();
  const lastStatus = new Map<string, number>();
  let lastVertex: string | undefined;
  /** A `#N` block starts with a blank line when another vertex printed last, as BuildKit does. */
  const block = (vertex: string, lines: string[]): string => {
    if (lines.length === 0) return '';
    const sep = lastVertex !== undefined && lastVertex !== vertex ? '\n' : '';
    lastVertex = vertex;
    return sep + lines.map((l) => l + '\n').join('');
  };
  const flushPartial = (vertexId: string): string[] => {
    const v = state.byId.get(vertexId);
    if (!v) return [];
    const out: string[] = [];
    for (const [stream, rest] of Object.entries(v.partial)) {
      if (rest !== '') out.push(rest);
      v.partial[stream] = '';
    }
    return out;
  };
  return {
    event(e) {
      if (e.type === 'log') {
        const before = state.byId.get(e.vertex);
        if (!before) applyEvent(state, { type: 'vertex.started', time: e.time, vertex: e.vertex, name: e.vertex, kind: 'internal' });
        const v = state.byId.get(e.vertex)!;
        const lines = appendLog(v, e.stream, e.data);
        const at = ((e.time - v.started) / 1000).toFixed(3);
        return block(e.vertex, lines.map((l) => `#${v.n} ${at} ${l}`));
      }
      const known = 'vertex' in e && e.vertex !== undefined ? state.byId.get(e.vertex) : undefined;
      const pending = e.type === 'vertex.completed' || e.type === 'vertex.errored' ? flushPartial(e.vertex) : [];
      applyEvent(state, e);
      switch (e.type) {
        case 'vertex.started': {
          const v = state.byId.get(e.vertex)!;
          if (known) return '';
          return block(e.vertex, [`#${v.n} ${v.name}`]);
        }
        case 'vertex.completed': {
          const v = state.byId.get(e.vertex)!;
          const n = `#${v.n}`;
          return block(e.vertex, [...pending.map((l) => `${n} ${((e.time - v.started) / 1000).toFixed(3)} ${l}`), e.cached ? `${n} CACHED` : `${n} DONE ${formatSeconds(e.durationMs)}`]);
        }
        case 'vertex.errored': {
          const v = state.byId.get(e.vertex)!;
          const n = `#${v.n}`;
          return block(e.vertex, [...pending.map((l) => `${n} ${((e.time - v.started) / 1000).toFixed(3)} ${l}`), `${n} ERROR: ${e.message}${e.code ? ` [${e.code}]` : ''}`]);
        }
        case 'status': {
          const v = state.byId.get(e.vertex)!;
          const t = v.transfers.find((x) => x.id === e.id)!;
          const key = `${e.vertex}\u0000${e.id}`;
          const last = lastStatus.get(key);
          if (!t.completed && last !== undefined && e.time - last < STATUS_INTERVAL_MS) return '';
          lastStatus.set(key, e.time);
          return block(e.vertex, [`#${v.n} ${t.name ?? t.id} ${formatTransfer(t)} ${formatSeconds(e.time - t.started)}${t.completed ? ' done' : ''}`]);
        }
        case 'warning': {
          if (!showWarnings) return '';
          const where = e.location ? ` (${e.location.file}:${e.location.line})` : '';
          lastVertex = undefined;
          return `WARNING: ${e.rule ? `${e.rule}: ` : ''}${e.message}${where}\n`;
        }
      }
      return '';
    },
    end() {
      let out = '';
      for (const v of state.vertices) {
        const rest = flushPartial(v.id);
        out += block(v.id, rest.map((l) => `#${v.n} ${l}`));
      }
      return out;
    },
  };
}
