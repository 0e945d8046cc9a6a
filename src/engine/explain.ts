/**
 * `--explain`: for every step, whether it came from the cache; for a miss,
 * what changed since the last build of the same stage under the same tag.
 * Each build leaves, per stage, the inputs of its steps in the explain log
 * (beside the step cache); the next build compares, step by step.
 */
import type { ExplainRecord, ExplainStepRecord } from '../cache/step-cache.js';

/** Why a step missed the cache. */
export type MissReason =
  /** No earlier build of this stage under this tag is known. */
  | { kind: 'first-build' }
  /** The instruction's text changed. */
  | { kind: 'instruction'; before: string; after: string }
  /** A build arg in scope changed value (null: unset). */
  | { kind: 'build-arg'; name: string; before: string | null; after: string | null }
  /** The step before it (or the base) changed, so this one runs on a different state. */
  | { kind: 'parent'; step: string }
  /** Input files whose content or metadata changed, appeared or disappeared. */
  | { kind: 'files'; changed: string[]; added: string[]; removed: string[] }
  /** The stage or image copied from changed. */
  | { kind: 'source'; before: string; after: string }
  /** Same inputs as last time, but the result is not in the cache (pruned, or never recorded). */
  | { kind: 'not-in-cache' };

/** One step of `--explain`. */
export interface ExplainEntry {
  /** `linux/amd64`. */
  platform: string;
  /** The stage's name (or index). */
  stage: string;
  /** 0-based index of the step in its stage. */
  step: number;
  /** The instruction as written. */
  instruction: string;
  /** 1-based line of the instruction. */
  line: number;
  cached: boolean;
  /** For a hit from a remote cache (`--cache-from`): which one (its reference or directory). */
  remote?: string;
  /** Why the step is never cached (config-only steps, --no-cache, downloads, ...). */
  uncacheable?: string;
  /** For a cacheable miss: what changed. */
  reasons?: MissReason[];
}

/** What changed between the previous build of a step and this one. `parentText` names the step before it. */
export function explainMiss(prev: ExplainStepRecord | undefined, cur: ExplainStepRecord, parentText: string): MissReason[] {
  if (!prev) return [{ kind: 'first-build' }];
  const reasons: MissReason[] = [];
  if (prev.text !== cur.text) reasons.push({ kind: 'instruction', before: prev.text, after: cur.text });
  const names = [...new Set([...Object.keys(prev.args), ...Object.keys(cur.args)])].sort();
  for (const name of names) {
    const before = prev.args[name] ?? null;
    const after = cur.args[name] ?? null;
    if (before !== after) reasons.push({ kind: 'build-arg', name, before, after });
  }
  if (prev.parent !== cur.parent) reasons.push({ kind: 'parent', step: parentText });
  if (prev.files || cur.files) {
    const a = prev.files ?? {};
    const b = cur.files ?? {};
    const changed = Object.keys(b).filter((k) => k in a && a[k] !== b[k]).sort();
    const added = Object.keys(b).filter((k) => !(k in a)).sort();
    const removed = Object.keys(a).filter((k) => !(k in b)).sort();
    if (changed.length + added.length + removed.length > 0) reasons.push({ kind: 'files', changed, added, removed });
  }
  if (prev.source !== undefined && cur.source !== undefined && prev.source !== cur.source) reasons.push({ kind: 'source', before: prev.source, after: cur.source });
  if (reasons.length === 0) {
    // Same text, args, parent and inputs: the expansion (an ENV of the base) or the cache itself.
    if (prev.expanded !== cur.expanded) reasons.push({ kind: 'instruction', before: prev.expanded, after: cur.expanded });
    else reasons.push({ kind: 'not-in-cache' });
  }
  return reasons;
}

/** The record of a stage's previous build, by step index. */
export function previousStep(record: ExplainRecord | undefined, index: number): ExplainStepRecord | undefined {
  return record?.steps[index];
}

/** One line per reason, for people. */
export function formatMissReason(r: MissReason): string {
  switch (r.kind) {
    case 'first-build':
      return 'no earlier build of this stage under this tag';
    case 'instruction':
      return `the instruction changed (was: ${r.before})`;
    case 'build-arg':
      return `build arg ${r.name} changed (${r.before ?? 'unset'} -> ${r.after ?? 'unset'})`;
    case 'parent':
      return `the step before it changed: ${r.step}`;
    case 'files': {
      const parts = [
        ...(r.changed.length ? [`changed: ${r.changed.join(', ')}`] : []),
        ...(r.added.length ? [`new: ${r.added.join(', ')}`] : []),
        ...(r.removed.length ? [`gone: ${r.removed.join(', ')}`] : []),
      ];
      return `input files changed (${parts.join('; ')})`;
    }
    case 'source':
      return `the source changed (${r.before} -> ${r.after})`;
    case 'not-in-cache':
      return 'same inputs as the last build, but the result is no longer in the cache';
  }
}

/** `--explain` for people: one line per step, the reasons of a miss indented below it. */
export function formatExplain(entries: readonly ExplainEntry[]): string {
  let out = '';
  for (const e of entries) {
    const where = `[${e.platform} ${e.stage}] line ${e.line}: ${e.instruction}`;
    if (e.cached) out += e.remote !== undefined ? `${where}: CACHED (remote cache ${e.remote})\n` : `${where}: CACHED\n`;
    else if (e.uncacheable !== undefined) out += `${where}: not cached (${e.uncacheable})\n`;
    else {
      out += `${where}: MISS\n`;
      for (const r of e.reasons ?? []) out += `    ${formatMissReason(r)}\n`;
    }
  }
  return out;
}
