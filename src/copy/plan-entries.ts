/**
 * The entries of a planned COPY/ADD layer, kept compact (issue 8: memory). A copy of 100,000
 * files used to keep an entry object, a source object and three strings per file until its layer
 * was written (~340 bytes a file, a third of the heap at the build's peak). Here a file is a row
 * of typed arrays (type, mode, owner, mtime, size), its name, its directory (one row of a
 * directory table for all its siblings: the layer path and the source directory are kept once)
 * and its stat identity; the entry objects and their path strings are made when asked for.
 *
 * {@link PlanTable} is what the planner fills (find by path, set, remove); {@link PlannedEntries}
 * is the finished list, rows in the planner's order, each made an entry by {@link PlannedEntries.at}.
 */
import type { LayerEntry, LayerEntryList, LayerEntrySource, LayerEntryType } from '../layers/types.js';

/** Type codes (0: a removed row). */
const TYPES: readonly (LayerEntryType | undefined)[] = [undefined, 'file', 'directory', 'symlink', 'hardlink', 'whiteout', 'opaque', 'fifo', 'char', 'block'];
const CODES = new Map<LayerEntryType, number>(TYPES.flatMap((t, i) => (t === undefined ? [] : [[t, i] as const])));

/** The fields of an entry few rows have (links, devices, attributes, a source that is not a file in its row's source directory). */
interface Rare {
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Uint8Array>;
  source?: LayerEntrySource;
}

/** The columns of a table of rows (grown by doubling while planning, cut to size when finished). */
interface Columns {
  /** Directory (index into the directory table) of each row. */
  dir: Int32Array;
  type: Uint8Array;
  /** Bit 0: present in the destination image before this step. */
  flags: Uint8Array;
  /** mode, uid, gid: numbers as given (the writer checks them); mtime and size: NaN when undefined. */
  mode: Float64Array;
  uid: Float64Array;
  gid: Float64Array;
  mtime: Float64Array;
  size: Float64Array;
  /** Source directory of a file read from disk (index into the source directory table), -1: none or in `rare`. */
  srcDir: Int32Array;
}

function columns(n: number): Columns {
  return {
    dir: new Int32Array(n),
    type: new Uint8Array(n),
    flags: new Uint8Array(n),
    mode: new Float64Array(n),
    uid: new Float64Array(n),
    gid: new Float64Array(n),
    mtime: new Float64Array(n),
    size: new Float64Array(n),
    srcDir: new Int32Array(n),
  };
}

/** `from`'s first `n` rows, in columns of `size` rows. */
function resized(from: Columns, n: number, size: number): Columns {
  const to = columns(size);
  for (const k of Object.keys(to) as (keyof Columns)[]) (to[k] as Float64Array).set((from[k] as Float64Array).subarray(0, n));
  return to;
}

/** What a row becomes: the layer path of each directory, the source directories, and rows' own fields. */
interface Parts {
  readonly cols: Columns;
  readonly names: readonly string[];
  readonly identities: readonly (string | undefined)[];
  readonly rare: ReadonlyMap<number, Rare>;
  /** Layer path of each directory of the directory table ('' for the root). */
  readonly dirPaths: readonly string[];
  /** The same, each ending in '/' ('' for the root): what a row's name is put after. */
  readonly dirPrefixes: readonly string[];
  /** Each source directory, ending in its separator. */
  readonly srcDirs: readonly string[];
}

// Paths made on demand are ropes (`+`: a few times quicker to make than a flat join): they are
// used for a moment (a tar header, an open, a row hashed) and not kept.
function pathOf(parts: Parts, row: number): string {
  const dir = parts.dirPrefixes[parts.cols.dir[row]!]!;
  return dir === '' ? parts.names[row]! : dir + parts.names[row]!;
}

function rareOf(parts: Parts, row: number): Rare | undefined {
  return parts.rare.size === 0 ? undefined : parts.rare.get(row);
}

/** The file a row in a source directory is read from (its source directory and its name). */
function rowSourcePath(parts: Parts, row: number): string {
  return parts.srcDirs[parts.cols.srcDir[row]!]! + parts.names[row]!;
}

function sourceOf(parts: Parts, row: number): LayerEntrySource | undefined {
  if (parts.cols.srcDir[row]! < 0) return rareOf(parts, row)?.source;
  return { kind: 'path', path: rowSourcePath(parts, row), identity: parts.identities[row] };
}

function entryOf(parts: Parts, row: number): LayerEntry {
  const c = parts.cols;
  const rare = rareOf(parts, row);
  const mtime = c.mtime[row]!;
  const size = c.size[row]!;
  // One object shape for every entry (as the planner made them).
  const e: LayerEntry = {
    path: pathOf(parts, row),
    type: TYPES[c.type[row]!]!,
    mode: c.mode[row]!,
    uid: c.uid[row]!,
    gid: c.gid[row]!,
    mtime: Number.isNaN(mtime) ? undefined : mtime,
    size: Number.isNaN(size) ? undefined : size,
    linkname: rare?.linkname,
    source: sourceOf(parts, row),
    devmajor: rare?.devmajor,
    devminor: rare?.devminor,
  };
  if (rare?.xattrs !== undefined) e.xattrs = rare.xattrs;
  return e;
}

/**
 * The planned entries, in the order they were planned (an entry planned again at its path keeps
 * its place, as in a Map). Each `at(i)` is a new object: changes to it are not kept (see
 * {@link PlannedEntries.setIdentity}).
 */
export class PlannedEntries implements LayerEntryList, Iterable<LayerEntry> {
  /** @internal */
  constructor(
    private readonly parts: Parts & { identities: (string | undefined)[] },
    readonly length: number,
  ) {}

  /** The entry at `i` (undefined outside the list). */
  at(i: number): LayerEntry | undefined {
    if (!(i >= 0 && i < this.length)) return undefined;
    return entryOf(this.parts, i);
  }

  /** The layer path of entry `i`. */
  path(i: number): string {
    return pathOf(this.parts, i);
  }

  /** The type of entry `i`. */
  type(i: number): LayerEntryType {
    return TYPES[this.parts.cols.type[i]!]!;
  }

  /** The size of entry `i` (a file's), if it has one. */
  size(i: number): number | undefined {
    const size = this.parts.cols.size[i]!;
    return Number.isNaN(size) ? undefined : size;
  }

  /** Entry `i`'s source, when it has one. */
  source(i: number): LayerEntrySource | undefined {
    return sourceOf(this.parts, i);
  }

  /** The path of the file entry `i` is read from (undefined: none). */
  sourcePath(i: number): string | undefined {
    if (this.parts.cols.srcDir[i]! >= 0) return rowSourcePath(this.parts, i);
    const src = rareOf(this.parts, i)?.source;
    return src?.kind === 'path' ? src.path : undefined;
  }

  /** Records the stat identity of entry `i`'s source file (found after planning, when the planner had none). */
  setIdentity(i: number, identity: string | undefined): void {
    if (this.parts.cols.srcDir[i]! >= 0) this.parts.identities[i] = identity;
    else {
      const src = this.parts.rare.get(i)?.source;
      if (src?.kind === 'path') src.identity = identity;
    }
  }

  /** True when some entry's bytes come from a stream (a download). */
  hasStreams(): boolean {
    for (const r of this.parts.rare.values()) if (r.source?.kind === 'stream') return true;
    return false;
  }

  *[Symbol.iterator](): Iterator<LayerEntry> {
    for (let i = 0; i < this.length; i++) yield entryOf(this.parts, i);
  }
}

const EXISTING = 1;

/**
 * The growing table of a plan: rows found by layer path (through their directory's children),
 * set, replaced and removed as the planner goes.
 */
export class PlanTable {
  private cols = columns(1024);
  private count = 0;
  private readonly names: string[] = [];
  private readonly identities: (string | undefined)[] = [];
  private readonly rare = new Map<number, Rare>();
  private readonly dirPaths: string[] = [];
  private readonly dirIds = new Map<string, number>();
  /** Each directory's rows by name. */
  private readonly children: Map<string, number>[] = [];
  private readonly srcDirs: string[] = [];
  private readonly srcDirIds = new Map<string, number>();
  /** The source directory of the last file set (files of a directory come one after another). */
  private lastSrcDir = -1;
  private removed = 0;

  private dirId(dir: string): number {
    let id = this.dirIds.get(dir);
    if (id === undefined) {
      id = this.dirPaths.length;
      this.dirPaths.push(dir);
      this.dirIds.set(dir, id);
      this.children.push(new Map());
    }
    return id;
  }

  /** The row at layer path `rel`, if any. */
  private find(rel: string): number | undefined {
    const slash = rel.lastIndexOf('/');
    const dir = this.dirIds.get(slash < 0 ? '' : rel.slice(0, slash));
    return dir === undefined ? undefined : this.children[dir]!.get(slash < 0 ? rel : rel.slice(slash + 1));
  }

  /** The type at `rel`, if something is planned there. */
  typeAt(rel: string): LayerEntryType | undefined {
    const row = this.find(rel);
    return row === undefined ? undefined : TYPES[this.cols.type[row]!];
  }

  /** Whether the entry at `rel` was present in the destination image before this step (undefined: nothing planned there). */
  existingAt(rel: string): boolean | undefined {
    const row = this.find(rel);
    return row === undefined ? undefined : (this.cols.flags[row]! & EXISTING) !== 0;
  }

  /** The link name of the entry at `rel`. */
  linknameAt(rel: string): string | undefined {
    const row = this.find(rel);
    return row === undefined ? undefined : this.rare.get(row)?.linkname;
  }

  /**
   * Plans `entry` at its path (replacing what is planned there, in its place). `name`, when
   * given, is the last segment of the path as a string of its own (a name from a directory
   * listing), kept instead of a slice of the path.
   */
  set(entry: LayerEntry, existing: boolean, name?: string): void {
    const code = CODES.get(entry.type);
    if (code === undefined) throw new Error(`assert: unknown entry type ${entry.type}`);
    const rel = entry.path;
    const slash = rel.lastIndexOf('/');
    const dir = this.dirId(slash < 0 ? '' : rel.slice(0, slash));
    const base = name ?? (slash < 0 ? rel : rel.slice(slash + 1));
    const siblings = this.children[dir]!;
    let row = siblings.get(base);
    if (row === undefined) {
      row = this.count++;
      if (row === this.cols.type.length) this.cols = resized(this.cols, row, row * 2);
      siblings.set(base, row);
      this.names.push(base);
      this.identities.push(undefined);
    }
    const c = this.cols;
    c.dir[row] = dir;
    c.type[row] = code;
    c.flags[row] = existing ? EXISTING : 0;
    c.mode[row] = entry.mode;
    c.uid[row] = entry.uid;
    c.gid[row] = entry.gid;
    c.mtime[row] = entry.mtime ?? NaN;
    c.size[row] = entry.size ?? NaN;
    c.srcDir[row] = -1;
    this.identities[row] = undefined;
    this.rare.delete(row);
    const src = entry.source;
    let rare: Rare | undefined;
    if (src?.kind === 'path' && entry.type === 'file' && this.srcDirOf(src.path, base, row)) this.identities[row] = src.identity;
    else if (src !== undefined) rare = { source: src };
    if (entry.linkname !== undefined || entry.devmajor !== undefined || entry.devminor !== undefined || entry.xattrs !== undefined) {
      rare ??= {};
      if (entry.linkname !== undefined) rare.linkname = entry.linkname;
      if (entry.devmajor !== undefined) rare.devmajor = entry.devmajor;
      if (entry.devminor !== undefined) rare.devminor = entry.devminor;
      if (entry.xattrs !== undefined) rare.xattrs = entry.xattrs;
    }
    if (rare) this.rare.set(row, rare);
  }

  /** Keeps `path` as a source directory and `name` when the path is that directory's and the name; false when it is not. */
  private srcDirOf(path: string, name: string, row: number): boolean {
    const cut = path.length - name.length;
    if (cut <= 0 || !path.endsWith(name)) return false;
    let id = this.lastSrcDir;
    const last = id >= 0 ? this.srcDirs[id]! : undefined;
    if (last === undefined || last.length !== cut || !path.startsWith(last)) {
      const dir = path.slice(0, cut);
      id = this.srcDirIds.get(dir) ?? -1;
      if (id < 0) {
        id = this.srcDirs.length;
        // A string of its own (a slice would keep the whole path of the first file alive).
        const own = [...dir].join('');
        this.srcDirs.push(own);
        this.srcDirIds.set(own, id);
      }
      this.lastSrcDir = id;
    }
    this.cols.srcDir[row] = id;
    return true;
  }

  /** Removes what is planned at `rel`. */
  delete(rel: string): void {
    const row = this.find(rel);
    if (row === undefined) return;
    const slash = rel.lastIndexOf('/');
    this.children[this.cols.dir[row]!]!.delete(slash < 0 ? rel : rel.slice(slash + 1));
    this.clear(row);
  }

  /** Marks `row` removed (its directory no longer lists it). */
  private clear(row: number): void {
    this.cols.type[row] = 0;
    this.rare.delete(row);
    this.identities[row] = undefined;
    this.removed++;
  }

  /** Removes what is planned at `rel` and below it. */
  deleteTree(rel: string): void {
    this.delete(rel);
    const prefix = rel + '/';
    for (let d = 0; d < this.dirPaths.length; d++) {
      const dir = this.dirPaths[d]!;
      if (dir !== rel && !dir.startsWith(prefix)) continue;
      for (const row of this.children[d]!.values()) this.clear(row);
      this.children[d]!.clear();
    }
  }

  /** The finished list (the table is not used after). */
  finish(): PlannedEntries {
    const n = this.count - this.removed;
    let cols: Columns;
    let names: string[];
    let identities: (string | undefined)[];
    let rare: Map<number, Rare>;
    if (this.removed === 0) {
      cols = resized(this.cols, n, n);
      names = this.names;
      identities = this.identities;
      rare = this.rare;
    } else {
      // Removed rows left out, the others in order.
      const keep: number[] = [];
      for (let row = 0; row < this.count; row++) if (this.cols.type[row] !== 0) keep.push(row);
      cols = columns(n);
      names = [];
      identities = [];
      rare = new Map();
      for (let i = 0; i < keep.length; i++) {
        const row = keep[i]!;
        for (const k of Object.keys(cols) as (keyof Columns)[]) cols[k][i] = this.cols[k][row]!;
        names.push(this.names[row]!);
        identities.push(this.identities[row]);
        const r = this.rare.get(row);
        if (r) rare.set(i, r);
      }
    }
    const dirPrefixes = this.dirPaths.map((d) => (d === '' ? '' : [d, ''].join('/')));
    return new PlannedEntries({ cols, names, identities, rare, dirPaths: this.dirPaths, dirPrefixes, srcDirs: this.srcDirs }, n);
  }
}
