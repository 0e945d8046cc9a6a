/**
 * `RUN --mount` as the sandbox sees it: host directories, files and sockets
 * bound at targets, and tmpfs mounts. Everything Dockerfile-level (cache ids,
 * stages, secrets) was resolved to these by the engine (steps/run-mounts.ts).
 *
 * Also: reading a subtree of a build source (context, stage, image) into
 * layer entries (for its digest) or onto disk (the bound copy), and the
 * redaction of secret values in a command's output.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { OcibuildError } from '../errors.js';
import type { SourceFs, SourceStat } from '../copy/types.js';
import type { LayerEntry, LayerEntrySource } from '../layers/types.js';

/** One extra mount of a RUN, host side resolved. */
export type SandboxMount =
  /** A host file, directory or socket bound at `destination`. */
  | { type: 'bind'; destination: string; source: string; readOnly: boolean }
  | { type: 'tmpfs'; destination: string; size?: number; readOnly: boolean };

/** The runtime spec entries of the extra mounts (BuildKit's options). */
export function runtimeMounts(mounts: readonly SandboxMount[]): Record<string, unknown>[] {
  return mounts.map((m) =>
    m.type === 'bind'
      ? { destination: m.destination, type: 'bind', source: m.source, options: ['rbind', m.readOnly ? 'ro' : 'rw', 'rprivate'] }
      : {
          destination: m.destination,
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['nosuid', 'nodev', ...(m.size !== undefined ? [`size=${m.size}`] : []), ...(m.readOnly ? ['ro'] : [])],
        },
  );
}

/** Cleans an absolute container path (`/a/./b/` → `/a/b`). */
export function cleanTarget(target: string, workdir: string): string {
  return path.posix.resolve(workdir || '/', target);
}

/** A path inside a source, cleaned and relative (`/src/./a` → `src/a`, `/` → ``). */
export function sourceRel(source: string): string {
  return path.posix.normalize('/' + source).slice(1).replace(/\/$/, '');
}

/** Resolves symlinks of `rel` inside the source (never leaving it). */
async function resolveInSource(src: SourceFs, rel: string): Promise<string> {
  let parts = rel === '' ? [] : rel.split('/');
  const done: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const name = parts.shift()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      done.pop();
      continue;
    }
    const cur = [...done, name].join('/');
    const st = await src.lstat(cur);
    if (st?.type === 'symlink') {
      if (++hops > 40) throw new OcibuildError('RUN_MOUNT', `too many levels of symbolic links in ${rel} of ${src.description}`);
      const link = await src.readlink(cur);
      if (link.startsWith('/')) done.length = 0;
      parts = [...link.split('/'), ...parts];
      continue;
    }
    done.push(name);
  }
  return done.join('/');
}

/** Entries of a subtree: paths relative to the subtree (the root itself is ``). */
export interface SourceTree {
  /** The resolved path inside the source. */
  rel: string;
  root: SourceStat;
  entries: LayerEntry[];
}

/** Reads the subtree at `source` of a build source (symlinks in the path followed inside it). */
export async function readSourceTree(src: SourceFs, source: string): Promise<SourceTree> {
  const rel = await resolveInSource(src, sourceRel(source));
  const root = await src.lstat(rel);
  if (!root || root.pending) {
    throw new OcibuildError('RUN_MOUNT', `${source}: not found in ${src.description}`);
  }
  const entries: LayerEntry[] = [];
  const add = async (r: string, st: SourceStat, at: string) => {
    if (st.type === 'socket') return;
    const e: LayerEntry = { path: at, type: st.type as LayerEntry['type'], mode: st.mode, uid: st.uid, gid: st.gid, ...(st.mtime !== undefined ? { mtime: st.mtime } : {}) };
    if (st.type === 'file') {
      e.size = st.size;
      e.source = src.contentSource(r, st);
    } else if (st.type === 'symlink') {
      e.linkname = await src.readlink(r);
    } else if (st.devmajor !== undefined) {
      e.devmajor = st.devmajor;
      e.devminor = st.devminor ?? 0;
    }
    entries.push(e);
    if (st.type !== 'directory') return;
    const names = (await src.readdir(r)).sort();
    for (const n of names) {
      const cr = r === '' ? n : `${r}/${n}`;
      const cst = await src.lstat(cr);
      if (!cst) continue;
      await add(cr, cst, at === '' ? n : `${at}/${n}`);
    }
  };
  await add(rel, root, '');
  return { rel, root, entries };
}

async function writeContent(source: LayerEntrySource | undefined, file: string, mode: number): Promise<void> {
  if (!source) return fs.writeFile(file, new Uint8Array(0), { mode });
  switch (source.kind) {
    case 'path':
      return fs.copyFile(source.path, file);
    case 'buffer':
      return fs.writeFile(file, source.data, { mode });
    case 'stream':
      return pipeline(await source.open(), createWriteStream(file, { mode }));
  }
}

/**
 * Writes a source subtree to `dest` (a new path; the root entry becomes
 * `dest` itself), with modes and, as root, owners. Returns `dest`.
 */
export async function materializeTree(tree: SourceTree, dest: string): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const dirs: LayerEntry[] = [];
  for (const e of tree.entries) {
    const p = e.path === '' ? dest : path.join(dest, ...e.path.split('/'));
    switch (e.type) {
      case 'directory':
        await fs.mkdir(p, { recursive: e.path === '', mode: 0o700 });
        dirs.push(e);
        break;
      case 'file':
        await writeContent(e.source, p, 0o600);
        break;
      case 'symlink':
        await fs.symlink(e.linkname ?? '', p);
        break;
      default:
        continue; // devices and fifos are not bound (BuildKit's local sources skip them too)
    }
    if (asRoot) await fs.lchown(p, e.uid, e.gid);
    if (e.type !== 'symlink' && e.type !== 'directory') await fs.chmod(p, e.mode & 0o7777);
  }
  // Directory modes last, deepest first: a read-only directory is filled before it is closed.
  for (const e of dirs.reverse()) {
    const p = e.path === '' ? dest : path.join(dest, ...e.path.split('/'));
    await fs.chmod(p, e.mode & 0o7777);
  }
  return dest;
}

/**
 * Redacts secret values (and their base64 forms) in a command's output
 * stream, chunk by chunk: a chunk's tail that could begin a secret is held
 * back until the next chunk (or `end()`), so a value split across chunks is
 * still caught.
 */
export class OutputRedactor {
  private carry = '';
  private readonly needles: string[];
  constructor(secrets: readonly string[]) {
    this.needles = [...new Set(secrets.flatMap((s) => [s, Buffer.from(s).toString('base64')]).filter((s) => s.length >= MIN_REDACT))].sort((a, b) => b.length - a.length);
  }
  /** Redacted text that is safe to show now. */
  push(chunk: string): string {
    if (this.needles.length === 0) return chunk;
    const text = redactAll(this.carry + chunk, this.needles);
    let hold = 0;
    for (const n of this.needles) {
      for (let k = Math.min(n.length - 1, text.length); k > hold; k--) {
        if (text.endsWith(n.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    this.carry = text.slice(text.length - hold);
    return text.slice(0, text.length - hold);
  }
  /** The rest. */
  end(): string {
    const rest = redactAll(this.carry, this.needles);
    this.carry = '';
    return rest;
  }
  /** Redacts a whole text (error messages). */
  text(s: string): string {
    return redactAll(s, this.needles);
  }
}

/** Values shorter than this are not redacted (a one-letter secret would blank out every output line). */
export const MIN_REDACT = 4;

function redactAll(text: string, needles: readonly string[]): string {
  let out = text;
  for (const n of needles) out = out.split(n).join('****');
  return out;
}
