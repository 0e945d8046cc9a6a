/**
 * `--progress=auto|tty|plain|json|quiet`: picks a renderer of the build's
 * progress events (src/engine/progress.ts) for the CLI.
 */
import type { ProgressEvent } from '../../engine/progress.js';
import { OcibuildError } from '../../errors.js';
import { createPlainRenderer } from './plain.js';
import { createTtyRenderer } from './tty.js';

export { renderTtyFrame, createTtyRenderer } from './tty.js';
export { createPlainRenderer } from './plain.js';
export { applyEvent, createProgressState, formatBytes, formatSeconds } from './state.js';

export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'json', 'quiet'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** What a renderer writes to and the clock it reads. */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface ProgressDisplay {
  onProgress(e: ProgressEvent): void;
  /** The build is over (successfully or not): final frame, buffered lines. */
  end(): void;
}

/** `auto` is `tty` on a terminal and `plain` otherwise. */
export function resolveProgressMode(mode: string, out: ProgressOutput): Exclude<ProgressMode, 'auto'> {
  if (!(PROGRESS_MODES as readonly string[]).includes(mode)) {
    throw new OcibuildError('USAGE', `--progress ${JSON.stringify(mode)}: expected one of ${PROGRESS_MODES.join(', ')}`);
  }
  if (mode === 'auto') return out.isTTY ? 'tty' : 'plain';
  return mode as Exclude<ProgressMode, 'auto'>;
}

/** What the display shows besides vertices. */
export interface ProgressDisplayOptions {
  /** Show warning events (default true; json always has them). The CLI prints warnings after the build instead. */
  warnings?: boolean;
}

/** A display for `mode` writing to `out`, reading time from `now`. */
export function createProgressDisplay(
  mode: Exclude<ProgressMode, 'auto'>,
  out: ProgressOutput,
  now: () => number = Date.now,
  options: ProgressDisplayOptions = {},
): ProgressDisplay {
  switch (mode) {
    case 'quiet':
      return { onProgress() {}, end() {} };
    case 'json':
      return { onProgress: (e) => void out.write(JSON.stringify(e) + '\n'), end() {} };
    case 'plain': {
      const r = createPlainRenderer({ warnings: options.warnings ?? true });
      return {
        onProgress: (e) => {
          const text = r.event(e);
          if (text) out.write(text);
        },
        end: () => {
          const text = r.end();
          if (text) out.write(text);
        },
      };
    }
    case 'tty': {
      const r = createTtyRenderer({ write: (t) => void out.write(t), now, columns: () => out.columns || 80, rows: () => out.rows || 24, warnings: options.warnings ?? true });
      return { onProgress: (e) => r.event(e), end: () => r.end() };
    }
  }
}
