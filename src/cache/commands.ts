import { OcibuildError } from '../errors.js';
import { compareFsNames } from '../fs-names.js';
import type { Digest } from '../oci/digest.js';
import type { ImageSummary, PruneResult, Store } from './store.js';
import { parseDuration, parseSize } from './units.js';

/** `ocibuild images`: the tagged images, newest first (then by name). */
export async function listImages(store: Store): Promise<ImageSummary[]> {
  const images = await store.listImages();
  // Byte order, as the store's index (src/cache/tags.ts): the same in every locale.
  return images.sort((a, b) => compareFsNames(b.created ?? '', a.created ?? '') || compareFsNames(a.name, b.name));
}

/** Options of removeImages. */
export interface RemoveImagesOptions {
  /**
   * Then garbage-collect what no tag or step-cache entry references any more
   * (default true). Blobs younger than the grace period stay until a later prune.
   */
  prune?: boolean;
  /** Grace period of that collection, milliseconds (see PruneOptions). */
  gracePeriodMs?: number;
}

/** What removeImages did. */
export interface RemoveImagesResult {
  /** Each removed tag with the digest it pointed at. */
  untagged: { name: string; digest: Digest }[];
  /** The collection that followed, when `prune` was not false. */
  pruned?: PruneResult;
}

/**
 * `ocibuild rmi <name>...`: remove tags (a digest removes every tag pointing
 * at it). All names are checked first: if any is unknown, IMAGE_NOT_FOUND is
 * thrown naming them and nothing is removed.
 */
export async function removeImages(store: Store, names: readonly string[], options: RemoveImagesOptions = {}): Promise<RemoveImagesResult> {
  if (names.length === 0) throw new OcibuildError('USAGE', 'rmi needs at least one image name');
  const tags = await store.listTags();
  const missing: string[] = [];
  for (const n of names) if (!(await store.resolve(n))) missing.push(n);
  if (missing.length > 0) {
    throw new OcibuildError('IMAGE_NOT_FOUND', `no such image${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`, { details: { missing } });
  }
  const untagged: RemoveImagesResult['untagged'] = [];
  for (const n of names) {
    const targets = n.startsWith('sha256:') || n.startsWith('sha512:') ? tags.filter((t) => t.descriptor.digest === n).map((t) => t.name) : [n];
    for (const t of targets) {
      const removed = await store.untag(t);
      if (removed) untagged.push({ name: t, digest: removed.digest });
    }
  }
  const result: RemoveImagesResult = { untagged };
  if (options.prune !== false) result.pruned = await store.prune({ gracePeriodMs: options.gracePeriodMs });
  return result;
}

/** `ocibuild prune` options as the CLI takes them (strings parsed here). */
export interface PruneCommandOptions {
  /** `--all`: drop the whole step cache. */
  all?: boolean;
  /** `--older-than 24h`: Go duration syntax (plus `d`, `w`), or milliseconds. */
  olderThan?: string | number;
  /** `--keep-storage 10GB`: binary units as Docker takes them, or bytes. */
  keepStorage?: string | number;
  /** Grace period for fresh, unreferenced content, milliseconds. */
  gracePeriodMs?: number;
}

/** `ocibuild prune [--all] [--older-than 24h] [--keep-storage 10GB]`. */
export async function pruneStore(store: Store, options: PruneCommandOptions = {}): Promise<PruneResult> {
  const olderThan = options.olderThan === undefined ? undefined : typeof options.olderThan === 'number' ? options.olderThan : parseDuration(options.olderThan);
  const keepBytes = options.keepStorage === undefined ? undefined : typeof options.keepStorage === 'number' ? options.keepStorage : parseSize(options.keepStorage);
  if (olderThan !== undefined && (!Number.isFinite(olderThan) || olderThan < 0)) throw new OcibuildError('USAGE', `invalid --older-than ${String(options.olderThan)}`);
  if (keepBytes !== undefined && (!Number.isFinite(keepBytes) || keepBytes < 0)) throw new OcibuildError('USAGE', `invalid --keep-storage ${String(options.keepStorage)}`);
  return store.prune({ all: options.all, olderThan, keepBytes, gracePeriodMs: options.gracePeriodMs });
}
