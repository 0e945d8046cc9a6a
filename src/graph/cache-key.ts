/**
 * Cache keys, pure: a key is the SHA-256 of the canonical JSON of what
 * determines a step's result. Two kinds:
 *
 * - the chain key names the state of a stage after a step: the base (scratch,
 *   a stage's chain, an image's manifest digest) and platform, then for each
 *   step its layer's diffId (a step that made a layer) or its canonical form
 *   (a config-only step). Content-addressed, so equal layers give equal chains.
 * - the step key names one step's result: the parent chain, the canonical
 *   step and the identities of its inputs (a Merkle digest of the files a COPY
 *   selects, the chain of the stage it copies from, SOURCE_DATE_EPOCH, ...).
 *
 * The shapes below are exactly those of the first step cache, so stores
 * written before this module keep hitting.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, canonicalStep, type CanonicalValue } from './canonical.js';
import type { Step } from './types.js';

/** SHA-256 hex over `{ v: 1, ...value }` as canonical JSON. */
export function hashKey(value: Record<string, CanonicalValue>): string {
  return createHash('sha256').update(canonicalJson({ v: 1, ...value })).digest('hex');
}

/** What a stage starts from, for its first chain key. */
export type ChainBase =
  | { kind: 'scratch' }
  /** Another stage: its chain key after its last step. */
  | { kind: 'stage'; chain: string }
  /** An image: its manifest digest. */
  | { kind: 'image'; manifest: string };

/** The chain key of a stage before its first step. `platform` is `os/arch[/variant]`. */
export function baseChainKey(platform: string, base: ChainBase): string {
  const id = base.kind === 'scratch' ? 'scratch' : base.kind === 'stage' ? base.chain : base.manifest;
  return hashKey({ platform, base: id });
}

/** The chain key after `step`: by its layer's diffId when it made one, else by the step itself. */
export function nextChainKey(parent: string, step: Step, layerDiffId?: string): string {
  return layerDiffId !== undefined ? hashKey({ parent, layer: layerDiffId }) : hashKey({ parent, step: canonicalStep(step) });
}

/**
 * The step-cache key of `step` after the chain `parent`, given the identities
 * of its inputs (names must not be `v`, `parent` or `step`). COPY uses
 * `{ inputs, epoch }` (context files) or `{ source, epoch }` (another stage or image).
 */
export function stepCacheKey(parent: string, step: Step, inputs: Record<string, CanonicalValue>): string {
  for (const k of ['v', 'parent', 'step']) if (k in inputs) throw new Error(`input name ${k} is reserved in a cache key`);
  return hashKey({ ...inputs, parent, step: canonicalStep(step) });
}
