/**
 * A regular file's stat identity: device, inode, size, mtime and ctime in
 * nanoseconds, the key under which the stat cache and the copy memo trust what
 * they know of a file. One format for every place that takes one: the context
 * walk (src/copy/source-fs.ts, through src/lstat-fields.ts), the stat cache
 * (src/cache/stat-cache.ts) and the layer writer's reads (src/layers/read-ahead.ts,
 * whose worker thread, plain JavaScript, writes the same join).
 */
import type { BigIntStats } from 'node:fs';

export function statIdentity(st: BigIntStats): string {
  return identityText(st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs);
}

/** The identity from its five parts (the times as their nanoseconds, in decimal). */
export function identityText(dev: number | bigint, ino: number | bigint, size: number | bigint, mtimeNs: string | bigint, ctimeNs: string | bigint): string {
  // Array join: one flat string (a template literal keeps a rope of ten strings per file).
  return [dev, ino, size, mtimeNs, ctimeNs].join(':');
}
