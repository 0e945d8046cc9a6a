/**
 * The layer a COPY/ADD produces, planned as a tree of entries (metadata only;
 * file bytes stay on disk until the layer writer streams them). Follows
 * BuildKit's FileOp copy (fsutil `copy.Copy`): destination resolution inside
 * the destination image, created parents 0755 owned by the --chown user,
 * directory sources copying their contents, `cp -a`-like metadata, hardlinks
 * kept within the copy.
 */
import { OcibuildError } from '../errors.js';
import type { LayerEntry } from '../layers/types.js';
import { PlanTable, type PlannedEntries } from './plan-entries.js';
import type { ChmodSpec } from './chmod.js';
import type { Owner } from './chown.js';
import { matchInclude } from './glob.js';
import { joinRel, parentRel, resolveInRoot, toRel, type LinkReader } from './paths.js';
import type { DestFs, DestStat, SourceFs, SourceStat } from './types.js';
import { compareFsNames } from '../fs-names.js';

/** A path matcher for `--exclude` patterns (dockerignore semantics). */
export interface ExcludeMatcher {
  /** True when `rel` (relative to the copied source) is excluded, parents considered. */
  matches(rel: string): boolean;
  /** True when an excluded directory may still hold entries an exception re-includes. */
  mayReinclude(dirRel: string): boolean;
}

/** Per-step settings the planner applies to every copied entry. */
export interface PlanSettings {
  owner?: Owner;
  chmod?: ChmodSpec;
  /** With --link, the destination image is not consulted. */
  dest?: DestFs;
  /** Checked once per directory walked. */
  signal?: AbortSignal;
}

/** How one tree is copied. */
export interface TreeCopyOptions {
  excludes?: ExcludeMatcher;
  /** `--parents` include pattern, relative to the tree root. */
  include?: string;
  /** Overwrite semantics: `copy` errors on dir/non-dir clashes like fsutil; `untar` replaces like `tar -x`. */
  mode?: 'copy' | 'untar';
}

const WH = '.wh.';

/** The growing layer of one COPY/ADD step. */
export class LayerPlan {
  /** What is planned so far, by layer path (a row per entry: see plan-entries.ts). */
  private readonly table = new PlanTable();
  private readonly hardlinks = new Map<string, string>();
  private readonly baseCache = new Map<string, Promise<DestStat | undefined>>();
  /** The directory `mkdirAll` last made sure of (with all its parents). */
  private lastMade: string | undefined;

  constructor(private readonly settings: PlanSettings) {}

  /** The planned entries (unsorted; the layer writer sorts). The plan is done with after this. */
  entries(): PlannedEntries {
    return this.table.finish();
  }

  private base(rel: string): Promise<DestStat | undefined> {
    const dest = this.settings.dest;
    if (!dest || rel === '') return Promise.resolve(undefined);
    let p = this.baseCache.get(rel);
    if (!p) {
      p = dest.lstat('/' + rel);
      this.baseCache.set(rel, p);
    }
    return p;
  }

  /** Kind at a layer path as seen after what is planned so far (planned entries over the base image). */
  async kindAt(rel: string): Promise<'directory' | 'symlink' | 'other' | undefined> {
    if (rel === '') return 'directory';
    const t = this.table.typeAt(rel);
    if (t) return t === 'directory' ? 'directory' : t === 'symlink' ? 'symlink' : 'other';
    // A planned non-directory ancestor hides what the base has below it.
    for (let p = parentRel(rel); p !== ''; p = parentRel(p)) {
      const at = this.table.typeAt(p);
      if (at) {
        if (at !== 'directory') return undefined;
        break;
      }
    }
    const b = await this.base(rel);
    if (!b) return undefined;
    return b.type === 'directory' ? 'directory' : b.type === 'symlink' ? 'symlink' : 'other';
  }

  /** A LinkReader over the planned-plus-base view, for resolving the destination path. */
  linkReader(): LinkReader {
    return {
      kind: (rel) => this.kindAt(rel),
      readlink: async (rel) => {
        if (this.table.typeAt(rel)) return this.table.linknameAt(rel) ?? '';
        const dest = this.settings.dest;
        if (!dest) throw new OcibuildError('LAYER_INVALID', `no symlink at /${rel}`);
        return dest.readlink('/' + rel);
      },
    };
  }

  /** Resolve an absolute destination path inside the destination image (symlinks followed, scoped), or lexically with --link. */
  async resolveDest(abs: string, followFinal = true): Promise<string> {
    if (!this.settings.dest) return toRel(abs);
    return resolveInRoot(this.linkReader(), abs, followFinal);
  }

  private owner(st: { uid: number; gid: number }): { uid: number; gid: number } {
    return this.settings.owner ?? { uid: st.uid, gid: st.gid };
  }

  /** `name`: the last segment of `rel` as a string of its own, when the caller has it (see PlanTable.set). */
  private set(rel: string, entry: LayerEntry, existing = false, name?: string): void {
    const base = name ?? rel.slice(rel.lastIndexOf('/') + 1);
    if (base.startsWith(WH)) {
      throw new OcibuildError('LAYER_INVALID', `cannot copy ${JSON.stringify('/' + rel)}: names starting with ".wh." are reserved for layer whiteouts`);
    }
    // A non-directory at (or above) the directory mkdirAll last made sure of: ask again next time.
    const made = this.lastMade;
    if (made !== undefined && entry.type !== 'directory' && made.startsWith(rel) && (made.length === rel.length || made.charCodeAt(rel.length) === 0x2f)) this.lastMade = undefined;
    this.table.set(entry, existing, name);
  }

  private removeTree(rel: string): void {
    this.lastMade = undefined;
    this.table.deleteTree(rel);
  }

  /**
   * fsutil MkdirAll: make every missing directory of `rel` (0755, owned by the
   * --chown user or root); existing ones are kept (and emitted unchanged so
   * the layer is self-contained). A non-directory in the way is an error.
   */
  async mkdirAll(rel: string): Promise<void> {
    if (rel === '') return;
    // Files of one directory come one after another: their parents were just made.
    if (rel === this.lastMade && this.table.typeAt(rel) === 'directory') return;
    const segs = rel.split('/');
    let cur = '';
    for (const seg of segs) {
      cur = joinRel(cur, seg);
      const t = this.table.typeAt(cur);
      if (t) {
        if (t !== 'directory') throw notDir(cur);
        continue;
      }
      const b = await this.base(cur);
      if (b) {
        if (b.type !== 'directory') throw notDir(cur);
        this.set(cur, { path: cur, type: 'directory', mode: b.mode & 0o7777, uid: b.uid, gid: b.gid, mtime: b.mtime }, true);
        continue;
      }
      const o = this.settings.owner ?? { uid: 0, gid: 0 };
      this.set(cur, { path: cur, type: 'directory', mode: 0o755, uid: o.uid, gid: o.gid });
    }
    this.lastMade = rel;
  }

  /** Apply --chmod (never to symlinks). */
  private mode(st: { mode: number }, type: string, how: 'copy' | 'untar' = 'copy'): number {
    if (type === 'symlink') return 0o777;
    // BuildKit's unpack of local archives does not apply --chmod
    return this.settings.chmod && how === 'copy' ? this.settings.chmod.apply(st.mode, type === 'directory') : st.mode & 0o7777;
  }

  /**
   * Put a single non-directory source at `target` (fsutil ensureEmptyFileTarget:
   * a directory there is an error for COPY, replaced for an archive).
   */
  async putLeaf(target: string, st: SourceStat, fsrc: SourceFs | undefined, srcRel: string, how: 'copy' | 'untar' = 'copy', linkname?: string, name?: string): Promise<void> {
    const kind = await this.kindAt(target);
    if (kind === 'directory') {
      if (how === 'copy') {
        throw new OcibuildError('LAYER_INVALID', `cannot replace to directory /${target} with file`, { details: { path: '/' + target } });
      }
      this.removeTree(target);
    }
    await this.mkdirAll(parentRel(target));
    const { uid, gid } = this.owner(st);
    const mode = this.mode(st, st.type, how);
    // Every entry is one object literal of the same property order (one hidden class for all:
    // spreading a base object gave each entry a hidden class of its own, ~300 bytes per file).
    const mk = (type: LayerEntry['type'], linkname?: string, size?: number, source?: LayerEntry['source'], devmajor?: number, devminor?: number): LayerEntry => ({
      path: target,
      type,
      mode,
      uid,
      gid,
      mtime: st.mtime,
      size,
      linkname,
      source,
      devmajor,
      devminor,
    });
    switch (st.type) {
      case 'file': {
        if (st.linkKey) {
          const first = this.hardlinks.get(st.linkKey);
          if (first !== undefined && first !== target && this.table.typeAt(first) === 'file') {
            this.set(target, mk('hardlink', first), false, name);
            return;
          }
          this.hardlinks.set(st.linkKey, target);
        }
        if (!fsrc) throw new Error('assert: a file needs a source');
        this.set(target, mk('file', undefined, st.size, fsrc.contentSource(srcRel, st)), false, name);
        return;
      }
      case 'symlink':
        this.set(target, mk('symlink', linkname ?? (fsrc ? await fsrc.readlink(srcRel) : '')), false, name);
        return;
      case 'fifo':
        this.set(target, mk('fifo'), false, name);
        return;
      case 'char':
      case 'block':
        this.set(target, mk(st.type, undefined, undefined, undefined, st.devmajor ?? 0, st.devminor ?? 0), false, name);
        return;
      case 'socket':
        // tar cannot hold sockets (GNU tar skips them too)
        return;
      case 'directory':
        throw new Error('assert: putLeaf got a directory');
    }
  }

  /** Add a hardlink entry (archives) pointing at an already planned path. */
  putHardlink(target: string, st: SourceStat, linkTarget: string): void {
    const t = this.table.typeAt(linkTarget);
    if (!t || t === 'directory' || t === 'whiteout' || t === 'opaque') {
      // Hardlinks to any non-directory are valid in tar (a symlink, a fifo, a device): the writer keeps them linked.
      throw new OcibuildError('LAYER_INVALID', `hardlink /${target} points at /${linkTarget}, which is not a file, symlink or special file extracted before it`);
    }
    const primary = t === 'hardlink' ? this.table.linknameAt(linkTarget)! : linkTarget;
    const { uid, gid } = this.owner(st);
    this.set(target, { path: target, type: 'hardlink', linkname: primary, mode: st.mode & 0o7777, uid, gid, mtime: st.mtime });
  }

  /**
   * Create or update a directory copied from a source (fsutil copyDirectory):
   * missing → created with the source's metadata; existing → with
   * `overwriteMetadata` it takes the source's metadata, else it is left as is.
   */
  async putDir(target: string, st: SourceStat, overwriteMetadata: boolean, how: 'copy' | 'untar' = 'copy', name?: string): Promise<void> {
    const kind = await this.kindAt(target);
    if (kind !== undefined && kind !== 'directory') {
      if (how === 'copy') throw notDir(target);
      this.removeTree(target);
    }
    await this.mkdirAll(parentRel(target));
    if (kind === 'directory' && !overwriteMetadata) {
      await this.mkdirAll(target);
      return;
    }
    const { uid, gid } = this.owner(st);
    this.set(target, { path: target, type: 'directory', mode: this.mode(st, 'directory', how), uid, gid, mtime: st.mtime }, false, name);
  }

  /**
   * Copy the contents of directory `srcRoot` of `fsrc` into `target` (which
   * must exist or be creatable): children take their source metadata, symlinks
   * are kept as links, excludes and the --parents include apply to paths
   * relative to `srcRoot`.
   */
  async copyTree(fsrc: SourceFs, srcRoot: string, target: string, opts: TreeCopyOptions = {}): Promise<number> {
    let count = 0;
    const walk = async (srcDir: string, relDir: string, dstDir: string, included: boolean, pendingParents: { dst: string; st: SourceStat }[]): Promise<void> => {
      this.settings.signal?.throwIfAborted();
      const names = (await fsrc.readdir(srcDir)).sort(compareNames);
      const stats = await Promise.all(names.map((n) => fsrc.lstat(joinRel(srcDir, n))));
      for (let i = 0; i < names.length; i++) {
        const st = stats[i];
        if (!st) continue;
        const name = names[i]!;
        const srcRel = joinRel(srcDir, name);
        const rel = joinRel(relDir, name);
        const dst = joinRel(dstDir, name);
        const isDir = st.type === 'directory';
        let inc = included;
        let partial = false;
        if (!included && opts.include !== undefined) {
          const m = matchInclude(opts.include, rel, isDir);
          if (m === 'none') continue;
          if (m === 'full') inc = true;
          else partial = true;
        }
        let excludedDir = false;
        if (opts.excludes?.matches(rel)) {
          if (!(isDir && opts.excludes.mayReinclude(rel))) continue;
          excludedDir = true;
        }
        if (isDir) {
          if (partial || st.pending || excludedDir) {
            // delay creating it until something below is included
            await walk(srcRel, rel, dst, inc && !partial, [...pendingParents, { dst, st }]);
            continue;
          }
          await this.flushParents(pendingParents);
          pendingParents = [];
          await this.putDir(dst, st, true, opts.mode, name);
          count++;
          await walk(srcRel, rel, dst, inc, []);
        } else {
          await this.flushParents(pendingParents);
          pendingParents = [];
          await this.putLeaf(dst, st, fsrc, srcRel, opts.mode, undefined, name);
          count++;
        }
      }
    };
    await walk(srcRoot, '', target, opts.include === undefined, []);
    return count;
  }

  private async flushParents(parents: { dst: string; st: SourceStat }[]): Promise<void> {
    for (const p of parents) {
      if (this.table.existingAt(p.dst) === false) continue; // already created from the source in this step
      await this.putDir(p.dst, p.st, true);
    }
  }
}

function notDir(rel: string): OcibuildError {
  return new OcibuildError('LAYER_INVALID', `cannot copy to non-directory: /${rel}`, { details: { path: '/' + rel } });
}

/** Byte order of names, as Go's os.ReadDir sorts them. */
export function compareNames(a: string, b: string): number {
  return compareFsNames(a, b);
}
