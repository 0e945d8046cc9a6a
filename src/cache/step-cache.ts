/**
 * The step cache: cache key → what a step produced (its layer descriptor and
 * diffId, its config change). `StepCache` is the interface the engine's
 * `withCache` talks to; `localStepCache` keeps the records in the store
 * (`steps/<key>.json`, written atomically, a record whose layer blob is gone
 * is a miss). A registry-backed cache implements the same two methods.
 *
 * Beside it, the explain log: per (tag, platform, stage), the inputs of each
 * step at the last build, so a miss can say what changed.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import type { Store } from './store.js';

/** A layer descriptor as the step cache records it, with the layer's uncompressed digest. */
export type StepLayer = Descriptor & { diffId: Digest };

/** What the step cache remembers for one cache key. */
export interface StepRecord<C = unknown> {
  /** The layer the step produced, if any (metadata steps have none). */
  layer?: StepLayer;
  /** The change the step made to the image config (defined by the builder; null: none beyond the step itself). */
  configChange: C;
  /** When the step ran (RFC 3339). */
  created: string;
}

/** Where step results are looked up and recorded. */
export interface StepCache {
  /** The record for `key`, or undefined (a miss; a broken or incomplete record is a miss too). */
  get(key: string): Promise<StepRecord | undefined>;
  /** Records a step result; its layer blob is already in the store. */
  put(key: string, record: StepRecord): Promise<void>;
}

/** The step cache kept in the local store. */
export function localStepCache(store: Store): StepCache {
  return {
    get: (key) => store.getStep(key),
    put: (key, record) => store.putStep(key, record),
  };
}

/** The inputs of one step at one build, as the explain log keeps them. */
export interface ExplainStepRecord {
  /** The instruction as written (without its line). */
  text: string;
  /** The step as expanded (canonical JSON). */
  expanded: string;
  /** The build args in scope with their values. */
  args: Record<string, string | null>;
  /** The chain key before the step (the parent). */
  parent: string;
  /** Identity of each input file (name → digest of its bytes and metadata). */
  files?: Record<string, string>;
  /** Identity of the stage or image copied from. */
  source?: string;
  /** The cache key, when the step was cacheable. */
  key?: string;
}

/** The last build of one stage under one tag. */
export interface ExplainRecord {
  steps: ExplainStepRecord[];
}

/** Where explain records live. */
export interface ExplainLog {
  get(scope: string): Promise<ExplainRecord | undefined>;
  put(scope: string, record: ExplainRecord): Promise<void>;
}

/** The explain log in the store (`explain/<sha256 of scope>.json`); unreadable records are absent. */
export function localExplainLog(store: Store): ExplainLog {
  const file = (scope: string) => path.join(store.root, 'explain', `${createHash('sha256').update(scope).digest('hex')}.json`);
  return {
    async get(scope) {
      try {
        const v = JSON.parse(await fs.readFile(file(scope), 'utf8')) as unknown;
        if (typeof v === 'object' && v !== null && Array.isArray((v as ExplainRecord).steps)) return v as ExplainRecord;
      } catch {
        // none yet, or torn: nothing to compare with
      }
      return undefined;
    },
    async put(scope, record) {
      await store.writeRecord(path.join('explain', path.basename(file(scope))), Buffer.from(JSON.stringify(record)));
    },
  };
}
