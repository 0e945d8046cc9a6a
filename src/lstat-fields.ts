/**
 * `lstat` as plain numbers, for the loops that stat every file of a context
 * (the copy planner, and the copy memo's replay on a warm rebuild).
 *
 * `fs.lstatSync(p, { bigint: true })` builds a BigIntStats per call: eighteen
 * BigInts, four Dates made from them, and the object. On a warm rebuild of
 * 20,000 files that is more of the replay than the system calls (issue 8:
 * cold in a fresh process, ~0.27 s against ~0.16 s for the same calls through
 * Node's own binding, measured here on Node 20.20.2). Node's `fs` binding
 * answers with one reused Float64Array where each time is two exact numbers
 * (seconds and nanoseconds), so the nanosecond identity needs no BigInt.
 *
 * That binding is internal. It is used only when, at the first call, it
 * answers a few known paths exactly as `fs.lstatSync` does (every field),
 * returns undefined for a missing entry and throws for a bad one; a failed
 * call is always asked again through `fs.lstatSync`, so an error is Node's
 * own. Otherwise, or with OCIBUILD_PUBLIC_LSTAT=1, every call goes through
 * `fs.lstatSync` (bigint) and fills the same array: callers see one shape.
 */
import fs from 'node:fs';
import path from 'node:path';
import { identityText } from './stat-identity.js';

/** Indexes into the array {@link lstatFields} returns (Node's own order). */
export const F = {
  dev: 0,
  mode: 1,
  nlink: 2,
  uid: 3,
  gid: 4,
  rdev: 5,
  ino: 7,
  size: 8,
  mtimeSec: 12,
  mtimeNsec: 13,
  ctimeSec: 14,
  ctimeNsec: 15,
} as const;

type RawLstat = (p: string) => Float64Array | undefined;

const filled = new Float64Array(18);

/** A nanosecond time into `out[at]` (seconds, rounded down) and `out[at + 1]` (0 <= nanoseconds < 1e9). */
export function splitNs(ns: bigint, out: Float64Array, at: number): void {
  let s = ns / 1_000_000_000n;
  let n = ns - s * 1_000_000_000n;
  if (n < 0n) {
    s -= 1n;
    n += 1_000_000_000n;
  }
  out[at] = Number(s);
  out[at + 1] = Number(n);
}

/** Through the public API: the same fields, exact while they are safe integers. */
function publicLstat(p: string | Buffer): Float64Array | undefined {
  const st = fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
  if (st === undefined) return undefined;
  filled[F.dev] = Number(st.dev);
  filled[F.mode] = Number(st.mode);
  filled[F.nlink] = Number(st.nlink);
  filled[F.uid] = Number(st.uid);
  filled[F.gid] = Number(st.gid);
  filled[F.rdev] = Number(st.rdev);
  filled[F.ino] = Number(st.ino);
  filled[F.size] = Number(st.size);
  splitNs(st.mtimeNs, filled, F.mtimeSec);
  splitNs(st.ctimeNs, filled, F.ctimeSec);
  return filled;
}

/** True when Node was asked to warn about pending deprecations (process.binding is one). */
function pendingDeprecation(): boolean {
  return process.execArgv.includes('--pending-deprecation') || /--pending-deprecation\b/.test(process.env.NODE_OPTIONS ?? '') || process.env.NODE_PENDING_DEPRECATION === '1';
}

function same(raw: Float64Array, p: string): boolean {
  const pub = publicLstat(p);
  if (pub === undefined) return false;
  for (const i of Object.values(F)) if (raw[i] !== pub[i]) return false;
  return true;
}

/** Node's binding, when it answers as the public API does; undefined otherwise. */
function probeBinding(): RawLstat | undefined {
  if (process.env.OCIBUILD_PUBLIC_LSTAT === '1' || pendingDeprecation()) return undefined;
  try {
    const quiet = process.noDeprecation;
    let binding: { lstat?: unknown };
    process.noDeprecation = true; // a Node that deprecates process.binding at run time must not print it for us
    try {
      binding = (process as unknown as { binding(name: string): { lstat?: unknown } }).binding('fs');
    } finally {
      process.noDeprecation = quiet;
    }
    if (typeof binding.lstat !== 'function') return undefined;
    const lstat = binding.lstat as (p: string, bigint: boolean, req: undefined, throwIfNoEntry: boolean) => unknown;
    const raw: RawLstat = (p) => {
      const r = lstat(p, false, undefined, false);
      if (r === undefined) return undefined;
      if (!(r instanceof Float64Array) || r.length < 18) throw new Error('unexpected lstat binding answer');
      return r;
    };
    // A file, a directory and whatever the executable's path is (often a symlink), field by field.
    const bin = process.execPath;
    for (const p of [bin, path.dirname(bin), '/']) {
      const r = raw(p);
      if (r === undefined || !same(r, p)) return undefined;
    }
    if (raw(path.join(path.dirname(bin), '.ocibuild-lstat-probe-no-such-entry')) !== undefined) return undefined;
    try {
      raw(path.join(bin, 'below-a-file'));
      return undefined; // ENOTDIR must throw
    } catch {
      // as it should
    }
    return raw;
  } catch {
    return undefined;
  }
}

let chosen: RawLstat | null | undefined;

/** The binding's lstat when it passed the probe, null when the public API is used (probed once). */
function rawLstat(): RawLstat | null {
  if (chosen === undefined) chosen = probeBinding() ?? null;
  return chosen;
}

/**
 * lstat of `p`: its fields in a Float64Array reused by the next call (read
 * them at once; index with {@link F}), or undefined when `p` does not exist.
 * Throws as `fs.lstatSync` does. Times are exact (seconds and nanoseconds);
 * dev, ino and size are exact when {@link exactFileFields} holds.
 */
export function lstatFields(p: string | Buffer): Float64Array | undefined {
  const raw = rawLstat();
  if (raw !== null && typeof p === 'string') {
    try {
      return raw(p);
    } catch {
      // asked again below: the error is the public API's own
    }
  }
  return publicLstat(p);
}

/** Which way {@link lstatFields} goes in this process (for tests). */
export function lstatFieldsVia(): 'binding' | 'public' {
  return rawLstat() === null ? 'public' : 'binding';
}

/** True when dev, ino and size in `f` are exact (safe integers; a device or inode number past 2^53 is not). */
export function exactFileFields(f: Float64Array): boolean {
  return Number.isSafeInteger(f[F.dev]) && Number.isSafeInteger(f[F.ino]) && Number.isSafeInteger(f[F.size]);
}

/** Seconds and nanoseconds as the decimal of their nanoseconds (BigIntStats' `mtimeNs` as text). */
export function nsText(sec: number, nsec: number): string {
  if (sec > 0) return String(sec) + String(nsec).padStart(9, '0');
  if (sec === 0) return String(nsec);
  return String(BigInt(sec) * 1_000_000_000n + BigInt(nsec));
}

/**
 * The stat identity (src/stat-identity.ts) from {@link lstatFields}' array;
 * undefined when a field is not exact, for the caller to ask with bigints.
 */
export function identityOfFields(f: Float64Array): string | undefined {
  if (!exactFileFields(f)) return undefined;
  return identityText(f[F.dev]!, f[F.ino]!, f[F.size]!, nsText(f[F.mtimeSec]!, f[F.mtimeNsec]!), nsText(f[F.ctimeSec]!, f[F.ctimeNsec]!));
}
