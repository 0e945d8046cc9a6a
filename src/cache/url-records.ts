/**
 * What an `ADD <url>` last downloaded: the response's ETag with the digest and Last-Modified of
 * its bytes, so that a later build can ask the server whether the bytes under that ETag are
 * still current (a HEAD with `If-None-Match`) and key the step without downloading again, as
 * BuildKit's HTTP source does with the ETags it keeps.
 *
 * One JSON file per slot (`urls/<slot>.json`); a slot names the URL with what else decides its
 * answer (the request headers sent to its host). At most MAX_SLOTS are kept (the least recently
 * written go). A record is only a shortcut: a missing, torn or foreign one means a download.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDigest, type Digest } from '../oci/digest.js';
import { keepNewest } from './io.js';
import type { Store } from './store.js';

const DIR = 'urls';
const MAX_SLOTS = 256;
const VERSION = 1;

export interface UrlRecord {
  etag: string;
  digest: Digest;
  /** Seconds since the epoch, from Last-Modified; null when the server sent none. */
  mtime: number | null;
}

/** A slot name from what decides a URL's answer. */
export function urlRecordSlot(parts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(['url-record', ...parts])).digest('hex');
}

const file = (store: Store, slot: string) => path.join(store.root, DIR, `${slot}.json`);

/** The record in `slot`, or undefined (none, or not one of ours). */
export async function readUrlRecord(store: Store, slot: string): Promise<UrlRecord | undefined> {
  let value: unknown;
  try {
    value = JSON.parse(await fs.promises.readFile(file(store, slot), 'utf8'));
  } catch {
    return undefined;
  }
  const r = value as { v?: unknown; etag?: unknown; digest?: unknown; mtime?: unknown };
  if (r?.v !== VERSION || typeof r.etag !== 'string' || r.etag === '' || typeof r.digest !== 'string' || !isDigest(r.digest)) return undefined;
  if (r.mtime !== null && !Number.isSafeInteger(r.mtime)) return undefined;
  return { etag: r.etag, digest: r.digest, mtime: r.mtime as number | null };
}

/** Writes `record` to `slot` (atomically), and keeps at most MAX_SLOTS slots. */
export async function writeUrlRecord(store: Store, slot: string, record: UrlRecord): Promise<void> {
  await store.writeRecord(path.join(DIR, `${slot}.json`), Buffer.from(JSON.stringify({ v: VERSION, ...record })));
  await keepNewest(path.join(store.root, DIR), MAX_SLOTS, `${slot}.json`);
}
