/**
 * Garbage collection of the store: step-cache entries by age and size, then
 * blobs and unpacked trees no tag and no remaining step references, then
 * stale temp entries, all under the store lock with a grace period.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import type { Blobs } from './blobs.js';
import { io, listDir, removeTree, treeSize, type RemoveForeignTree } from './io.js';
import { withLock, type LockOptions } from './lock.js';
import { isStepRecord, type StepRecord } from './step-cache.js';
import { indexLockPath, type Tags } from './tags.js';
import { walkImage } from './walk.js';

/** Blobs (and temp files, unpacked trees) younger than this are never garbage-collected. */
export const DEFAULT_GRACE_PERIOD_MS = 15 * 60_000;

/** Options of Store.prune. */
export interface PruneOptions {
  /** Drop the whole step cache (tagged images stay). */
  all?: boolean;
  /** Drop step-cache entries not used for this many milliseconds (`pruneStore` parses `24h`). */
  olderThan?: number;
  /** Then drop least-recently-used step entries until the store holds at most this many bytes. */
  keepBytes?: number;
  /** Unreferenced blobs, temp files and trees younger than this stay (default 15 min): a concurrent build may be about to use them. */
  gracePeriodMs?: number;
}

/** What a prune did. */
export interface PruneResult {
  removedBlobs: number;
  removedSteps: number;
  removedUnpacked: number;
  removedTemp: number;
  freedBytes: number;
  /** Bytes the store holds afterwards (blobs, plus unpacked trees when keepBytes was given). */
  remainingBytes: number;
}

/** Prunes the store at `root`. */
export class GarbageCollector {
  constructor(
    readonly root: string,
    private readonly now: () => number,
    private readonly lockOptions: LockOptions,
    private readonly blobs: Blobs,
    private readonly tags: Tags,
    private readonly removeForeignTree?: RemoveForeignTree,
  ) {}

  /** Blobs and diffIds reachable from the tags (tolerating missing or unreadable children). */
  private async markTagged(): Promise<{ blobs: Set<string>; diffIds: Set<string> }> {
    const blobs = new Set<string>();
    const diffIds = new Set<string>();
    for (const d of (await this.tags.readIndex()).manifests) {
      await walkImage(this.blobs, d, {
        blob: (b) => void blobs.add(b.digest),
        config: (config) => {
          for (const id of config.rootfs.diff_ids) diffIds.add(id);
        },
      });
    }
    return { blobs, diffIds };
  }

  /**
   * Free space: drop step-cache entries (all, those unused for `olderThan`,
   * then least recently used ones while the store is larger than
   * `keepBytes`), then remove blobs and unpacked trees no tag and no remaining
   * step references, and stale temp files. Anything younger than the grace
   * period stays, so a concurrent build never loses what it just wrote. Runs
   * under the store lock.
   */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    const grace = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    if (!Number.isFinite(grace) || grace < 0) throw new OcibuildError('USAGE', `invalid grace period ${grace}`);
    return io('prune failed', () => this.pruneLocked(options, grace));
  }

  private async pruneLocked(options: PruneOptions, grace: number): Promise<PruneResult> {
    return withLock(indexLockPath(this.root), async () => {
      const now = this.now();
      const oldEnough = (mtimeMs: number) => mtimeMs <= now - grace;
      const result: PruneResult = { removedBlobs: 0, removedSteps: 0, removedUnpacked: 0, removedTemp: 0, freedBytes: 0, remainingBytes: 0 };
      const tagged = await this.markTagged();

      // Step cache entries, oldest use first.
      type Step = { file: string; mtimeMs: number; record?: StepRecord };
      const steps: Step[] = [];
      const stepsDir = path.join(this.root, 'steps');
      for (const name of await listDir(stepsDir)) {
        const file = path.join(stepsDir, name);
        const st = await fs.stat(file).catch(() => undefined);
        if (!st) continue;
        if (!name.endsWith('.json')) {
          if (oldEnough(st.mtimeMs)) await fs.rm(file, { force: true, recursive: true });
          continue;
        }
        let record: unknown;
        try {
          record = JSON.parse(await fs.readFile(file, 'utf8'));
        } catch {
          record = undefined;
        }
        steps.push({ file, mtimeMs: st.mtimeMs, record: isStepRecord(record) ? record : undefined });
      }
      steps.sort((a, b) => a.mtimeMs - b.mtimeMs);
      const removeStep = async (s: Step) => {
        await fs.rm(s.file, { force: true });
        result.removedSteps++;
      };
      const kept: Step[] = [];
      for (const s of steps) {
        const expired = options.all || !s.record || (options.olderThan !== undefined && s.mtimeMs < now - options.olderThan);
        if (expired) await removeStep(s);
        else kept.push(s);
      }

      // Reference counts from the remaining steps.
      const stepBlobRefs = new Map<string, number>();
      const stepDiffRefs = new Map<string, number>();
      const inc = (m: Map<string, number>, k: string, by: number) => m.set(k, (m.get(k) ?? 0) + by);
      for (const s of kept) {
        if (s.record?.layer) {
          inc(stepBlobRefs, s.record.layer.digest, 1);
          inc(stepDiffRefs, s.record.layer.diffId, 1);
        }
      }

      // Inventory of blobs and unpacked trees.
      type Item = { key: string; file: string; size: number; mtimeMs: number; tree: boolean };
      const blobs = new Map<string, Item>();
      for (const alg of await listDir(path.join(this.root, 'blobs'))) {
        for (const hex of await listDir(path.join(this.root, 'blobs', alg))) {
          const file = path.join(this.root, 'blobs', alg, hex);
          const st = await fs.stat(file).catch(() => undefined);
          if (!st || !st.isFile()) continue;
          blobs.set(`${alg}:${hex}`, { key: `${alg}:${hex}`, file, size: st.size, mtimeMs: st.mtimeMs, tree: false });
        }
      }
      const trees = new Map<string, Item>();
      for (const alg of await listDir(path.join(this.root, 'unpacked'))) {
        for (const hex of await listDir(path.join(this.root, 'unpacked', alg))) {
          const file = path.join(this.root, 'unpacked', alg, hex);
          const st = await fs.stat(file).catch(() => undefined);
          if (!st) continue;
          const size = options.keepBytes !== undefined ? await treeSize(file) : 0;
          trees.set(`${alg}:${hex}`, { key: `${alg}:${hex}`, file, size, mtimeMs: st.mtimeMs, tree: true });
        }
      }

      // Header indexes of layer blobs (layer-index.ts), kept and swept with their blobs.
      const indexes = new Map<string, Item>();
      for (const alg of await listDir(path.join(this.root, 'headers'))) {
        for (const name of await listDir(path.join(this.root, 'headers', alg))) {
          if (!name.endsWith('.json')) continue;
          const file = path.join(this.root, 'headers', alg, name);
          const st = await fs.stat(file).catch(() => undefined);
          if (!st || !st.isFile()) continue;
          const key = `${alg}:${name.slice(0, -'.json'.length)}`;
          indexes.set(key, { key, file, size: st.size, mtimeMs: st.mtimeMs, tree: false });
        }
      }

      const sweepBlob = async (key: string) => {
        const it = blobs.get(key);
        if (!it || tagged.blobs.has(key) || (stepBlobRefs.get(key) ?? 0) > 0 || !oldEnough(it.mtimeMs)) return;
        await fs.rm(it.file, { force: true });
        blobs.delete(key);
        result.removedBlobs++;
        result.freedBytes += it.size;
      };
      const sweepTree = async (key: string) => {
        const it = trees.get(key);
        if (!it || tagged.diffIds.has(key) || (stepDiffRefs.get(key) ?? 0) > 0 || !oldEnough(it.mtimeMs)) return;
        if (options.keepBytes === undefined) it.size = await treeSize(it.file);
        await removeTree(it.file, this.removeForeignTree);
        trees.delete(key);
        result.removedUnpacked++;
        result.freedBytes += it.size;
      };
      const sweepIndex = async (key: string) => {
        const it = indexes.get(key);
        if (!it || blobs.has(key)) return;
        await fs.rm(it.file, { force: true });
        indexes.delete(key);
        result.freedBytes += it.size;
      };
      for (const key of [...blobs.keys()]) await sweepBlob(key);
      for (const key of [...trees.keys()]) await sweepTree(key);
      for (const key of [...indexes.keys()]) await sweepIndex(key);
      // Conversion records of outputs (src/output/convert.ts) whose source or converted blob is gone.
      for (const name of await listDir(path.join(this.root, 'conversions'))) {
        const file = path.join(this.root, 'conversions', name);
        let rec: { source?: unknown; digest?: unknown } | undefined;
        try {
          rec = JSON.parse(await fs.readFile(file, 'utf8')) as { source?: unknown; digest?: unknown };
        } catch {
          rec = undefined;
        }
        const st = await fs.stat(file).catch(() => undefined);
        if (!st || !oldEnough(st.mtimeMs)) continue;
        if (rec && typeof rec.source === 'string' && typeof rec.digest === 'string' && blobs.has(rec.source) && blobs.has(rec.digest)) continue;
        await fs.rm(file, { force: true });
        result.freedBytes += st.size;
      }

      const total = () => {
        let n = 0;
        for (const it of blobs.values()) n += it.size;
        for (const it of trees.values()) n += it.size;
        for (const it of indexes.values()) n += it.size;
        return n;
      };
      if (options.keepBytes !== undefined) {
        let current = total();
        while (current > options.keepBytes && kept.length > 0) {
          const s = kept.shift()!;
          await removeStep(s);
          if (s.record?.layer) {
            inc(stepBlobRefs, s.record.layer.digest, -1);
            inc(stepDiffRefs, s.record.layer.diffId, -1);
            await sweepBlob(s.record.layer.digest);
            await sweepTree(s.record.layer.diffId);
            await sweepIndex(s.record.layer.digest);
          }
          current = total();
        }
      }

      // Stale temp files and directories (interrupted writes).
      const tmpDir = path.join(this.root, 'tmp');
      for (const name of await listDir(tmpDir)) {
        const file = path.join(tmpDir, name);
        const st = await fs.lstat(file).catch(() => undefined);
        if (!st || !oldEnough(st.mtimeMs)) continue;
        if (st.isDirectory()) {
          result.freedBytes += await treeSize(file);
          await removeTree(file, this.removeForeignTree);
        } else {
          result.freedBytes += st.size;
          await fs.rm(file, { force: true });
        }
        result.removedTemp++;
      }
      result.remainingBytes = total();
      return result;
    }, this.lockOptions);
  }
}
