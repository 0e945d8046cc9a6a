import fs from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import type { LayerEntry } from './types.js';

/** Longest stretch of synchronous fs calls before the walk yields to the event loop. */
const MAX_SYNC_MS = 10;

/** Options of {@link entriesFromDirectory}. */
export interface EntriesFromDirectoryOptions {
  /**
   * Layer path the directory's contents go under ('' = the layer root, the
   * default; 'app/src' puts `root/x` at `app/src/x`). No leading '/'.
   */
  prefix?: string;
  /** Also emit an entry for `root` itself at `prefix` (ignored when prefix is ''). Default false. */
  includeRoot?: boolean;
  /** Owner for every entry; default: the owner on disk. */
  uid?: number;
  /** Group for every entry; default: the group on disk. */
  gid?: number;
  /**
   * Mode for entries: a number sets the permission bits of every entry, a
   * function maps (layer path, type, mode on disk) to the bits. Default: as on disk.
   */
  mode?: number | ((layerPath: string, type: LayerEntry['type'], diskMode: number) => number);
  /**
   * Return false to leave a path out (with everything under it for a directory).
   * `relPath` is relative to `root`, '/'-separated.
   */
  filter?: (relPath: string, stats: fs.Stats) => boolean;
  /** Detect hardlinks (dev + inode of files with nlink > 1) and emit them as links. Default true. */
  hardlinks?: boolean;
  signal?: AbortSignal;
}

function entryError(rel: string, e: unknown): OcibuildError {
  const code = (e as NodeJS.ErrnoException).code;
  return new OcibuildError('LAYER_INVALID', `cannot read ${JSON.stringify(rel || '.')}: ${code ?? (e as Error).message}`, { cause: e, details: { path: rel } });
}

/**
 * List a directory tree on disk as layer entries (lstat-based: symlinks are
 * kept as links, never followed). Files carry a `path` source and their size
 * at listing time; the writer fails if a file changes size before it is
 * read. Files sharing dev + inode become one file (the first path in byte
 * order) plus hardlinks to it. Sockets are skipped (tar cannot hold them), as
 * GNU tar does. Entries come back sorted by layer path (byte order), so the
 * result is the same on every run.
 *
 * The walk uses synchronous lstat/readdir in slices of at most a few
 * milliseconds, yielding to the event loop between slices: measured on 20,000
 * files, an async fs call costs ~35 µs of main-thread time against ~5 µs
 * for a sync one (0.75 s against 0.15 s for the walk). Walker threads were
 * tried and measured slower, warm (0.45 s) and cold (0.6 s against 0.55 s):
 * inodes of one directory are read ahead together, and the main thread's
 * cost is in building entries, not in waiting for the disk.
 *
 * @throws OcibuildError LAYER_INVALID when `root` or an entry cannot be read.
 */
export async function entriesFromDirectory(root: string, options: EntriesFromDirectoryOptions = {}): Promise<LayerEntry[]> {
  const prefix = options.prefix ?? '';
  if (prefix.startsWith('/') || prefix.endsWith('/') || prefix.split('/').some((p) => p === '..' || p === '.' || (p === '' && prefix !== ''))) {
    throw new OcibuildError('USAGE', `entriesFromDirectory: invalid prefix ${JSON.stringify(prefix)}`);
  }
  const hardlinks = options.hardlinks ?? true;
  let lastYield = performance.now();
  const maybeYield = async () => {
    if (performance.now() - lastYield > MAX_SYNC_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      options.signal?.throwIfAborted();
      lastYield = performance.now();
    }
  };
  const out: LayerEntry[] = [];
  const inodes = new Map<string, LayerEntry[]>();

  const modeOf = (layerPath: string, type: LayerEntry['type'], disk: number): number => {
    const m = options.mode;
    if (m === undefined) return disk & 0o7777;
    return (typeof m === 'number' ? m : m(layerPath, type, disk & 0o7777)) & 0o7777;
  };
  const layerPathOf = (rel: string) => (prefix === '' ? rel : rel === '' ? prefix : `${prefix}/${rel}`);

  const visit = async (rel: string, st: fs.Stats): Promise<void> => {
    options.signal?.throwIfAborted();
    const abs = rel === '' ? root : path.join(root, rel);
    const layerPath = layerPathOf(rel);
    const base = { uid: options.uid ?? st.uid, gid: options.gid ?? st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) {
      if (rel !== '' || (options.includeRoot && prefix !== '')) {
        out.push({ path: layerPath, type: 'directory', mode: modeOf(layerPath, 'directory', st.mode), ...base });
      }
      let names: string[];
      try {
        names = fs.readdirSync(abs);
      } catch (e) {
        throw entryError(rel, e);
      }
      for (const name of names) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        let cst: fs.Stats;
        try {
          cst = fs.lstatSync(path.join(abs, name));
        } catch (e) {
          throw entryError(childRel, e);
        }
        if (options.filter && !options.filter(childRel, cst)) continue;
        await visit(childRel, cst);
        await maybeYield();
      }
      return;
    }
    if (st.isFile()) {
      const e: LayerEntry = { path: layerPath, type: 'file', mode: modeOf(layerPath, 'file', st.mode), size: st.size, source: { kind: 'path', path: abs }, ...base };
      out.push(e);
      if (hardlinks && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const group = inodes.get(key);
        if (group) group.push(e);
        else inodes.set(key, [e]);
      }
      return;
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = fs.readlinkSync(abs);
      } catch (e) {
        throw entryError(rel, e);
      }
      out.push({ path: layerPath, type: 'symlink', linkname: target, mode: modeOf(layerPath, 'symlink', st.mode), ...base });
      return;
    }
    if (st.isFIFO()) {
      out.push({ path: layerPath, type: 'fifo', mode: modeOf(layerPath, 'fifo', st.mode), ...base });
      return;
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const type = st.isCharacterDevice() ? 'char' : 'block';
      // Linux dev_t: major in bits 8-19 (and 32-43), minor in bits 0-7 and 20-31.
      const r = BigInt(st.rdev);
      const devmajor = Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
      const devminor = Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
      out.push({ path: layerPath, type, mode: modeOf(layerPath, type, st.mode), devmajor, devminor, ...base });
      return;
    }
    // sockets and anything else: not representable in tar
  };

  let rootStat: fs.Stats;
  try {
    rootStat = await fs.promises.lstat(root);
  } catch (e) {
    throw entryError('', e);
  }
  if (!rootStat.isDirectory()) throw new OcibuildError('LAYER_INVALID', `${JSON.stringify(root)} is not a directory`);
  await visit('', rootStat);

  return sortElectingHardlinks(out, inodes.values());
}

/**
 * The deterministic order of a layer's entries: sorted by path bytes, and of
 * each group of paths sharing an inode, the first path in that order carries
 * the file and the others become hardlinks to it.
 */
export function sortElectingHardlinks(entries: readonly LayerEntry[], inodeGroups: Iterable<LayerEntry[]>): LayerEntry[] {
  const keyed = entries.map((e) => ({ e, k: Buffer.from(e.path, 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.k, b.k));
  const order = new Map<LayerEntry, number>();
  keyed.forEach((x, i) => order.set(x.e, i));
  for (const group of inodeGroups) {
    if (group.length < 2) continue;
    group.sort((a, b) => order.get(a)! - order.get(b)!);
    const first = group[0]!;
    for (const e of group.slice(1)) {
      keyed[order.get(e)!]!.e = { path: e.path, type: 'hardlink', linkname: first.path, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
    }
  }
  return keyed.map((x) => x.e);
}
