/**
 * What a COPY's planner asked of its source tree, kept so that a rebuild can
 * tell "the same answers again" without planning (issue 8: warm rebuild).
 *
 * The planner is a deterministic function of the step, the destination image
 * (fixed by the chain key) and the answers of its SourceFs: `lstat`,
 * `readdir`, `readlink` and `excludedBy` (`contentSource` is derived from the
 * path and the stat). If asking every recorded question again gives every
 * recorded answer, it would ask the same questions and make the same plan, so
 * the step's key, computed from that plan and from file digests the stat cache
 * trusts by the same identities, is the key again. The answers include each
 * file's stat identity (device, inode, size, mtime and ctime in ns), the same
 * trust the stat cache places in them; .dockerignore is applied by the
 * SourceFs, so a changed pattern changes an answer.
 */
import { createHash } from 'node:crypto';
import { hasEscapedBytes } from '../fs-names.js';
import type { SourceFs, SourceStat } from './types.js';

/**
 * Observations: the questions in the order they were answered (`op` + the
 * path: `l` lstat, `d` readdir, `r` readlink, `x` excludedBy) and one SHA-256
 * per segment of {@link SEGMENT} questions over each question with its
 * answer. Only the questions are kept: the answers (a stat line per file)
 * would be most of the memo's size and of its share of a build's peak memory
 * (issue 8), and a rebuild needs only to know whether all of them are the
 * same. Segments let two threads ask them again at once (src/copy/replay-helper.ts).
 */
export interface Observations {
  questions: string[];
  /** One digest per segment: `ceil(questions.length / SEGMENT)` of them. */
  digests: string[];
}

/** Questions per segment digest. */
export const SEGMENT = 1024;

/** At most this many questions are kept (a bigger tree is planned every time). */
export const OBSERVATIONS_MAX = 1_000_000;

/** One line for a stat answer: every field the planner can read. */
export function statAnswer(st: SourceStat | undefined): string {
  if (st === undefined) return '-';
  return [st.type, st.mode, st.uid, st.gid, st.mtime ?? '', st.size, st.linkKey ?? '', st.identity ?? '', st.devmajor ?? '', st.devminor ?? '', st.pending ? 1 : 0].join('|');
}

function listAnswer(names: readonly string[]): string {
  // Names hold neither '/' nor NUL; the order is the source's (the planner sorts).
  return names.join('/');
}

function hitAnswer(hit: { line: number; pattern: string } | undefined): string {
  return hit === undefined ? '-' : `${hit.line}:${hit.pattern}`;
}

/**
 * Wraps `fs` to record every question and hash its answer. `observations()`
 * is undefined when they cannot be kept faithfully (a name that is not UTF-8,
 * a failed question, too many, a question after they were taken).
 */
export function observedSourceFs(fs: SourceFs): { fs: SourceFs; observations(): Observations | undefined } {
  const questions: string[] = [];
  const digests: string[] = [];
  let hash = createHash('sha256');
  let usable = true;
  let taken: Observations | undefined;
  const spoil = () => {
    usable = false;
    questions.length = 0;
  };
  const note = (op: string, arg: string, answer: string) => {
    if (!usable) return;
    if (taken !== undefined || questions.length >= OBSERVATIONS_MAX || hasEscapedBytes(arg) || arg.includes('\0') || answer.includes('\0')) return spoil();
    const q = op + arg;
    questions.push(q);
    hash.update(q + '\0' + answer + '\0');
    if (questions.length % SEGMENT === 0) {
      digests.push(hash.digest('hex'));
      hash = createHash('sha256');
    }
  };
  /** One question: its answer noted, a failure spoiling the record (the planner reports it). */
  const ask = <T>(op: string, rel: string, asked: Promise<T>, answer: (v: T) => string): Promise<T> =>
    asked.then(
      (v) => {
        note(op, rel, answer(v));
        return v;
      },
      (e: unknown) => {
        spoil();
        throw e;
      },
    );
  const wrapped: SourceFs = {
    description: fs.description,
    lstat: (rel) => ask('l', rel, fs.lstat(rel), statAnswer),
    readdir: (rel) => ask('d', rel, fs.readdir(rel), listAnswer),
    readlink: (rel) => ask('r', rel, fs.readlink(rel), (target) => target),
    contentSource: (rel, st) => fs.contentSource(rel, st),
    ...(fs.excludedBy
      ? {
          excludedBy: (rel: string) => {
            const hit = fs.excludedBy!(rel);
            note('x', rel, hitAnswer(hit));
            return hit;
          },
        }
      : {}),
  };
  return {
    fs: wrapped,
    observations: () => {
      if (!usable) return undefined;
      if (taken === undefined) {
        if (questions.length % SEGMENT !== 0) digests.push(hash.digest('hex'));
        taken = { questions, digests };
      }
      return taken;
    },
  };
}

/**
 * The digest of segment `seg` of `questions` as `fs` answers them now, or
 * undefined when one of them cannot be answered as it was asked (it fails
 * now, or the record is malformed). Synchronous where the source can (no
 * promise per question), hashed once per segment. Used by the thread that
 * builds and by the replay helper's (src/copy/replay-worker.ts), so both
 * answer alike.
 */
export async function segmentDigest(fs: SourceFs, questions: readonly string[], seg: number): Promise<string | undefined> {
  const syncStat = fs.lstatSync !== undefined;
  const syncList = fs.readdirSync !== undefined;
  const parts: string[] = [];
  const end = Math.min(questions.length, (seg + 1) * SEGMENT);
  for (let i = seg * SEGMENT; i < end; i++) {
    const q = questions[i]!;
    const op = q[0];
    const arg = q.slice(1);
    let answer: string;
    try {
      switch (op) {
        case 'l':
          answer = statAnswer(syncStat ? fs.lstatSync!(arg) : await fs.lstat(arg));
          break;
        case 'd':
          answer = listAnswer(syncList ? fs.readdirSync!(arg) : await fs.readdir(arg));
          break;
        case 'r':
          answer = await fs.readlink(arg);
          break;
        case 'x':
          if (!fs.excludedBy) return undefined;
          answer = hitAnswer(fs.excludedBy(arg));
          break;
        default:
          return undefined;
      }
    } catch {
      return undefined; // a question that fails now: plan, and let the planner report it
    }
    if (answer.includes('\0')) return undefined;
    parts.push(q, '\0', answer, '\0');
  }
  return createHash('sha256').update(parts.join('')).digest('hex');
}

/**
 * Claims on the segments of one replay, shared by the two threads asking:
 * one 32-bit word holding the next segment from the front (low 16 bits) and
 * the end of the unclaimed ones (high 16 bits); the thread that builds takes
 * segments from the front, the helper from the back, each with one
 * compare-and-swap, so every segment is answered by exactly one of them. A
 * second word is set when either finds a difference, and both stop.
 */
export const CLAIMS_MAX_SEGMENTS = 0xffff;

export function newClaims(segments: number): Int32Array {
  if (segments > CLAIMS_MAX_SEGMENTS) throw new RangeError(`at most ${CLAIMS_MAX_SEGMENTS} segments`);
  const claims = new Int32Array(new SharedArrayBuffer(8));
  claims[0] = (segments << 16) | 0;
  return claims;
}

/** The next segment `claims` gives (from the front, or from the back), or -1 when none is left or a difference was found. */
export function claimSegment(claims: Int32Array, fromBack: boolean): number {
  for (;;) {
    if (Atomics.load(claims, 1) !== 0) return -1;
    const v = Atomics.load(claims, 0);
    const front = v & 0xffff;
    const back = v >>> 16;
    if (front >= back) return -1;
    const next = fromBack ? (front | ((back - 1) << 16)) : ((front + 1) | (back << 16));
    if (Atomics.compareExchange(claims, 0, v, next | 0) === v) return fromBack ? back - 1 : front;
  }
}

/** Tells both threads of a replay to stop: a difference was found. */
export function stopClaims(claims: Int32Array): void {
  Atomics.store(claims, 1, 1);
}

/**
 * A second thread that answers segments of a replay (src/copy/replay-helper.ts).
 * `replay` resolves with the digests of the segments it claimed and finished
 * (undefined for one it could not answer); a segment it claimed but never
 * reported (it failed) is answered by the caller.
 */
export interface ReplayHelper {
  replay(fs: SourceFs, questions: readonly string[], claims: Int32Array, digests: readonly string[]): Promise<Map<number, string | undefined>> | undefined;
}

/** True when `fs` answers every recorded question as before (in the recorded order). */
export async function sameAnswers(fs: SourceFs, observations: Observations, options: { signal?: AbortSignal; helper?: ReplayHelper } = {}): Promise<boolean> {
  const { questions, digests } = observations;
  const segments = Math.ceil(questions.length / SEGMENT);
  if (digests.length !== segments || segments > CLAIMS_MAX_SEGMENTS) return false;
  const claims = newClaims(segments);
  // A helper thread only pays when there is more than a few segments to share.
  const helped = segments >= 4 ? options.helper?.replay(fs, questions, claims, digests) : undefined;
  const mine = new Set<number>();
  let same = true;
  try {
    for (let seg = claimSegment(claims, false); seg >= 0; seg = claimSegment(claims, false)) {
      options.signal?.throwIfAborted();
      mine.add(seg);
      if ((await segmentDigest(fs, questions, seg)) !== digests[seg]) {
        same = false;
        stopClaims(claims);
      }
    }
  } finally {
    if (!same || options.signal?.aborted) stopClaims(claims);
  }
  // A difference, here or found by the helper (which stops the claims).
  if (!same || Atomics.load(claims, 1) !== 0) return false;
  // Segments the helper claimed: wait for its answers (none claimed: never wait, e.g. for a thread still starting).
  if (mine.size === segments) return true;
  const theirs = (await helped?.catch(() => undefined)) ?? new Map<number, string | undefined>();
  for (let seg = 0; seg < segments; seg++) {
    if (mine.has(seg)) continue;
    // Claimed by the helper: its answer, or (it failed before answering) ours now.
    const d = theirs.has(seg) ? theirs.get(seg) : await segmentDigest(fs, questions, seg);
    if (d !== digests[seg]) return false;
  }
  return true;
}
