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
import { ROW_BYTES, ROW_LENGTH, rowOfStat } from './answer-row.js';
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

function listAnswer(names: readonly string[]): string {
  // Names hold neither '/' nor NUL; the order is the source's (the planner sorts).
  return names.join('/');
}

function hitAnswer(hit: { line: number; pattern: string } | undefined): string {
  return hit === undefined ? '-' : `${hit.line}:${hit.pattern}`;
}

/**
 * The hashed stream: each question (its op and path) and a NUL, then its
 * answer: an lstat's row of numbers (src/copy/answer-row.ts) as its bytes,
 * any other answer as text and a NUL. Written into one reused buffer and
 * hashed as it fills: no string per question or answer (issue 8).
 */
class AnswerStream {
  private readonly hash = createHash('sha256');
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private at = 0;
  /** The row an lstat answer is made in, then {@link rowOut} copies it to the stream. */
  readonly row = new Float64Array(ROW_LENGTH);
  private readonly rowBytes = new Uint8Array(this.row.buffer);

  question(op: string, arg: string): void {
    this.text(arg, op);
  }

  /** `s` as UTF-8 and a NUL (after the one-character `op`, when given). */
  text(s: string, op?: string): void {
    const most = s.length * 3 + 2;
    if (this.at + most > this.buf.length) {
      this.flush();
      if (most > this.buf.length) {
        this.hash.update((op ?? '') + s + '\0');
        return;
      }
    }
    if (op !== undefined) this.at += this.buf.write(op, this.at);
    this.at += this.buf.write(s, this.at);
    this.buf[this.at++] = 0;
  }

  rowOut(): void {
    if (this.at + ROW_BYTES > this.buf.length) this.flush();
    this.buf.set(this.rowBytes, this.at);
    this.at += ROW_BYTES;
  }

  digest(): string {
    this.flush();
    return this.hash.digest('hex');
  }

  private flush(): void {
    if (this.at > 0) this.hash.update(this.buf.subarray(0, this.at));
    this.at = 0;
  }
}

/**
 * Wraps `fs` to record every question and hash its answer. `observations()`
 * is undefined when they cannot be kept faithfully (a name that is not UTF-8,
 * a failed question, an answer without an exact row, too many, a question
 * after they were taken).
 */
export function observedSourceFs(fs: SourceFs): { fs: SourceFs; observations(): Observations | undefined } {
  const questions: string[] = [];
  const stream = new AnswerStream();
  let usable = true;
  let taken: Observations | undefined;
  const spoil = () => {
    usable = false;
    questions.length = 0;
  };
  const keep = (arg: string): boolean => {
    if (!usable) return false;
    if (taken !== undefined || questions.length >= OBSERVATIONS_MAX || hasEscapedBytes(arg) || arg.includes('\0')) {
      spoil();
      return false;
    }
    return true;
  };
  const note = (op: string, arg: string, answer: string) => {
    if (!keep(arg)) return;
    if (answer.includes('\0')) return spoil();
    // One flat string (`+` keeps a rope and the path it was given: twice the bytes, ~3 MB of
    // 100,000 kept questions; issue 8: memory).
    questions.push([op, arg].join(''));
    stream.question(op, arg);
    stream.text(answer);
  };
  const noteStat = (arg: string, st: SourceStat | undefined) => {
    if (!keep(arg)) return;
    if (!rowOfStat(st, stream.row)) return spoil();
    questions.push(['l', arg].join(''));
    stream.question('l', arg);
    stream.rowOut();
  };
  /** One question: its answer noted, a failure spoiling the record (the planner reports it). */
  const ask = <T>(asked: Promise<T>, noted: (v: T) => void): Promise<T> =>
    asked.then(
      (v) => {
        noted(v);
        return v;
      },
      (e: unknown) => {
        spoil();
        throw e;
      },
    );
  const wrapped: SourceFs = {
    description: fs.description,
    lstat: (rel) => ask(fs.lstat(rel), (st) => noteStat(rel, st)),
    readdir: (rel) => ask(fs.readdir(rel), (names) => note('d', rel, listAnswer(names))),
    readlink: (rel) => ask(fs.readlink(rel), (target) => note('r', rel, target)),
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
      taken ??= { questions, digest: stream.digest() };
      return taken;
    },
  };
}

/**
 * Observations as a memo file holds them: every question followed by a NUL, in
 * one text. A replay reads them from it one at a time: an array of 20,000
 * question strings, held through the replay, was copied by every scavenge on
 * the way to the old generation (issue 8: ~40 ms of a warm rebuild's GC).
 */
export interface PackedObservations {
  packed: string;
  digest: string;
}

/** True when `fs` answers every recorded question as before (in the recorded order). */
export async function sameAnswers(fs: SourceFs, observations: Observations | PackedObservations, signal?: AbortSignal): Promise<boolean> {
  const stream = new AnswerStream();
  const row = stream.row;
  const packed = 'packed' in observations ? observations.packed : observations.questions.map((q) => q + '\0').join('');
  // Synchronous where the source can (no promise, no await per question); an lstat's answer
  // straight into its row where the source can make it.
  const rowStat = fs.lstatRowSync?.bind(fs);
  const syncStat = fs.lstatSync?.bind(fs);
  const syncList = fs.readdirSync?.bind(fs);
  let asked = 0;
  for (let at = 0; at < packed.length; asked++) {
    if ((asked & 0xfff) === 0) signal?.throwIfAborted();
    const end = packed.indexOf('\0', at);
    if (end < 0) return false; // a question without its NUL: torn
    const op = packed[at]!;
    const arg = packed.slice(at + 1, end);
    at = end + 1;
    try {
      if (op === 'l') {
        const exact = rowStat ? rowStat(arg, row) : rowOfStat(syncStat ? syncStat(arg) : await fs.lstat(arg), row);
        if (!exact) return false;
        stream.question(op, arg);
        stream.rowOut();
        continue;
      }
      let answer: string;
      switch (op) {
        case 'd':
          answer = listAnswer(syncList ? syncList(arg) : await fs.readdir(arg));
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
      if (answer.includes('\0')) return false;
      stream.question(op, arg);
      stream.text(answer);
    } catch {
      return false; // a question that fails now: plan, and let the planner report it
    }
  }
  return stream.digest() === observations.digest;
}
