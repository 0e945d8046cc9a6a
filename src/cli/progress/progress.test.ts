/** The progress renderers as pure functions of synthetic event streams and a clock. */
import type { ProgressEvent } from '../../engine/progress.js';
import { createProgressDisplay, resolveProgressMode } from './index.js';
import { createPlainRenderer } from './plain.js';
import { applyEvent, createProgressState, formatBytes } from './state.js';
import { createTtyRenderer, renderTtyFrame } from './tty.js';

const T0 = 1_700_000_000_000;

/** A build: a cached metadata pull, a slow ADD with bytes arriving, a RUN with output that fails. */
const EVENTS: ProgressEvent[] = [
  { type: 'vertex.started', time: T0, vertex: 'pull:base', name: '[internal] load metadata for localhost:5000/base:1', kind: 'pull' },
  { type: 'vertex.completed', time: T0 + 400, vertex: 'pull:base', cached: true, durationMs: 400 },
  { type: 'vertex.started', time: T0 + 500, vertex: 'step:0:1', name: '[build 1/3] ADD http://127.0.0.1/big /big', kind: 'step', location: { file: 'Dockerfile', line: 2 } },
  { type: 'status', time: T0 + 600, vertex: 'step:0:1', id: 'big', name: 'big', current: 1_000_000, total: 50_000_000 },
  { type: 'status', time: T0 + 900, vertex: 'step:0:1', id: 'big', name: 'big', current: 2_000_000, total: 50_000_000 },
  { type: 'status', time: T0 + 1700, vertex: 'step:0:1', id: 'big', name: 'big', current: 12_340_000, total: 50_000_000 },
  { type: 'status', time: T0 + 3000, vertex: 'step:0:1', id: 'big', name: 'big', current: 50_000_000, total: 50_000_000, completed: true },
  { type: 'vertex.completed', time: T0 + 3100, vertex: 'step:0:1', cached: false, durationMs: 2600 },
  { type: 'vertex.started', time: T0 + 3200, vertex: 'step:0:2', name: '[build 2/3] RUN make', kind: 'step' },
  { type: 'log', time: T0 + 3323, vertex: 'step:0:2', stream: 'stdout', data: 'compiling a.c\ncompiling ' },
  { type: 'log', time: T0 + 3400, vertex: 'step:0:2', stream: 'stdout', data: 'b.c\n' },
  { type: 'log', time: T0 + 3500, vertex: 'step:0:2', stream: 'stderr', data: 'b.c:1: error: oops' },
  { type: 'warning', time: T0 + 3550, rule: 'JSONArgsRecommended', message: 'JSON arguments recommended for CMD', location: { file: 'Dockerfile', line: 4 } },
  { type: 'vertex.errored', time: T0 + 3600, vertex: 'step:0:2', durationMs: 400, message: 'RUN make: exit code 2', code: 'RUN_FAILED' },
];

function plain(events: ProgressEvent[]): string {
  const r = createPlainRenderer();
  return events.map((e) => r.event(e)).join('') + r.end();
}

describe('plain progress (BuildKit line format)', () => {
  it('numbers vertices, marks CACHED/DONE/ERROR, prints log lines with their offset, throttles byte counts', () => {
    expect(plain(EVENTS)).toBe(
      [
        '#1 [internal] load metadata for localhost:5000/base:1',
        '#1 CACHED',
        '',
        '#2 [build 1/3] ADD http://127.0.0.1/big /big',
        '#2 big 1.00MB / 50.00MB 0.0s',
        '#2 big 12.34MB / 50.00MB 1.1s',
        '#2 big 50.00MB / 50.00MB 2.4s done',
        '#2 DONE 2.6s',
        '',
        '#3 [build 2/3] RUN make',
        '#3 0.123 compiling a.c',
        '#3 0.200 compiling b.c',
        'WARNING: JSONArgsRecommended: JSON arguments recommended for CMD (Dockerfile:4)',
        '#3 0.400 b.c:1: error: oops',
        '#3 ERROR: RUN make: exit code 2 [RUN_FAILED]',
        '',
      ].join('\n'),
    );
  });

  it('prints a vertex started twice once, and output of a vertex never started under a number of its own', () => {
    const out = plain([
      { type: 'vertex.started', time: T0, vertex: 'a', name: 'A', kind: 'step' },
      { type: 'vertex.started', time: T0 + 1, vertex: 'a', name: 'A', kind: 'step' },
      { type: 'log', time: T0 + 10, vertex: 'b', stream: 'stdout', data: 'hi\n' },
      { type: 'vertex.completed', time: T0 + 300, vertex: 'a', cached: false, durationMs: 300 },
    ]);
    expect(out).toBe('#1 A\n\n#2 0.000 hi\n\n#1 DONE 0.3s\n');
  });

  it('leaves warnings out when asked (the CLI prints them after the build, with code frames)', () => {
    const r = createPlainRenderer({ warnings: false });
    expect(EVENTS.map((e) => r.event(e)).join('')).not.toMatch(/WARNING/);
  });

  it('flushes an unterminated line at the end', () => {
    expect(plain([{ type: 'vertex.started', time: T0, vertex: 'a', name: 'A', kind: 'step' }, { type: 'log', time: T0, vertex: 'a', stream: 'stdout', data: 'no newline' }])).toBe('#1 A\n#1 no newline\n');
  });
});

describe('tty progress frames', () => {
  const frameAt = (n: number, now: number, done = false) => {
    const state = createProgressState();
    for (const e of EVENTS.slice(0, n)) applyEvent(state, e);
    return renderTtyFrame(state, now, { columns: done ? 100 : 80, rows: 30, done });
  };

  it('shows a running step with state, elapsed time and bytes so far', () => {
    const frame = frameAt(6, T0 + 2000);
    expect(frame[0]).toMatch(/^\[\+\] Building 2\.0s \(1\/2\)$/);
    expect(frame[1]).toMatch(/^ => \[internal\] load metadata for localhost:5000\/base:1 +CACHED 0\.4s$/);
    expect(frame[2]).toMatch(/^ => \[build 1\/3\] ADD http:\/\/127\.0\.0\.1\/big \/big +RUNNING 1\.5s$/);
    expect(frame[3]).toMatch(/^ => => big 12\.34MB \/ 50\.00MB +1\.4s$/);
    expect(frame).toHaveLength(4);
    for (const l of frame) expect(l.length).toBeLessThan(80);
  });

  it('collapses finished steps to one line and shows running output, then the error with its tail', () => {
    const running = frameAt(11, T0 + 3450);
    expect(running[2]).toMatch(/ADD http.* +DONE 2\.6s$/);
    expect(running.some((l) => l.includes('big 50.00MB'))).toBe(false);
    expect(running[3]).toMatch(/RUN make +RUNNING 0\.3s$/);
    expect(running.slice(4)).toEqual([' => => # compiling a.c', ' => => # compiling b.c']);
    const done = frameAt(EVENTS.length, T0 + 9999, true);
    expect(done[0]).toMatch(/^\[\+\] Building ERROR 10\.0s \(3\/3\)$/);
    expect(done).toContain(' => => # b.c:1: error: oops');
    expect(done).toContain(' => => ERROR: RUN make: exit code 2 [RUN_FAILED]');
    expect(done[done.length - 1]).toBe('WARNING: JSONArgsRecommended: JSON arguments recommended for CMD (Dockerfile:4)');
  });

  it('cuts long lines to the width and keeps the newest lines when the terminal is short', () => {
    const state = createProgressState();
    for (let i = 0; i < 40; i++) applyEvent(state, { type: 'vertex.started', time: T0, vertex: `v${i}`, name: `[s ${i}/40] COPY ${'x'.repeat(100)}`, kind: 'step' });
    const frame = renderTtyFrame(state, T0 + 100, { columns: 60, rows: 10 });
    expect(frame).toHaveLength(9);
    expect(frame[0]).toMatch(/^\[\+\] Building/);
    expect(frame[8]).toMatch(/^ => \[s 39\/40\] COPY x+… +RUNNING 0\.1s$/);
    for (const l of frame) expect(l.length).toBeLessThanOrEqual(59);
  });

  it('redraws in place: cursor up over the previous frame, each line cleared', () => {
    let out = '';
    let now = T0;
    const r = createTtyRenderer({ write: (t) => (out += t), now: () => now, columns: () => 80, rows: () => 24, intervalMs: 60_000 });
    r.event(EVENTS[0]!);
    expect(out).toMatch(/^\x1b\[2K\[\+\] Building 0\.0s \(0\/1\)\n\x1b\[2K => \[internal\] load metadata for localhost:5000\/base:1 +RUNNING 0\.0s\n\x1b\[J$/);
    out = '';
    now = T0 + 400;
    r.event(EVENTS[1]!);
    expect(out.startsWith('\x1b[2F')).toBe(true);
    expect(out).toContain('CACHED 0.4s');
    out = '';
    r.end();
    expect(out).toMatch(/^\x1b\[2F\x1b\[2K\[\+\] Building FINISHED 0\.4s \(1\/1\)\n/);
  });
});

describe('json and quiet progress, mode choice', () => {
  it('json writes one event per line, exactly as received', () => {
    let out = '';
    const d = createProgressDisplay('json', { write: (t: string) => (out += t) });
    for (const e of EVENTS) d.onProgress(e);
    d.end();
    expect(out.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(EVENTS);
  });

  it('quiet writes nothing; auto is tty on a terminal and plain otherwise; an unknown mode is a usage error', () => {
    let out = '';
    const d = createProgressDisplay('quiet', { write: (t: string) => (out += t) });
    for (const e of EVENTS) d.onProgress(e);
    d.end();
    expect(out).toBe('');
    expect(resolveProgressMode('auto', { write: () => 0, isTTY: true })).toBe('tty');
    expect(resolveProgressMode('auto', { write: () => 0 })).toBe('plain');
    expect(() => resolveProgressMode('fancy', { write: () => 0 })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('formats bytes as BuildKit does', () => {
    expect([formatBytes(0), formatBytes(999), formatBytes(1000), formatBytes(1_234_567), formatBytes(5e9)]).toEqual(['0B', '999B', '1.00kB', '1.23MB', '5.00GB']);
  });
});
