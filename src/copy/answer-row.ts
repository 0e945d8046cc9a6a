/**
 * An lstat answer of the copy memo (src/copy/observed.ts) as a row of
 * numbers: everything the planner can read of a SourceStat, the stat identity
 * as its five numbers. A replay hashes the rows' bytes; no string per file is
 * made (issue 8: on a warm rebuild of 20,000 files the answer and identity
 * strings cost as much as the lstat calls). A source on disk fills the row
 * straight from the lstat fields (`lstatRowSync`); the recording side makes it
 * from the SourceStat the planner got ({@link rowOfStat}). Both must give the
 * same bytes for the same entry: src/copy/answer-row.test.ts holds them equal.
 */
import { splitNs } from '../lstat-fields.js';
import type { SourceStat, SourceType } from './types.js';

/** Numbers in a row. */
export const ROW_LENGTH = 15;
/** Bytes of a row in the hashed stream. */
export const ROW_BYTES = ROW_LENGTH * 8;

/** Where each value sits in a row. */
export const R = {
  /** 0: absent (or excluded); else {@link TYPE_CODE}. */
  kind: 0,
  mode: 1,
  uid: 2,
  gid: 3,
  mtime: 4,
  size: 5,
  /** {@link FLAG} bits. */
  flags: 6,
  dev: 7,
  ino: 8,
  mtimeSec: 9,
  mtimeNsec: 10,
  ctimeSec: 11,
  ctimeNsec: 12,
  devmajor: 13,
  devminor: 14,
} as const;

export const FLAG = {
  /** No mtime (the layer writer decides). */
  noMtime: 1,
  /** An excluded directory kept for what it may re-include. */
  pending: 2,
  /** A file with more than one link (its linkKey is `dev:ino`). */
  linked: 4,
  /** dev, ino and the times are the file's stat identity. */
  identity: 8,
  /** devmajor and devminor are set (a device node). */
  device: 16,
} as const;

export const TYPE_CODE: Readonly<Record<SourceType, number>> = { file: 1, directory: 2, symlink: 3, fifo: 4, char: 5, block: 6, socket: 7 };

/** Seconds and nanoseconds (0 <= ns < 1e9) of a decimal nanosecond time into `row[at]`, `row[at + 1]`. */
function splitNsText(ns: string, row: Float64Array, at: number): boolean {
  if (ns.length > 9 && ns.length < 25 && /^[1-9][0-9]*$/.test(ns)) {
    // After 1970 (every planned file, nearly): the digits before the last nine are the seconds.
    row[at] = Number(ns.slice(0, -9));
    row[at + 1] = Number(ns.slice(-9));
  } else {
    try {
      splitNs(BigInt(ns), row, at);
    } catch {
      return false;
    }
  }
  return Number.isSafeInteger(row[at]);
}

/**
 * Fills `row` from what the planner got (undefined: absent). False when the
 * answer has no exact row (a number past 2^53, a linkKey that is not the
 * identity's): such an answer cannot be kept, and the step is planned.
 */
export function rowOfStat(st: SourceStat | undefined, row: Float64Array): boolean {
  row.fill(0);
  if (st === undefined) return true;
  row[R.kind] = TYPE_CODE[st.type];
  row[R.mode] = st.mode;
  row[R.uid] = st.uid;
  row[R.gid] = st.gid;
  row[R.size] = st.size;
  let flags = 0;
  if (st.mtime === undefined) flags |= FLAG.noMtime;
  else row[R.mtime] = st.mtime;
  if (st.pending) flags |= FLAG.pending;
  if (st.identity !== undefined) {
    const parts = st.identity.split(':');
    if (parts.length !== 5) return false;
    const [dev, ino, size] = parts.map(Number) as [number, number, number];
    if (!Number.isSafeInteger(dev) || !Number.isSafeInteger(ino) || size !== st.size) return false;
    row[R.dev] = dev;
    row[R.ino] = ino;
    if (!splitNsText(parts[3]!, row, R.mtimeSec) || !splitNsText(parts[4]!, row, R.ctimeSec)) return false;
    flags |= FLAG.identity;
  }
  if (st.linkKey !== undefined) {
    if (st.identity === undefined || st.linkKey !== `${row[R.dev]}:${row[R.ino]}`) return false;
    flags |= FLAG.linked;
  }
  if (st.devmajor !== undefined || st.devminor !== undefined) {
    row[R.devmajor] = st.devmajor ?? 0;
    row[R.devminor] = st.devminor ?? 0;
    flags |= FLAG.device;
  }
  for (const v of row) if (!Number.isSafeInteger(v)) return false;
  row[R.flags] = flags;
  return true;
}
