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
 * over every question with its answer. Only the questions are kept: the
 * answers (a stat line per file) would be most of the memo's size and of its
 * share of a build's peak memory (issue 8), and a rebuild needs only to know
 * whether all of them are the same.
 */
export interface Observations {
  questions: string[];
  digest: string;
}

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
  const hash = createHash('sha256');
  let usable = true;
  let taken: Observations | undefined;
  const spoil = () => {
    usable = false;
    questions.length = 0;
  };
  const note = (op: string, arg: string, answer: string) => {
    if (!usable) return;
    if (taken !== undefined || questions.length >= OBSERVATIONS_MAX || hasEscapedBytes(arg) || arg.includes('\0') || answer.includes('\0')) return spoil();
    // One flat string (`+` keeps a rope and the path it was given: twice the bytes, ~3 MB of
    // 100,000 kept questions; issue 8: memory).
    const q = [op, arg].join('');
    questions.push(q);
    hash.update(q + '\0' + answer + '\0');
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
      taken ??= { questions, digest: hash.digest('hex') };
      return taken;
    },
  };
}

/** True when `fs` answers every recorded question as before (in the recorded order). */
export async function sameAnswers(fs: SourceFs, observations: Observations, signal?: AbortSignal): Promise<boolean> {
  const hash = createHash('sha256');
  const { questions } = observations;
  // Synchronous where the source can (no promise, no await per question), and hashed in batches.
  const syncStat = fs.lstatSync !== undefined;
  const syncList = fs.readdirSync !== undefined;
  let batch: string[] = [];
  for (let i = 0; i < questions.length; i++) {
    if ((i & 0xfff) === 0) signal?.throwIfAborted();
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
          if (!fs.excludedBy) return false;
          answer = hitAnswer(fs.excludedBy(arg));
          break;
        default:
          return false;
      }
    } catch {
      return false; // a question that fails now: plan, and let the planner report it
    }
    if (answer.includes('\0')) return false;
    batch.push(q, '\0', answer, '\0');
    if (batch.length >= 1024) {
      hash.update(batch.join(''));
      batch = [];
    }
  }
  hash.update(batch.join(''));
  return hash.digest('hex') === observations.digest;
}
