/**
 * The stat cache of DESIGN.md: (device, inode, size, mtime, ctime, in
 * nanoseconds) of a source file → the SHA-256 of its bytes, so a warm
 * rebuild computes COPY cache keys without reading unchanged files. One file
 * in the store, replaced atomically; a lost or stale entry only costs a read
 * (the stat must match exactly for an entry to count).
 *
 * The file is compact and quick to load (a warm rebuild of 20,000 files
 * loads it before anything else): a header line, then one record per file,
 * `path NUL key SP hex NUL` (names never hold NUL). Each record's value is
 * kept as one string (a slice of the file's text), not an object per file.
 * A record set during the build keeps its stat key (the string the planner
 * already holds) and its digest as 32 bytes of one growing buffer: a cold
 * build of 100,000 files sets 100,000 records, and a string `key SP hex` each
 * was ~110 bytes more per file at the build's peak (issue 8: memory). Records a COPY sets all at
 * once after writing its layer are kept as the step's own list ({@link StatRecords}) until they are
 * needed: a cold build asks nothing more of them than to be saved, and a record of its own per
 * file (the path, a map entry, the digest) was ~16 MB of the peak of a build of 100,000 files.
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import { isDigest, Sha256Slots } from '../oci/digest.js';
import { hasEscapedBytes } from '../fs-names.js';
import { statIdentity } from '../stat-identity.js';

/** The identity of a file's current contents, as far as stat can tell. */
export function statKey(file: string): string | undefined {
  try {
    const st = fs.statSync(file, { bigint: true });
    if (!st.isFile()) return undefined;
    return statIdentity(st);
  } catch {
    return undefined;
  }
}

const MAX_ENTRIES = 1_000_000;

/** Records to set at once ({@link StatCache.setAll}), each made when it is read. */
export interface StatRecords {
  readonly length: number;
  /** Record `i` (undefined: none at `i`). */
  at(i: number): { file: string; key: string; digest: Digest } | undefined;
}
const HEADER = 'ocibuild-statcache 2\n';
/** Bytes per write when saving (the file is written in pieces, never built whole in memory). */
const SAVE_BUFFER = 256 * 1024;

export class StatCache {
  /** path → `key SP hex` (the digest's hex, as loaded), or the slot of a record set since. */
  private readonly entries = new Map<string, string | number>();
  /** Stat keys of the records set since loading, by slot... */
  private readonly setKeys: string[] = [];
  /** ...and their digests. */
  private readonly setDigests = new Sha256Slots();
  /** Lists set by {@link setAll} and not yet made records of their own (only while nothing else is known). */
  private pending: StatRecords[] = [];
  private dirty = false;

  private constructor(private readonly file: string) {}

  /** Loads the cache (an unreadable, malformed or older-format file is an empty cache). */
  static async load(file: string): Promise<StatCache> {
    const cache = new StatCache(file);
    let text: string;
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch {
      return cache; // no cache yet
    }
    if (!text.startsWith(HEADER)) return cache;
    const parts = text.slice(HEADER.length).split('\0');
    // A torn file cannot be published (temp file, then rename); a trailing partial record is ignored.
    for (let i = 0; i + 1 < parts.length; i += 2) cache.entries.set(parts[i]!, parts[i + 1]!);
    return cache;
  }

  /** The digest of `file` when its stat key is `key` (undefined: unknown or changed). */
  get(file: string, key: string | undefined): Digest | undefined {
    if (key === undefined) return undefined;
    if (this.pending.length > 0) this.settle();
    const v = this.entries.get(file);
    if (typeof v === 'number') return this.setKeys[v] === key ? this.setDigests.get(v) : undefined;
    if (v === undefined || v.length !== key.length + 65 || v.charCodeAt(key.length) !== 0x20 || !v.startsWith(key)) return undefined;
    const d = `sha256:${v.slice(key.length + 1)}`;
    return isDigest(d) ? d : undefined;
  }

  set(file: string, key: string, digest: Digest): void {
    if (this.pending.length > 0) this.settle();
    if (!storable(file, key, digest)) return;
    const e = this.entries.get(file);
    if (e !== undefined && this.get(file, key) === digest) return;
    if (this.entries.size >= MAX_ENTRIES && e === undefined) return;
    // A record set again (the file changed during the build) takes its old slot.
    const slot = typeof e === 'number' ? e : this.setKeys.length;
    this.setKeys[slot] = key;
    this.setDigests.set(slot, digest);
    this.entries.set(file, slot);
    this.dirty = true;
  }

  /**
   * Sets every record of `records`, as {@link set} one after another would. When the cache knows
   * nothing else yet (a first build), they are kept as the list given, read again when saved (or
   * made records of their own when something else is asked or set first): `records` must answer
   * the same until then.
   */
  setAll(records: StatRecords): void {
    if (this.entries.size === 0) {
      this.pending.push(records);
      this.dirty = true;
      return;
    }
    this.setEach(records);
  }

  private setEach(records: StatRecords): void {
    for (let i = 0; i < records.length; i++) {
      const r = records.at(i);
      if (r) this.set(r.file, r.key, r.digest);
    }
  }

  /** The pending lists made records of their own. */
  private settle(): void {
    const pending = this.pending;
    this.pending = [];
    for (const records of pending) this.setEach(records);
  }

  /** The record of `file` as the file keeps it (`key SP hex`). */
  private record(v: string | number): string {
    return typeof v === 'string' ? v : `${this.setKeys[v]} ${this.setDigests.hex(v)}`;
  }

  /** The files the cache knows, in no particular order. */
  files(): string[] {
    if (this.pending.length > 0) this.settle();
    return [...this.entries.keys()];
  }

  /**
   * Writes the cache when it changed (temp file, then rename), through one reused buffer: no
   * string of thousands of records (each such string outlived its write in the heap's large
   * object space until the next full GC, ~14 MB on 100,000 files; issue 8: memory).
   */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const tmp = path.join(path.dirname(this.file), `.statcache-${randomUUID()}.tmp`);
    await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
    const fh = await fs.promises.open(tmp, 'w');
    try {
      const buf = Buffer.allocUnsafe(SAVE_BUFFER);
      let used = buf.write(HEADER, 0, 'utf8');
      const flush = async (): Promise<void> => {
        for (let off = 0; off < used; ) off += (await fh.write(buf, off, used - off)).bytesWritten;
        used = 0;
      };
      const append = (p: string, rec: string): void => {
        used += buf.write(p, used, 'utf8');
        buf[used++] = 0;
        used += buf.write(rec, used, 'utf8');
        buf[used++] = 0;
      };
      /** A record; a promise only when the buffer had to be written first. */
      const put = (p: string, rec: string): Promise<void> | undefined => {
        // At most 3 bytes of UTF-8 per UTF-16 unit.
        if (used + 3 * (p.length + rec.length) + 2 <= buf.length) {
          append(p, rec);
          return undefined;
        }
        return (async () => {
          await flush();
          // A record longer than the buffer (a path of tens of thousands of characters) goes on its own.
          if (3 * (p.length + rec.length) + 2 > buf.length) await fh.writeFile(`${p}\0${rec}\0`);
          else append(p, rec);
        })();
      };
      for (const [p, v] of this.entries) {
        const w = put(p, this.record(v));
        if (w) await w;
      }
      // Pending lists (the cache knew nothing else when they were set): each record as `set` would
      // keep it; a file listed twice is written twice, and the later one is what a load keeps.
      let count = this.entries.size;
      for (const records of this.pending) {
        for (let i = 0; i < records.length && count < MAX_ENTRIES; i++) {
          const r = records.at(i);
          if (!r || !storable(r.file, r.key, r.digest)) continue;
          const w = put(r.file, `${r.key} ${r.digest.slice(7)}`);
          if (w) await w;
          count++;
        }
      }
      await flush();
      await fh.close();
      await fs.promises.rename(tmp, this.file);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await fs.promises.rm(tmp, { force: true });
      throw e;
    }
    this.dirty = false;
  }
}

/** A record the cache file can hold: a SHA-256 digest, no NUL, a name that is UTF-8 (the file is UTF-8 text: others are read each time). */
function storable(file: string, key: string, digest: Digest): boolean {
  return isDigest(digest) && digest.startsWith('sha256:') && !key.includes('\0') && !file.includes('\0') && !hasEscapedBytes(file);
}
