/**
 * Ordering helpers over a BuildGraph: topological order, parallel levels,
 * reachability. Pure functions.
 */
import { OcibuildError } from '../errors.js';
import type { BuildGraph, Stage } from './types.js';

/** The stage with `Stage.index === index` (throws when the graph does not hold it: our bug). */
export function stageByIndex(graph: Pick<BuildGraph, 'stages'>, index: number): Stage {
  const stage = graph.stages.find((s) => s.index === index);
  if (!stage) throw new Error(`internal: stage ${index} is not in the build graph`);
  return stage;
}

/**
 * Stages reachable from `from` through `dependsOn` (including `from`),
 * given a dependency lookup. Iterative, cycle-safe.
 */
export function reachableStages(from: number, deps: (index: number) => readonly number[]): Set<number> {
  const seen = new Set<number>();
  const stack = [from];
  while (stack.length > 0) {
    const i = stack.pop() as number;
    if (seen.has(i)) continue;
    seen.add(i);
    for (const d of deps(i)) if (!seen.has(d)) stack.push(d);
  }
  return seen;
}

/**
 * Topological order of `nodes` (dependencies first, ties broken by index so
 * the order is deterministic). Throws an OcibuildError on a cycle.
 */
export function topologicalOrder(nodes: readonly number[], deps: (index: number) => readonly number[]): number[] {
  const set = new Set(nodes);
  const state = new Map<number, 1 | 2>(); // 1 = in progress, 2 = done
  const out: number[] = [];
  const sorted = [...set].sort((a, b) => a - b);
  for (const root of sorted) {
    if (state.get(root) === 2) continue;
    // iterative DFS with explicit stack of [node, childIterator index]
    const stack: [number, number][] = [[root, 0]];
    state.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const children = [...deps(top[0])].filter((d) => set.has(d)).sort((a, b) => a - b);
      if (top[1] < children.length) {
        const child = children[top[1]++];
        const st = state.get(child);
        if (st === 1) {
          throw new OcibuildError('DOCKERFILE_INSTRUCTION', `circular dependency detected on stage: ${child}`);
        }
        if (st === undefined) {
          state.set(child, 1);
          stack.push([child, 0]);
        }
      } else {
        state.set(top[0], 2);
        out.push(top[0]);
        stack.pop();
      }
    }
  }
  return out;
}

/**
 * Stages grouped by depth: every stage of level n depends only on stages of
 * levels < n, so the stages of one level can run in parallel.
 * Each level lists Stage.index values, ascending.
 */
export function levels(graph: Pick<BuildGraph, 'stages' | 'order'>): number[][] {
  const depth = new Map<number, number>();
  const byIndex = new Map(graph.stages.map((s) => [s.index, s]));
  for (const index of graph.order) {
    const stage = byIndex.get(index);
    if (!stage) throw new Error(`internal: stage ${index} is not in the build graph`);
    let d = 0;
    for (const dep of stage.dependsOn) {
      const dd = depth.get(dep);
      if (dd === undefined) throw new Error(`internal: stage ${dep} ordered after its dependant ${index}`);
      d = Math.max(d, dd + 1);
    }
    depth.set(index, d);
  }
  const out: number[][] = [];
  for (const [index, d] of depth) {
    (out[d] ??= []).push(index);
  }
  return out.map((l) => l.sort((a, b) => a - b));
}
