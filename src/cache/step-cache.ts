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
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { isDigest, type Digest } from '../oci/digest.js';
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
  /** Set by a remote cache on what it returns: the cache it came from (a reference or directory). Never stored. */
  source?: string;
}

/** Where step results are looked up and recorded. */
export interface StepCache {
  /** The record for `key`, or undefined (a miss; a broken or incomplete record is a miss too). */
  get(key: string): Promise<StepRecord | undefined>;
  /** Records a step result; its layer blob is already in the store. */
  put(key: string, record: StepRecord): Promise<void>;
}

const STEP_KEY_RE = /^(?:sha256:)?([a-f0-9]{64})$/;

/** Where the record of `key` lives (`steps/<hex>.json`). */
function stepPath(store: Store, key: string): string {
  const m = STEP_KEY_RE.exec(key);
  if (!m) throw new OcibuildError('DIGEST_INVALID', `invalid cache key ${JSON.stringify(key)}: expected a SHA-256 hex digest`);
  return path.join(store.root, 'steps', `${m[1]}.json`);
}

/** True when `v` has the shape of a step record (a layer with digests, size and media type, if any). */
export function isStepRecord(v: unknown): v is StepRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  if (typeof r.created !== 'string' || !('configChange' in r)) return false;
  if (r.layer !== undefined) {
    const l = r.layer as Record<string, unknown>;
    if (typeof l !== 'object' || l === null) return false;
    if (typeof l.digest !== 'string' || !isDigest(l.digest)) return false;
    if (typeof l.diffId !== 'string' || !isDigest(l.diffId)) return false;
    if (typeof l.size !== 'number' || typeof l.mediaType !== 'string') return false;
  }
  return true;
}

/**
 * Look up a step-cache entry. A missing, unreadable or malformed entry, or
 * one whose layer blob is gone, is a miss (the broken entry is removed). A
 * hit refreshes the entry's and its layer's last-use time.
 */
export async function readStepRecord(store: Store, key: string): Promise<StepRecord | undefined> {
  const p = stepPath(store, key);
  let text: string;
  try {
    text = await fs.readFile(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') return undefined;
    throw new OcibuildError('STORE_IO', `cannot read step cache entry ${p}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch {
    rec = undefined;
  }
  if (!isStepRecord(rec)) {
    await fs.rm(p, { force: true });
    return undefined;
  }
  if (rec.layer) {
    const st = await store.stat(rec.layer.digest);
    if (!st || st.size !== rec.layer.size) {
      await fs.rm(p, { force: true });
      return undefined;
    }
    await store.touch(rec.layer.digest);
  }
  const t = new Date(store.now());
  await fs.utimes(p, t, t).catch(() => undefined);
  return rec;
}

/** Record a step result (atomically: temp file, fsync, rename). The layer blob must already be in the store. */
export async function writeStepRecord(store: Store, key: string, record: StepRecord): Promise<void> {
  const p = stepPath(store, key);
  if (!isStepRecord(record)) throw new OcibuildError('MANIFEST_INVALID', `invalid step record for ${key}`);
  if (record.layer) {
    const st = await store.stat(record.layer.digest);
    if (!st) throw new OcibuildError('BLOB_NOT_FOUND', `step ${key}: layer ${record.layer.digest} is not in the store`);
    if (st.size !== record.layer.size) throw new OcibuildError('SIZE_MISMATCH', `step ${key}: layer ${record.layer.digest} has ${st.size} bytes, the record says ${record.layer.size}`);
  }
  const { source: _source, ...stored } = record;
  await store.writeRecord(path.relative(store.root, p), Buffer.from(JSON.stringify(stored)));
}

/** The step cache kept in the local store (`steps/<key>.json`). */
export function localStepCache(store: Store): StepCache {
  return {
    get: (key) => readStepRecord(store, key),
    put: (key, record) => writeStepRecord(store, key, record),
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
  /**
   * Identity of each input file (name → digest of its bytes and metadata). In a
   * record read from the log with `filesRef`, read from its own file on first use.
   */
  files?: Record<string, string>;
  /**
   * Where the log keeps `files` (the SHA-256 of their JSON): a record that
   * names the same ref as the last one says the same files without loading
   * them (a hit under the last key reuses them; issue 8: a 20,000-file map was
   * ~25 ms of every warm rebuild to parse).
   */
  filesRef?: string;
  /**
   * `files` as the JSON text the log keeps, when the list was made as text
   * ({@link withFilesJson}): the log writes it as it is.
   */
  filesJson?: string;
  /** Identity of the stage or image copied from. */
  source?: string;
  /** The cache key, when the step was cacheable. */
  key?: string;
}

/**
 * A file list for the explain log as the JSON text it is kept as
 * (`{"name":"identity",...}`, byte for byte what `JSON.stringify` makes of
 * the object): on 100,000 files one ~4 MB string instead of an object of
 * 100,000 properties (~17 MB at the build's peak; issue 8: memory).
 */
export class ExplainFilesJson {
  constructor(readonly text: string) {}

  /** The list as an object (parsed anew: only a miss with an earlier record compares lists). */
  parse(): Record<string, string> {
    return JSON.parse(this.text) as Record<string, string>;
  }
}

/**
 * Gives `step` the file list `json`: kept as text (`filesJson`, written to the log as it is) and
 * parsed into `files` only when something reads that (both not enumerable).
 */
export function withFilesJson<T extends ExplainStepRecord>(step: T, json: ExplainFilesJson): T {
  let parsed: Record<string, string> | undefined;
  Object.defineProperty(step, 'filesJson', { value: json.text, enumerable: false, configurable: true });
  Object.defineProperty(step, 'files', { enumerable: false, configurable: true, get: () => (parsed ??= json.parse()) });
  return step;
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

/**
 * The explain log in the store: `explain/<sha256 of scope>.json`, the steps
 * without their file lists, each list in `explain/<sha256 of scope>/<ref>.json`
 * (ref: the SHA-256 of its JSON), read only when a step asks for it.
 * Unreadable records are absent; an unreadable list is empty.
 */
export function localExplainLog(store: Store): ExplainLog {
  const name = (scope: string) => createHash('sha256').update(scope).digest('hex');
  const REF = /^[0-9a-f]{64}$/;
  return {
    async get(scope) {
      let record: ExplainRecord;
      try {
        const v = JSON.parse(await fs.readFile(path.join(store.root, 'explain', `${name(scope)}.json`), 'utf8')) as unknown;
        if (typeof v !== 'object' || v === null || !Array.isArray((v as ExplainRecord).steps)) return undefined;
        record = v as ExplainRecord;
      } catch {
        return undefined; // none yet, or torn: nothing to compare with
      }
      const dir = path.join(store.root, 'explain', name(scope));
      for (const step of record.steps) {
        const ref = step.filesRef;
        if (typeof ref !== 'string' || !REF.test(ref) || step.files !== undefined) continue;
        let loaded: Record<string, string> | undefined;
        Object.defineProperty(step, 'files', {
          enumerable: false,
          configurable: true,
          get() {
            if (loaded === undefined) {
              try {
                const v = JSON.parse(readFileSync(path.join(dir, `${ref}.json`), 'utf8')) as unknown;
                loaded = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, string>) : {};
              } catch {
                loaded = {};
              }
            }
            return loaded;
          },
        });
      }
      return record;
    },
    async put(scope, record) {
      const dir = path.join('explain', name(scope));
      const keep = new Set<string>();
      const steps: ExplainStepRecord[] = [];
      for (const step of record.steps) {
        // (`files` and `filesJson` are left out of the rest unread: a list kept as text is not parsed.)
        const { filesRef, ...rest } = step;
        delete rest.files;
        delete rest.filesJson;
        const listed = step.filesJson !== undefined || Object.prototype.hasOwnProperty.call(step, 'files');
        if (filesRef !== undefined && !listed) {
          // Reused from the last record: its list is already there.
          keep.add(filesRef);
          steps.push({ ...rest, filesRef });
        } else if (step.filesJson !== undefined || step.files !== undefined) {
          const json = step.filesJson ?? JSON.stringify(step.files);
          const ref = createHash('sha256').update(json).digest('hex');
          if (!keep.has(ref)) {
            keep.add(ref);
            const exists = await fs.stat(path.join(store.root, dir, `${ref}.json`)).then(() => true, () => false);
            if (!exists) await store.writeRecord(path.join(dir, `${ref}.json`), Buffer.from(json));
          }
          steps.push({ ...rest, filesRef: ref });
        } else steps.push(rest);
      }
      await store.writeRecord(path.join('explain', `${name(scope)}.json`), Buffer.from(JSON.stringify({ steps })));
      // Lists no step names any more go (after the record that stopped naming them).
      for (const f of await fs.readdir(path.join(store.root, dir)).catch(() => [] as string[])) {
        if (f.endsWith('.json') && !keep.has(f.slice(0, -5))) await fs.rm(path.join(store.root, dir, f), { force: true });
      }
    },
  };
}
