/**
 * The stat cache of DESIGN.md: (device, inode, size, mtime, ctime, in
 * nanoseconds) of a source file → the SHA-256 of its bytes, so a warm
 * rebuild computes COPY cache keys without reading unchanged files. One
 * JSON file in the store, replaced atomically; a lost or stale entry only
 * costs a read (the stat must match exactly for an entry to count).
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import { isDigest } from '../oci/digest.js';

/** The identity of a file's current contents, as far as stat can tell. */
export function statKey(file: string): string | undefined {
  try {
    const st = fs.statSync(file, { bigint: true });
    if (!st.isFile()) return undefined;
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return undefined;
  }
}

const MAX_ENTRIES = 1_000_000;

export class StatCache {
  private readonly entries = new Map<string, { k: string; d: Digest }>();
  private dirty = false;

  private constructor(private readonly file: string) {}

  /** Loads the cache (an unreadable or malformed file is an empty cache). */
  static async load(file: string): Promise<StatCache> {
    const cache = new StatCache(file);
    try {
      const data = JSON.parse(await fs.promises.readFile(file, 'utf8')) as Record<string, [string, string]>;
      for (const [p, v] of Object.entries(data)) {
        if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'string' && isDigest(v[1])) cache.entries.set(p, { k: v[0], d: v[1] });
      }
    } catch {
      // no cache yet, or a torn one: start empty
    }
    return cache;
  }

  /** The digest of `file` when its stat key is `key` (undefined: unknown or changed). */
  get(file: string, key: string | undefined): Digest | undefined {
    if (key === undefined) return undefined;
    const e = this.entries.get(file);
    return e && e.k === key ? e.d : undefined;
  }

  set(file: string, key: string, digest: Digest): void {
    const e = this.entries.get(file);
    if (e && e.k === key && e.d === digest) return;
    if (this.entries.size >= MAX_ENTRIES && !e) return;
    this.entries.set(file, { k: key, d: digest });
    this.dirty = true;
  }

  /** Writes the cache when it changed (temp file, then rename). */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const out: Record<string, [string, string]> = {};
    for (const [p, e] of this.entries) out[p] = [e.k, e.d];
    const tmp = path.join(path.dirname(this.file), `.statcache-${randomUUID()}.tmp`);
    await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
    await fs.promises.writeFile(tmp, JSON.stringify(out));
    await fs.promises.rename(tmp, this.file);
    this.dirty = false;
  }
}
