import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Readable } from 'node:stream';
import { OcibuildError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { decodeFsName, fsPath as B, hasEscapedBytes } from '../fs-names.js';
import { layerPathParts as components, parseWhiteout } from './names.js';
import { readLayer } from './read.js';
import type { TarHeader } from './tar-format.js';

/** Options of {@link applyLayer}. */
export interface ApplyLayerOptions {
  /** Apply uid/gid from the layer (lchown). Default: only when running as root. */
  owners?: boolean;
  /** Fail with DIGEST_MISMATCH at the end when the uncompressed tar's SHA-256 differs. */
  expectedDiffId?: Digest;
  signal?: AbortSignal;
  /**
   * Create block and character device nodes (as root; never without root).
   * Default true. When false they are skipped, each listed in `skipped`
   * (a local output is a directory for people, not a root filesystem).
   */
  devices?: boolean;
  /**
   * Called for each whiteout instead of deleting anything (RUN's lower dirs
   * keep whiteouts in overlay form). The whiteout is validated first (never
   * `.`, `..` or an empty name), `dir` is its parent directory resolved inside
   * the root (absolute; created when missing), and `name` the name it deletes
   * there, undefined for the opaque marker `.wh..wh..opq` of `dir`.
   */
  onWhiteout?: (whiteout: { dir: string; name?: string }) => void | Promise<void>;
}

/** Something the applier could not reproduce on this host, and why. */
export interface SkippedEntry {
  path: string;
  reason: string;
}

/** What applying a layer did. */
export interface ApplyLayerResult {
  /** SHA-256 of the uncompressed tar. */
  diffId: Digest;
  /** Byte length of the uncompressed tar. */
  size: number;
  /** Tar entries processed (whiteouts included). */
  entries: number;
  /** Device nodes when not root or not asked for (`devices: false`); xattrs (node has no xattr API). */
  skipped: SkippedEntry[];
}

const MAX_SYMLINK_HOPS = 40;

function escape(name: string, why: string): OcibuildError {
  return new OcibuildError('LAYER_ESCAPE', `layer entry ${JSON.stringify(name)} ${why}`, { details: { path: name } });
}
function invalid(name: string, why: string, cause?: unknown): OcibuildError {
  return new OcibuildError('LAYER_INVALID', `layer entry ${JSON.stringify(name)}: ${why}`, { details: { path: name }, cause });
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(B(p));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Resolve the directory `parts` inside `root` as containerd's `fs.RootPath`
 * does: symlinks are followed *within* the tree: an absolute target starts
 * again at `root`, and '..' stops at `root`. So `var/run -> /run` in a base
 * image resolves to `<root>/run`, and nothing can lead outside. Missing
 * directories are created (0755) when `create`; otherwise null is returned.
 */
function resolveDir(root: string, parts: string[], entry: string, create: boolean): string | null {
  const stack: string[] = [];
  const queue = [...parts];
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      stack.pop(); // at the root, '..' is the root
      continue;
    }
    const p = path.join(root, ...stack, c);
    const st = lstatOrNull(p);
    if (st === null) {
      if (!create) return null;
      fs.mkdirSync(B(p), { mode: 0o755 });
      stack.push(c);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINK_HOPS) throw escape(entry, 'resolves through too many symlinks');
      const target = decodeFsName(fs.readlinkSync(B(p), { encoding: 'buffer' }));
      if (target.startsWith('/')) stack.length = 0; // absolute: from the root of the tree, not of the host
      queue.unshift(...target.split('/'));
      continue;
    }
    if (!st.isDirectory()) throw invalid(entry, `parent ${JSON.stringify(path.posix.join(...stack, c))} is not a directory`);
    stack.push(c);
  }
  return path.join(root, ...stack);
}

/** Remove whatever is at `p` (file, link, or directory tree). */
function removeAny(p: string, st: fs.Stats): void {
  if (st.isDirectory()) fs.rmSync(B(p), { recursive: true, force: true });
  else fs.unlinkSync(B(p));
}

/**
 * Create a special file with a command at `target`. Command arguments are
 * UTF-8 text, so a name that is not valid UTF-8 is made under a plain
 * temporary name in the root and renamed into place (names are bytes).
 */
function makeNode(root: string, target: string, make: (at: string) => void): void {
  if (!hasEscapedBytes(target)) return make(target);
  const tmp = path.join(root, `.ocibuild-node-${process.pid}-${Date.now().toString(36)}`);
  make(tmp);
  fs.renameSync(tmp, B(target));
}

function run(cmd: string, args: string[], entry: string): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error || r.status !== 0) {
    throw invalid(entry, `${cmd} failed: ${r.error ? r.error.message : String(r.stderr).trim()}`, r.error);
  }
}

/**
 * Apply a layer (gzip or plain tar, detected) onto `rootDir` following the
 * OCI image layer spec: entries replace what is there (a directory entry
 * over an existing directory keeps its contents), `.wh.<name>` deletes
 * `<name>` and `.wh..wh..opq` clears its directory of everything from lower
 * layers (never what this layer adds), hardlinks link to paths in the tree,
 * modes and mtimes are applied (directories' at the end), owners only as
 * root or when `owners` says so.
 *
 * Nothing is written outside `rootDir`: names with '..' or a leading '/' are
 * refused, symlinks in a parent path are resolved inside the root (an
 * absolute target is re-rooted, '..' stops at the root, as containerd does,
 * so real images with `var/run -> /run` apply), and files are created
 * with O_EXCL|O_NOFOLLOW after removing what was there, so an existing
 * symlink is replaced, never written through.
 *
 * @throws OcibuildError LAYER_ESCAPE (with the entry name) or LAYER_INVALID.
 */
export async function applyLayer(stream: Readable | AsyncIterable<Uint8Array>, rootDir: string, options: ApplyLayerOptions = {}): Promise<ApplyLayerResult> {
  const root = path.resolve(rootDir);
  const rootStat = lstatOrNull(root);
  if (!rootStat?.isDirectory()) throw new OcibuildError('LAYER_INVALID', `apply target ${JSON.stringify(rootDir)} is not a directory`);
  const owners = options.owners ?? process.getuid?.() === 0;
  const isRoot = process.getuid?.() === 0;
  const created = new Set<string>();
  const createdAncestors = new Set<string>();
  // Directories this apply made (empty then): an entry in one is there only if this apply made it,
  // so its lstat is skipped (one system call of ~6 per file unpacked into an empty tree).
  const fresh = new Set<string>();
  const dirMeta = new Map<string, [mode: number, mtime: number]>();
  const skipped: SkippedEntry[] = [];
  let entries = 0;
  let end: { diffId: Digest; size: number } | undefined;

  // Resolved parent directories by layer path. Only removing a directory or a
  // symlink can change how a path resolves, so those clear the cache.
  const dirCache = new Map<string, string>();
  const resolveCached = (parts: string[], entry: string, create: boolean): string | null => {
    const key = parts.join('/');
    const hit = dirCache.get(key);
    if (hit !== undefined) return hit;
    const dir = resolveDir(root, parts, entry, create);
    if (dir !== null) dirCache.set(key, dir);
    return dir;
  };
  const remove = (p: string, st: fs.Stats) => {
    if (st.isDirectory() || st.isSymbolicLink()) dirCache.clear();
    removeAny(p, st);
  };

  const markCreated = (p: string) => {
    created.add(p);
    for (let d = path.dirname(p); d.length > root.length; d = path.dirname(d)) {
      if (createdAncestors.has(d)) break;
      createdAncestors.add(d);
    }
  };

  const finishXattrs = (h: TarHeader) => {
    skipped.push({ path: h.path, reason: `xattrs not applied (${Object.keys(h.xattrs).join(', ')}): node has no xattr API` });
  };
  const finish = (target: string, h: TarHeader, isLink: boolean) => {
    if (owners) fs.lchownSync(B(target), h.uid, h.gid);
    if (!isLink) fs.chmodSync(B(target), h.mode);
    if (Object.keys(h.xattrs).length > 0) finishXattrs(h);
  };

  for await (const { header: h, body } of readLayer(stream, { signal: options.signal, onEnd: (i) => (end = i) })) {
    entries++;
    const parts = components(h.path, h.path);
    if (parts.length === 0) continue; // the root itself: its metadata belongs to the target directory
    const base = parts[parts.length - 1]!;
    try {
      const wh = parseWhiteout(h);
      if (wh) {
        if (options.onWhiteout) {
          const dir = resolveCached(wh.dir, h.path, true)!;
          await options.onWhiteout(wh.name === undefined ? { dir } : { dir, name: wh.name });
          continue;
        }
        const dir = resolveCached(wh.dir, h.path, false);
        if (dir === null) continue;
        if (wh.name === undefined) {
          for (const name of fs.readdirSync(B(dir), { encoding: 'buffer' }).map(decodeFsName)) {
            const child = path.join(dir, name);
            if (created.has(child) || createdAncestors.has(child)) continue;
            dirCache.clear();
            fs.rmSync(B(child), { recursive: true, force: true });
          }
        } else {
          const victim = path.join(dir, wh.name);
          const rel = path.relative(root, victim);
          assert(rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel), `whiteout ${h.path} resolved outside ${root}`);
          const st = lstatOrNull(victim);
          if (st && !created.has(victim)) remove(victim, st);
        }
        continue;
      }
      if (base.startsWith('.wh.')) continue; // other aufs metadata (.wh..wh.plnk): no effect
      const dir = resolveCached(parts.slice(0, -1), h.path, true)!;
      const target = path.join(dir, base);
      const existing = fresh.has(dir) && !created.has(target) ? null : lstatOrNull(target);
      switch (h.type) {
        case 'directory': {
          if (existing && !existing.isDirectory()) remove(target, existing);
          if (!existing || !existing.isDirectory()) {
            fs.mkdirSync(B(target), { mode: 0o700 });
            fresh.add(target);
          }
          if (owners) fs.lchownSync(B(target), h.uid, h.gid);
          if (Object.keys(h.xattrs).length > 0) finishXattrs(h);
          // Mode and mtime at the end (a read-only directory must still take its children).
          dirMeta.set(target, [h.mode, h.mtime]);
          break;
        }
        case 'file': {
          if (existing) remove(target, existing);
          const fd = fs.openSync(B(target), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
          try {
            let got = 0;
            for await (const chunk of body) {
              let off = 0;
              while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
              got += chunk.length;
            }
            if (got !== h.size) throw invalid(h.path, `body has ${got} bytes, header says ${h.size}`);
            // Owner, then mode (a chown clears set-id bits), then times, on the open file: no path lookups.
            if (owners) fs.fchownSync(fd, h.uid, h.gid);
            fs.fchmodSync(fd, h.mode);
            fs.futimesSync(fd, h.mtime, h.mtime);
          } finally {
            fs.closeSync(fd);
          }
          if (Object.keys(h.xattrs).length > 0) finishXattrs(h);
          break;
        }
        case 'symlink': {
          if (existing) remove(target, existing);
          fs.symlinkSync(B(h.linkname), B(target));
          if (owners) fs.lchownSync(B(target), h.uid, h.gid);
          fs.lutimesSync(B(target), h.mtime, h.mtime);
          break;
        }
        case 'hardlink': {
          const lparts = components(h.linkname, h.path, 'link target');
          if (lparts.length === 0) throw invalid(h.path, 'hardlink to the root');
          const ldir = resolveCached(lparts.slice(0, -1), h.path, false);
          const source = ldir === null ? null : path.join(ldir, lparts[lparts.length - 1]!);
          const sst = source === null ? null : lstatOrNull(source);
          if (!sst) throw invalid(h.path, `hardlink target ${JSON.stringify(h.linkname)} does not exist`);
          if (sst.isDirectory()) throw invalid(h.path, `hardlink target ${JSON.stringify(h.linkname)} is a directory`);
          if (source === target) break;
          if (existing) remove(target, existing);
          fs.linkSync(B(source!), B(target));
          break;
        }
        case 'fifo': {
          if (existing) remove(target, existing);
          makeNode(root, target, (at) => run('mkfifo', ['-m', (h.mode & 0o777).toString(8), '--', at], h.path));
          finish(target, h, false);
          fs.utimesSync(B(target), h.mtime, h.mtime);
          break;
        }
        case 'char':
        case 'block': {
          if (!isRoot || options.devices === false) {
            // What the layer replaces is gone either way: the lower entry must not show through.
            if (existing) remove(target, existing);
            skipped.push({ path: h.path, reason: `${h.type} device ${h.devmajor}:${h.devminor} ${isRoot ? 'not written (device nodes were not asked for)' : 'needs root'}` });
            break;
          }
          if (existing) remove(target, existing);
          makeNode(root, target, (at) => run('mknod', ['-m', (h.mode & 0o777).toString(8), '--', at, h.type === 'char' ? 'c' : 'b', String(h.devmajor), String(h.devminor)], h.path));
          finish(target, h, false);
          fs.utimesSync(B(target), h.mtime, h.mtime);
          break;
        }
      }
      markCreated(target);
    } catch (e) {
      if (e instanceof OcibuildError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw invalid(h.path, `cannot apply: ${code ?? (e as Error).message}`, e);
    }
  }
  // Directory modes and mtimes last, deepest first, once nothing more is written into them.
  const dirs = [...dirMeta].filter(([d]) => lstatOrNull(d)?.isDirectory()).sort((a, b) => b[0].length - a[0].length);
  for (const [d, [mode, mtime]] of dirs) {
    fs.chmodSync(B(d), mode);
    fs.utimesSync(B(d), mtime, mtime);
  }
  if (!end) throw new OcibuildError('LAYER_INVALID', 'layer stream ended early');
  const result: { diffId: Digest; size: number } = end;
  if (options.expectedDiffId && result.diffId !== options.expectedDiffId) {
    throw new OcibuildError('DIGEST_MISMATCH', `layer diffId: expected ${options.expectedDiffId}, got ${result.diffId}`);
  }
  return { diffId: result.diffId, size: result.size, entries, skipped };
}
