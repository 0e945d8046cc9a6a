/**
 * The last key of a COPY from a build context, with what its planner saw
 * (src/copy/observed.ts), so a rebuild where every answer is the same again
 * knows the key without planning, loading the stat cache or digesting the
 * listing (issue 8: warm rebuild).
 *
 * One file per slot (`copymemo/<slot>`): a slot is one COPY instruction of
 * one Dockerfile over one context directory, so a build rewrites its own
 * slot; at most MAX_SLOTS are kept (the least recently written go). The
 * file: a header line, then NUL-separated fields: the memo key (what the
 * answers were recorded under: step, parent chain, workdir, context), the
 * step key, then the observations. A memo is only a shortcut: a missing,
 * torn or foreign one is planned again.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { keepNewest } from './io.js';
import type { Store } from './store.js';

const HEADER = 'ocibuild-copymemo 3\n';
const DIR = 'copymemo';
const MAX_SLOTS = 64;

export interface CopyMemo {
  /** What the observations were recorded under (a digest of the step's inputs besides its source). */
  memoKey: string;
  /** The step's cache key. */
  key: string;
  /** The planner's questions, and a digest of them with their answers. */
  observations: { questions: readonly string[]; digest: string };
}

/** A memo as read back: its questions left in one text, each ended by a NUL (src/copy/observed.ts). */
export interface ReadCopyMemo extends Omit<CopyMemo, 'observations'> {
  observations: { packed: string; digest: string };
}

/** A slot name from its parts (context, Dockerfile, stage and step, platform). */
export function copyMemoSlot(parts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

function slotPath(store: Store, slot: string): string {
  return path.join(store.root, DIR, slot);
}

/** The memo in `slot` when it was recorded under `memoKey`, else undefined. */
export async function readCopyMemo(store: Store, slot: string, memoKey: string): Promise<ReadCopyMemo | undefined> {
  let text: string;
  try {
    text = await fs.promises.readFile(slotPath(store, slot), 'utf8');
  } catch {
    return undefined;
  }
  if (!text.startsWith(HEADER)) return undefined;
  // memoKey, key, digest, then the questions, each ended by a NUL (so the text ends with one).
  const fields: string[] = [];
  let at = HEADER.length;
  for (let i = 0; i < 3; i++) {
    const end = text.indexOf('\0', at);
    if (end < 0) return undefined;
    fields.push(text.slice(at, end));
    at = end + 1;
  }
  const hex = /^[0-9a-f]{64}$/;
  if (at >= text.length || !text.endsWith('\0') || fields[0] !== memoKey || !hex.test(fields[1]!) || !hex.test(fields[2]!)) return undefined;
  return { memoKey, key: fields[1]!, observations: { digest: fields[2]!, packed: text.slice(at) } };
}

/** Writes `memo` to `slot` (atomically), and keeps at most MAX_SLOTS slots. */
export async function writeCopyMemo(store: Store, slot: string, memo: CopyMemo): Promise<void> {
  const { questions, digest } = memo.observations;
  // Built in pieces: one string of every question at once would double their share of the peak.
  const parts: Buffer[] = [Buffer.from(`${HEADER}${memo.memoKey}\0${memo.key}\0${digest}\0`, 'utf8')];
  for (let i = 0; i < questions.length; i += 4096) parts.push(Buffer.from(questions.slice(i, i + 4096).join('\0') + '\0', 'utf8'));
  await store.writeRecord(path.join(DIR, slot), Buffer.concat(parts));
  await keepNewest(path.join(store.root, DIR), MAX_SLOTS, slot);
}
