/**
 * Bridge from the builder's earlier progress events (`stage`, `step`,
 * `layer`, `pull`, `output`, `warning`) to the event model of
 * src/engine/progress.ts, for as long as build() still emits the earlier
 * ones (issue 9: the engine half moves build() to the new events). Events
 * already in the new model pass through unchanged, so this is a no-op once
 * that lands, and can then be deleted.
 */
import type { ProgressEvent } from '../../engine/progress.js';

type Legacy =
  | { type: 'stage'; platform: string; stage: number; name?: string; base: string }
  | { type: 'step'; platform: string; stage: number; step: number; text: string; line: number }
  | { type: 'layer'; platform: string; stage: number; step: number; digest: string; size: number; cached: boolean }
  | { type: 'warning'; message: string; line?: number }
  | { type: 'pull'; ref: string; digest: string }
  | { type: 'output'; kind: string; dest: string };

const NEW_TYPES = new Set(['vertex.started', 'vertex.completed', 'vertex.errored', 'status', 'log', 'warning']);

export interface LegacyBridge {
  /** The new events one (old or new) event stands for. */
  convert(e: unknown): ProgressEvent[];
  /** Completes (or, with an error, fails) every vertex still open. */
  finish(error?: { message: string; code?: string }): ProgressEvent[];
}

export function createLegacyBridge(now: () => number, file = 'Dockerfile'): LegacyBridge {
  /** The open step vertex per platform and stage, and whether its layer came from the cache. */
  const open = new Map<string, { vertex: string; started: number; cached: boolean }>();
  const stageNames = new Map<string, string>();
  let outputs = 0;
  const close = (key: string, time: number): ProgressEvent[] => {
    const o = open.get(key);
    if (!o) return [];
    open.delete(key);
    return [{ type: 'vertex.completed', time, vertex: o.vertex, cached: o.cached, durationMs: time - o.started }];
  };
  return {
    convert(raw) {
      const e = raw as Legacy | ProgressEvent;
      if (e.type === 'warning' && 'time' in e) return [e];
      if (NEW_TYPES.has(e.type) && e.type !== 'warning') return [e as ProgressEvent];
      const time = now();
      const l = e as Legacy;
      switch (l.type) {
        case 'stage':
          stageNames.set(`${l.platform}:${l.stage}`, l.name ?? String(l.stage));
          return [];
        case 'step': {
          const key = `${l.platform}:${l.stage}`;
          const vertex = `step:${l.platform}:${l.stage}:${l.step}`;
          const out = close(key, time);
          open.set(key, { vertex, started: time, cached: false });
          const stage = stageNames.get(key) ?? String(l.stage);
          out.push({ type: 'vertex.started', time, vertex, name: `[${stage}] ${l.text.trim()}`, kind: 'step', platform: l.platform, location: { file, line: l.line } });
          return out;
        }
        case 'layer': {
          const o = open.get(`${l.platform}:${l.stage}`);
          if (!o) return [];
          o.cached = l.cached;
          return [{ type: 'status', time, vertex: o.vertex, id: l.digest, name: l.digest.slice(0, 19), current: l.size, total: l.size, completed: true }];
        }
        case 'pull': {
          const vertex = `pull:${l.ref}`;
          return [
            { type: 'vertex.started', time, vertex, name: `[internal] pull ${l.ref}`, kind: 'pull' },
            { type: 'vertex.completed', time, vertex, cached: false, durationMs: 0 },
          ];
        }
        case 'output': {
          const vertex = `output:${++outputs}`;
          // Outputs come once every step is done.
          return [
            ...[...open.keys()].flatMap((key) => close(key, time)),
            { type: 'vertex.started', time, vertex, name: `exporting to ${l.kind}${l.dest ? ` ${l.dest}` : ''}`, kind: 'output' },
            { type: 'vertex.completed', time, vertex, cached: false, durationMs: 0 },
          ];
        }
        case 'warning':
          return [{ type: 'warning', time, message: l.message, ...(l.line !== undefined ? { location: { file, line: l.line } } : {}) }];
      }
      return [];
    },
    finish(error) {
      const time = now();
      const out: ProgressEvent[] = [];
      for (const key of [...open.keys()]) {
        if (!error) {
          out.push(...close(key, time));
          continue;
        }
        const o = open.get(key)!;
        open.delete(key);
        out.push({ type: 'vertex.errored', time, vertex: o.vertex, durationMs: time - o.started, message: error.message, ...(error.code ? { code: error.code } : {}) });
      }
      return out;
    },
  };
}
