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
import { hasEscapedBytes } from '../fs-names.js';
import type { SourceFs, SourceStat } from './types.js';

/** Observations: flat triples `op, argument, answer` (`op` one of l, d, r, x). */
export type Observations = string[];

/** At most this many questions are kept (a bigger tree is planned every time). */
export const OBSERVATIONS_MAX = 300_000;

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
 * Wraps `fs` to record every question and its answer. `observations()` is
 * undefined when they cannot be kept faithfully (a name that is not UTF-8, a
 * failed question, too many).
 */
export function observedSourceFs(fs: SourceFs): { fs: SourceFs; observations(): Observations | undefined } {
  const out: string[] = [];
  let usable = true;
  const note = (op: string, arg: string, answer: string) => {
    if (!usable) return;
    if (out.length >= OBSERVATIONS_MAX * 3 || hasEscapedBytes(arg) || hasEscapedBytes(answer) || arg.includes('\0') || answer.includes('\0')) {
      usable = false;
      out.length = 0;
      return;
    }
    out.push(op, arg, answer);
  };
  const failed = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      usable = false;
      out.length = 0;
      throw e;
    });
  const wrapped: SourceFs = {
    description: fs.description,
    lstat: (rel) =>
      failed(
        fs.lstat(rel).then((st) => {
          note('l', rel, statAnswer(st));
          return st;
        }),
      ),
    readdir: (rel) =>
      failed(
        fs.readdir(rel).then((names) => {
          note('d', rel, listAnswer(names));
          return names;
        }),
      ),
    readlink: (rel) =>
      failed(
        fs.readlink(rel).then((target) => {
          note('r', rel, target);
          return target;
        }),
      ),
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
  return { fs: wrapped, observations: () => (usable ? out : undefined) };
}

/** True when `fs` gives every recorded answer again (stops at the first that differs). */
export async function sameAnswers(fs: SourceFs, observations: readonly string[], signal?: AbortSignal): Promise<boolean> {
  if (observations.length % 3 !== 0) return false;
  for (let i = 0; i < observations.length; i += 3) {
    if ((i & 0xfff) === 0) signal?.throwIfAborted();
    const op = observations[i]!;
    const arg = observations[i + 1]!;
    const answer = observations[i + 2]!;
    let now: string;
    try {
      switch (op) {
        case 'l':
          now = statAnswer(await fs.lstat(arg));
          break;
        case 'd':
          now = listAnswer(await fs.readdir(arg));
          break;
        case 'r':
          now = await fs.readlink(arg);
          break;
        case 'x':
          if (!fs.excludedBy) return false;
          now = hitAnswer(fs.excludedBy(arg));
          break;
        default:
          return false;
      }
    } catch {
      return false; // a question that fails now: plan, and let the planner report it
    }
    if (now !== answer) return false;
  }
  return true;
}
