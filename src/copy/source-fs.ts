/**
 * Source trees on disk: the build context (with .dockerignore) and plain
 * directories (another stage's root, a git checkout, an extracted archive).
 */
import fs from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { decodeFsName, fsPath } from '../fs-names.js';
import { F, exactFileFields, identityOfFields, lstatFields } from '../lstat-fields.js';
import { FLAG, R, ROW_LENGTH, TYPE_CODE, rowOfStat } from './answer-row.js';
import { statIdentity } from '../stat-identity.js';
import type { LayerEntrySource } from '../layers/types.js';
import type { IgnoreHit, SourceFs, SourceStat, SourceType } from './types.js';

/** The part of a .dockerignore matcher the copy planner needs. */
export interface IgnoreView {
  /** The line excluding `rel` (context-relative, parents considered), undefined when it is included. */
  excludedBy(rel: string): IgnoreHit | undefined;
  /**
   * True when `dirRel` is excluded but an exception pattern (`!x`) may
   * re-include something below it, so the walk must still look inside.
   */
  mayReinclude(dirRel: string): boolean;
  /** True when it excludes nothing (no pattern): a directory's names need no check. */
  readonly excludesNothing?: boolean;
}

/** Options of {@link directorySourceFs}. */
export interface DirectorySourceOptions {
  /** Shown in messages (default `directory <root>`). */
  description?: string;
  /** `root`: every entry is owned by 0:0 (build context, git); `preserve`: owners as on disk. Default `preserve`. */
  ownership?: 'root' | 'preserve';
  /** `git`: files 0644 or 0755 (any x bit), directories 0755, as a git checkout is copied. Default as on disk. */
  modes?: 'disk' | 'git';
  /** A fixed mtime (seconds) for every entry instead of the one on disk. */
  mtime?: number;
  /** .dockerignore view (build context only). */
  ignore?: IgnoreView;
  /** Leave these relative paths (and what is below them) out, e.g. `.git`. */
  skip?: (rel: string) => boolean;
  /**
   * Owner and mode as recorded in the image or stage, for a tree unpacked
   * without privileges (where the disk cannot hold them). Undefined = disk.
   * Applied before `ownership` and `modes`.
   */
  metadata?: (rel: string) => { uid: number; gid: number; mode?: number } | undefined;
}

/** A relative path with empty, `.` or `..` segments (or a leading slash). */
const UNCLEAN_REL = /(?:^|\/)\.{1,2}(?:\/|$)|\/\/|^\/|\/$/;

/** Whole seconds of a nanosecond time, rounded down (as Math.floor of the seconds). */
function floorSeconds(ns: bigint): number {
  const s = ns / 1_000_000_000n;
  return Number(ns < 0n && s * 1_000_000_000n !== ns ? s - 1n : s);
}

const S_IFMT = 0o170000;
const TYPE_OF_FORMAT: ReadonlyMap<number, SourceType> = new Map([
  [0o100000, 'file'],
  [0o040000, 'directory'],
  [0o120000, 'symlink'],
  [0o010000, 'fifo'],
  [0o020000, 'char'],
  [0o060000, 'block'],
]);

/** The SourceType of an lstat's mode. */
function typeOfMode(mode: number): SourceType {
  return TYPE_OF_FORMAT.get(mode & S_IFMT) ?? 'socket';
}

/** The SourceType of an lstat result. */
export function typeOf(st: fs.Stats | fs.BigIntStats): SourceType {
  return typeOfMode(Number(st.mode));
}

function readError(description: string, rel: string, e: unknown): OcibuildError {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return new OcibuildError('CONTEXT_NOT_FOUND', `cannot read ${JSON.stringify(rel || '.')} in ${description}: ${code}`, { cause: e, details: { path: rel } });
}

/** What the planner reads of one lstat, before the source's options apply. */
interface DiskStat {
  type: SourceType;
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds, rounded down. */
  mtime: number;
  size: number;
  /** `dev:ino` of a file with more than one link. */
  linkKey?: string;
  /** A file's stat identity (src/stat-identity.ts). */
  identity?: string;
  devmajor?: number;
  devminor?: number;
}

/** The lstat of `p` (undefined when missing; throws as fs.lstatSync does). */
function diskStat(p: string | Buffer): DiskStat | undefined {
  const f = lstatFields(p);
  if (f === undefined) return undefined;
  const mode = f[F.mode]!;
  const type = typeOfMode(mode);
  if (type === 'char' || type === 'block') return bigintDiskStat(p);
  const out: DiskStat = { type, mode, uid: f[F.uid]!, gid: f[F.gid]!, mtime: f[F.mtimeSec]!, size: type === 'file' ? f[F.size]! : 0 };
  if (type === 'file') {
    const identity = identityOfFields(f);
    if (identity === undefined) return bigintDiskStat(p); // a device or inode number past 2^53
    out.identity = identity;
    if (f[F.nlink]! > 1) out.linkKey = [f[F.dev], f[F.ino]].join(':');
  }
  return out;
}

/** {@link diskStat} through BigIntStats: device numbers, and fields past 2^53. */
function bigintDiskStat(p: string | Buffer): DiskStat | undefined {
  const st = fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
  if (!st) return undefined;
  const type = typeOf(st);
  const out: DiskStat = { type, mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), mtime: floorSeconds(st.mtimeNs), size: type === 'file' ? Number(st.size) : 0 };
  if (type === 'file') {
    if (st.nlink > 1n) out.linkKey = `${st.dev}:${st.ino}`;
    out.identity = statIdentity(st);
  }
  if (type === 'char' || type === 'block') {
    const rdev = st.rdev;
    out.devmajor = Number((rdev >> 8n) & 0xfffn) | Number((rdev >> 32n) & ~0xfffn);
    out.devminor = Number(rdev & 0xffn) | Number((rdev >> 12n) & ~0xffn);
  }
  return out;
}

/**
 * A directory on disk as a copy source. With `ignore`, excluded paths are not
 * part of the source (as BuildKit never transfers them) and `excludedBy`
 * reports the line responsible.
 */
export function directorySourceFs(root: string, options: DirectorySourceOptions = {}): SourceFs {
  const absRoot = path.resolve(root);
  const description = options.description ?? `directory ${absRoot}`;
  const ignore = options.ignore;
  const skip = options.skip;
  const rootPrefix = absRoot === path.sep ? '' : absRoot;
  // One flat string per path (array join; `+` would keep a rope per file); path.join for anything
  // not already clean, as before.
  const onDisk = (rel: string) => (rel === '' ? absRoot : UNCLEAN_REL.test(rel) ? path.join(absRoot, ...rel.split('/')) : [rootPrefix, rel].join('/'));

  const hidden = (rel: string, isDir: boolean): boolean => {
    if (rel === '') return false;
    if (skip?.(rel)) return true;
    if (ignore?.excludedBy(rel)) return !(isDir && ignore.mayReinclude(rel));
    return false;
  };

  /**
   * Whether an entry on disk is part of this source, and how it shows: its mode, owner and mtime
   * as the options make them (and the pending flag) written into `row` (answer-row.ts layout).
   */
  const shown = (rel: string, type: SourceType, diskMode: number, diskUid: number, diskGid: number, diskMtime: number, row: Float64Array): boolean => {
    if (rel !== '' && skip?.(rel)) return false;
    const hit = rel !== '' ? ignore?.excludedBy(rel) : undefined;
    if (hit && !(type === 'directory' && ignore!.mayReinclude(rel))) return false;
    const meta = options.metadata?.(rel);
    let mode = meta?.mode ?? diskMode & 0o7777;
    if (options.modes === 'git') {
      if (type === 'directory') mode = 0o755;
      else if (type === 'file') mode = (diskMode & 0o111) !== 0 ? 0o755 : 0o644;
    }
    const own = options.ownership === 'root';
    row[R.mode] = mode;
    row[R.uid] = own ? 0 : meta?.uid ?? diskUid;
    row[R.gid] = own ? 0 : meta?.gid ?? diskGid;
    row[R.mtime] = options.mtime ?? diskMtime;
    row[R.flags] = hit ? FLAG.pending : 0;
    return true;
  };
  const scratch = new Float64Array(ROW_LENGTH);
  /** `stat` of `rel` on disk: undefined when it or a parent is missing (ENOTDIR), else the source's read error. */
  const statOnDisk = <T>(rel: string, stat: (p: string | Buffer) => T | undefined): T | undefined => {
    try {
      return stat(fsPath(onDisk(rel)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw readError(description, rel, e);
    }
  };

  const fsrc: SourceFs & { lstatSync(rel: string): SourceStat | undefined; readdirSync(rel: string): string[] } = {
    description,
    lstat: async (rel: string) => fsrc.lstatSync(rel),
    readdir: async (rel: string) => fsrc.readdirSync(rel),
    lstatSync(rel: string): SourceStat | undefined {
      // A synchronous lstat: on a warm cache it costs about a tenth of a
      // promise round trip through the thread pool, and planning a context
      // of 20,000 files is dominated by these calls. Its fields as numbers
      // (src/lstat-fields.ts: no BigIntStats and Dates per file), the stat
      // identity (nanosecond times) from this one call.
      const disk = statOnDisk(rel, diskStat);
      if (!disk || !shown(rel, disk.type, disk.mode, disk.uid, disk.gid, disk.mtime, scratch)) return undefined;
      const type = disk.type;
      const out: SourceStat = { type, mode: scratch[R.mode]!, uid: scratch[R.uid]!, gid: scratch[R.gid]!, mtime: scratch[R.mtime]!, size: type === 'file' ? disk.size : 0 };
      if (scratch[R.flags]! & FLAG.pending) out.pending = true;
      if (type === 'file') {
        if (disk.linkKey !== undefined) out.linkKey = disk.linkKey;
        out.identity = disk.identity;
      }
      if (disk.devmajor !== undefined) {
        out.devmajor = disk.devmajor;
        out.devminor = disk.devminor;
      }
      return out;
    },
    lstatRowSync(rel: string, row: Float64Array): boolean {
      // The copy memo's replay: the answer of lstatSync as numbers, straight from the lstat
      // fields (src/copy/answer-row.ts), no SourceStat and no identity string.
      const f = statOnDisk(rel, lstatFields);
      row.fill(0);
      if (f === undefined) return true;
      const diskMode = f[F.mode]!;
      const type = typeOfMode(diskMode);
      if (type === 'char' || type === 'block') return rowOfStat(fsrc.lstatSync(rel), row);
      // Everything the row takes from `f` is read before shown() (f is reused by the next lstat).
      const uid = f[F.uid]!;
      const gid = f[F.gid]!;
      const mtime = f[F.mtimeSec]!;
      let flags = 0;
      if (type === 'file') {
        if (!exactFileFields(f)) return false;
        row[R.size] = f[F.size]!;
        row[R.dev] = f[F.dev]!;
        row[R.ino] = f[F.ino]!;
        row[R.mtimeSec] = f[F.mtimeSec]!;
        row[R.mtimeNsec] = f[F.mtimeNsec]!;
        row[R.ctimeSec] = f[F.ctimeSec]!;
        row[R.ctimeNsec] = f[F.ctimeNsec]!;
        flags = f[F.nlink]! > 1 ? FLAG.identity | FLAG.linked : FLAG.identity;
      }
      if (!shown(rel, type, diskMode, uid, gid, mtime, row)) {
        row.fill(0);
        return true;
      }
      row[R.kind] = TYPE_CODE[type];
      row[R.flags] = row[R.flags]! | flags;
      return true;
    },
    async readlink(rel: string): Promise<string> {
      try {
        return decodeFsName(await fs.promises.readlink(fsPath(onDisk(rel)), { encoding: 'buffer' }));
      } catch (e) {
        throw readError(description, rel, e);
      }
    },
    readdirSync(rel: string): string[] {
      // Synchronous, as lstat above: a promise round trip through the thread pool per directory
      // left the walk idle (issue 8: warm rebuild). Names as strings, the quick way; a directory
      // where one holds U+FFFD (maybe a name that is not valid UTF-8) is read again as bytes and
      // decoded losslessly, so such a name is kept, never dropped or changed.
      let names: string[];
      let dirs: boolean[];
      try {
        const dir = fsPath(onDisk(rel));
        if (!skip && (!ignore || ignore.excludesNothing)) {
          // Nothing to hide: the names alone (a Dirent per entry only tells hidden() a directory).
          names = fs.readdirSync(dir);
          if (names.some((n) => n.includes('\uFFFD'))) names = (fs.readdirSync(dir, { encoding: 'buffer' }) as Buffer[]).map((n) => decodeFsName(n));
          return names;
        }
        const dirents = fs.readdirSync(dir, { withFileTypes: true });
        if (dirents.some((d) => d.name.includes('\uFFFD'))) {
          const raw = fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' }) as unknown as fs.Dirent<Buffer>[];
          names = raw.map((d) => decodeFsName(d.name));
          dirs = raw.map((d) => d.isDirectory());
        } else {
          names = dirents.map((d) => d.name);
          dirs = dirents.map((d) => d.isDirectory());
        }
      } catch (e) {
        throw readError(description, rel, e);
      }
      const out: string[] = [];
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        const childRel = rel === '' ? name : `${rel}/${name}`;
        if (!hidden(childRel, dirs[i]!)) out.push(name);
      }
      return out;
    },
    contentSource(rel: string, st?: SourceStat): LayerEntrySource {
      return { kind: 'path', path: onDisk(rel), identity: st?.identity };
    },
    excludedBy: ignore
      ? (rel: string) => {
          if (rel === '') return undefined;
          return ignore.excludedBy(rel);
        }
      : undefined,
  };
  return fsrc;
}

/**
 * The build context as a copy source: entries owned by 0:0 (BuildKit resets
 * owners when the context is transferred), `.dockerignore` applied.
 */
export function contextSourceFs(root: string, ignore?: IgnoreView, description = 'build context'): SourceFs {
  return directorySourceFs(root, { description, ownership: 'root', ignore });
}
