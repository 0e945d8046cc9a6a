/**
 * `--progress=tty`: the build on a terminal, redrawn in place.
 *
 *   [+] Building 3.2s (2/4)
 *    => [internal] load metadata for localhost:5000/base:1        DONE 0.4s
 *    => [base 2/3] ADD http://example.com/big /big             RUNNING 2.8s
 *    => => big 12.34MB / 50.00MB                                         2.7s
 *    => => # a line of output
 *
 * Running vertices show their transfers (bytes so far, total, elapsed) and
 * their last output lines; finished ones collapse to one line with their
 * state and duration; a failed one keeps its message and output tail.
 * `renderTtyFrame` is pure (state + clock → lines); `createTtyRenderer`
 * drives it with a timer and ANSI cursor movement.
 */
import type { ProgressEvent } from '../../engine/progress.js';
import { applyEvent, createProgressState, formatSeconds, formatTransfer, type ProgressState, type VertexView } from './state.js';

export interface FrameOptions {
  /** Terminal width: every line is cut to `columns - 1` so none wraps. */
  columns: number;
  /** Terminal height: a frame never has more than `rows - 1` lines (the oldest are dropped). */
  rows: number;
  /** The build is over: the header says FINISHED (or ERROR) and the clock stops. */
  done?: boolean;
  /** List warning events under the final frame (default true). */
  warnings?: boolean;
}

const RUNNING_LOG_LINES = 6;
const ERROR_LOG_LINES = 10;

function fit(left: string, right: string, columns: number): string {
  const width = Math.max(20, columns - 1);
  const room = width - right.length - 1;
  const l = left.length > room ? left.slice(0, Math.max(0, room - 1)) + '…' : left;
  return right ? l + ' '.repeat(Math.max(1, width - l.length - right.length)) + right : l.slice(0, width);
}

function elapsedOf(v: VertexView, now: number): number {
  return v.durationMs ?? now - v.started;
}

const STATE_WORD: Record<VertexView['state'], string> = { running: 'RUNNING', done: 'DONE', cached: 'CACHED', error: 'ERROR' };

/** The lines on screen for `state` at time `now`. */
export function renderTtyFrame(state: ProgressState, now: number, options: FrameOptions): string[] {
  const { columns } = options;
  const finished = state.vertices.filter((v) => v.state !== 'running').length;
  const failed = state.vertices.some((v) => v.state === 'error');
  const total = state.started === undefined ? 0 : now - state.started;
  const head = options.done ? (failed ? 'Building ERROR' : 'Building FINISHED') : 'Building';
  const lines: string[] = [fit(`[+] ${head} ${formatSeconds(total)} (${finished}/${state.vertices.length})`, '', columns)];
  for (const v of state.vertices) {
    lines.push(fit(` => ${v.name}`, `${STATE_WORD[v.state]} ${formatSeconds(elapsedOf(v, now))}`, columns));
    const output = [...v.logs, ...Object.values(v.partial).filter(Boolean)];
    if (v.state === 'running') {
      for (const t of v.transfers) {
        lines.push(fit(` => => ${t.name ?? t.id} ${formatTransfer(t)}${t.completed ? ' done' : ''}`, formatSeconds((t.completed ? t.updated : now) - t.started), columns));
      }
      for (const l of output.slice(-RUNNING_LOG_LINES)) lines.push(fit(` => => # ${l}`, '', columns));
    } else if (v.state === 'error') {
      for (const l of output.slice(-ERROR_LOG_LINES)) lines.push(fit(` => => # ${l}`, '', columns));
      lines.push(fit(` => => ERROR: ${v.message ?? ''}${v.code ? ` [${v.code}]` : ''}`, '', columns));
    }
  }
  if (options.done && (options.warnings ?? true)) {
    for (const w of state.warnings) {
      const where = w.location ? ` (${w.location.file}:${w.location.line})` : '';
      lines.push(fit(`WARNING: ${w.rule ? `${w.rule}: ` : ''}${w.message}${where}`, '', columns));
    }
  }
  const max = Math.max(2, options.rows - 1);
  // Too tall for the terminal: keep the header and the newest lines.
  return lines.length > max ? [lines[0]!, ...lines.slice(lines.length - max + 1)] : lines;
}

export interface TtyRendererOptions {
  write(text: string): void;
  now(): number;
  columns(): number;
  rows(): number;
  /** How often running vertices' clocks redraw (ms). */
  intervalMs?: number;
  /** List warning events under the final frame (default true). */
  warnings?: boolean;
}

export interface TtyRenderer {
  event(e: ProgressEvent): void;
  /** Draws the final frame and stops the timer. */
  end(): void;
}

export function createTtyRenderer(options: TtyRendererOptions): TtyRenderer {
  const state = createProgressState();
  let shown = 0;
  let timer: NodeJS.Timeout | undefined;
  let dirty = false;
  const draw = (done: boolean) => {
    const frame = renderTtyFrame(state, options.now(), { columns: options.columns(), rows: options.rows(), ...(done ? { done } : {}), ...(options.warnings === false ? { warnings: false } : {}) });
    const up = shown > 0 ? `\x1b[${shown}F` : '';
    options.write(up + frame.map((l) => `\x1b[2K${l}\n`).join('') + '\x1b[J');
    shown = frame.length;
    dirty = false;
  };
  return {
    event(e) {
      applyEvent(state, e);
      dirty = true;
      if (!timer) {
        draw(false);
        timer = setInterval(() => draw(false), options.intervalMs ?? 100);
        timer.unref();
      } else if (e.type === 'vertex.started' || e.type === 'vertex.completed' || e.type === 'vertex.errored') {
        draw(false);
      }
    },
    end() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (dirty || shown > 0 || state.vertices.length > 0) draw(true);
    },
  };
}
