/**
 * The layer of a RUN, from the overlay upper dir alone: what the command
 * created, changed or deleted, never the unchanged files below it. Overlay
 * whiteouts become OCI whiteouts: a 0/0 character device is `.wh.name`, a
 * directory with the opaque xattr (`trusted.overlay.opaque`, its `user.`
 * form under `userxattr`, or fuse-overlayfs's `user.fuseoverlayfs.opaque`)
 * gets `.wh..wh..opq`; fuse-overlayfs's file forms (`.wh.name`,
 * `.wh..wh..opq`) are read too. Mount points the sandbox had to create
 * (/proc, /dev, /sys, /etc/hosts, ...) leave no trace, and neither do the
 * directories that were copied up only to hold them, as BuildKit does.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { entriesFromDirectory, sortElectingHardlinks } from '../layers/walk.js';
import type { LayerEntry } from '../layers/types.js';

/** Host ids back to the ids inside the sandbox (rootless: the caller is 0). */
export type OwnerMap = (uid: number, gid: number) => { uid: number; gid: number };

/** Options of {@link snapshotUpper}. */
export interface SnapshotOptions {
  /** Opaque xattr names to look for (default both overlay forms). */
  opaqueXattrs?: readonly string[];
  /** Layer paths (no leading '/') that were mount stubs created by the sandbox: dropped when still empty. */
  stubs?: readonly string[];
  /** Directories copied up only because a stub was created in them: dropped when nothing else changed in them. */
  stubParents?: readonly string[];
  mapOwner?: OwnerMap;
  /**
   * Rootless with subordinate ids: the upper dir holds files of ids we are
   * not, so it is listed (and unreadable files are read) from inside a user
   * namespace with the sandbox's mapping: this command prefix (`unshare
   * --user ...`). Owners then come as the sandbox saw them (no `mapOwner`).
   */
  usernsPrefix?: readonly string[];
  /**
   * The lower dirs, top first: an opaque marker on a directory none of them
   * has means nothing and is left out (fuse-overlayfs marks every new directory).
   */
  lowerDirs?: readonly string[];
  signal?: AbortSignal;
}

/** Names overlay implementations keep for themselves (fuse-overlayfs's `.wh..opq` device, `.wh..wh.*`). */
function isMarker(base: string): boolean {
  return base === '.wh..opq' || base.startsWith('.wh..wh.');
}

/** Decodes getfattr's octal escapes (`\012`, `\\`). */
function unescapeGetfattr(s: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length + 0 && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString('latin1'))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else if (raw[i] === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i++;
    } else bytes.push(raw[i]!);
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Paths (relative to `root`) of entries having one of the xattrs set to "y", read with one `getfattr -R`
 * (`-h`: a symlink's own attributes, never its target's, so dangling and absolute links are no error).
 */
export async function listOpaqueDirs(root: string, names: readonly string[], prefix: readonly string[] = []): Promise<Set<string>> {
  const pattern = '^(' + names.map((n) => n.replace(/\./g, '\\.')).join('|') + ')$';
  const args = ['-R', '-P', '-h', '--absolute-names', '-m', pattern, '-d', '--', root];
  const out = await new Promise<string>((resolve, reject) => {
    const child = prefix.length > 0 ? spawn('unshare', [...prefix, 'getfattr', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn('getfattr', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      reject(new OcibuildError('SANDBOX_UNAVAILABLE', `cannot read opaque directories: getfattr is not installed`, { cause: e, hint: 'install Debian\'s "attr" package' })),
    );
    child.on('close', (code) => {
      // getfattr exits 1 when some file has none of the attributes: only stderr tells real errors.
      if (code !== 0 && err.trim() !== '') reject(new OcibuildError('SANDBOX_ERROR', `getfattr failed on ${root}: ${err.trim()}`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
  const result = new Set<string>();
  let current: string | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = unescapeGetfattr(line.slice(8));
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq < 0) continue;
    if (names.includes(line.slice(0, eq)) && line.slice(eq + 1) === '"y"') {
      const rel = path.relative(root, current).split(path.sep).join('/');
      if (rel !== '' && !rel.startsWith('..')) result.add(rel);
    }
  }
  return result;
}

/** True for an overlay whiteout: a character device 0/0. */
function isWhiteoutDevice(e: LayerEntry): boolean {
  return e.type === 'char' && (e.devmajor ?? 0) === 0 && (e.devminor ?? 0) === 0;
}

/**
 * The entries of the layer a RUN made, from its upper dir, sorted (the
 * writer takes them as they are, so the same changes give the same digest).
 */
export async function snapshotUpper(upperDir: string, options: SnapshotOptions = {}): Promise<LayerEntry[]> {
  const names = options.opaqueXattrs ?? ['trusted.overlay.opaque', 'user.overlay.opaque', 'user.fuseoverlayfs.opaque'];
  const [entries, opaque] = await Promise.all([
    options.usernsPrefix ? entriesInUserns(upperDir, options.usernsPrefix) : entriesFromDirectory(upperDir, { ...(options.signal ? { signal: options.signal } : {}) }),
    listOpaqueDirs(upperDir, names, options.usernsPrefix),
  ]);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const dropped = dropStubs(entries, options.stubs ?? [], options.stubParents ?? [], opaque);
  const out: LayerEntry[] = [];
  const map = options.mapOwner;
  // fuse-overlayfs marks an opaque directory three ways at once (xattr, `.wh..wh..opq`, a `.wh..opq` device).
  const opaqueDirs = new Set(opaque);
  for (const e of entries) {
    if (dropped.has(e.path) || [...dropped].some((d) => e.path.startsWith(d + '/'))) continue;
    const slash = e.path.lastIndexOf('/');
    const dir = slash < 0 ? '' : e.path.slice(0, slash);
    const base = e.path.slice(slash + 1);
    if (base === '.wh..wh..opq') {
      if (dir !== '') opaqueDirs.add(dir);
      continue;
    }
    if (isMarker(base)) continue;
    if (isWhiteoutDevice(e)) {
      out.push({ path: e.path, type: 'whiteout', mode: 0, uid: 0, gid: 0 });
      continue;
    }
    if (base.startsWith('.wh.')) {
      out.push({ path: dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`, type: 'whiteout', mode: 0, uid: 0, gid: 0 });
      continue;
    }
    out.push(map ? { ...e, ...map(e.uid, e.gid) } : e);
  }
  for (const d of opaqueDirs) {
    if (byPath.get(d)?.type !== 'directory' || dropped.has(d)) continue;
    if (options.lowerDirs && !existsInLowers(options.lowerDirs, d)) continue;
    out.push({ path: d, type: 'opaque', mode: 0, uid: 0, gid: 0 });
  }
  // The writer validates: sort by path, a directory before its opaque marker.
  const rank = (e: LayerEntry) => (e.type === 'opaque' ? 1 : 0);
  const keyed = out.map((e) => ({ e, k: Buffer.from(e.path, 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.k, b.k) || rank(a.e) - rank(b.e));
  return keyed.map((x) => x.e);
}

/**
 * The mount stubs the sandbox created that the command left alone (still an
 * empty file or directory), and the directories that hold nothing else:
 * their paths, to be left out of the layer with everything below them.
 */
export function dropStubs(entries: readonly LayerEntry[], stubList: readonly string[], stubParents: readonly string[], opaque: ReadonlySet<string>): Set<string> {
  const stubs = new Set(stubList);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  // Stubs the command left alone (still an empty file or directory) disappear with their stub-only parents.
  const dropped = new Set<string>();
  for (const s of stubs) {
    const e = byPath.get(s);
    if (!e) continue;
    const empty = e.type === 'directory' ? !entries.some((x) => x.path.startsWith(s + '/') && !isMarker(x.path.slice(x.path.lastIndexOf('/') + 1))) : e.type === 'file' && (e.size ?? 0) === 0;
    if (empty) dropped.add(s);
  }
  for (const p of [...stubParents].sort((a, b) => b.length - a.length)) {
    const e = byPath.get(p);
    if (!e || e.type !== 'directory' || opaque.has(p)) continue;
    if (entries.every((x) => !x.path.startsWith(p + '/') || dropped.has(x.path) || isMarker(x.path.slice(x.path.lastIndexOf('/') + 1)))) dropped.add(p);
  }
  return dropped;
}

/** True when `p` exists in the union of the lower dirs (top first), not hidden by a whiteout above it. */
export function existsInLowers(lowerDirs: readonly string[], rel: string): boolean {
  for (const dir of lowerDirs) {
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(path.join(dir, rel));
    } catch {
      continue;
    }
    if (st.isCharacterDevice() && st.rdev === 0) return false;
    return true;
  }
  return false;
}

/**
 * The entries of `root` listed by `find` inside a user namespace (`prefix`):
 * owners as the namespace sees them, every directory listable. Files the
 * caller cannot read are streamed by `cat` in the same kind of namespace;
 * the others are read directly. Sorted by path, hardlinks detected (inode),
 * as entriesFromDirectory does.
 */
export async function entriesInUserns(root: string, prefix: readonly string[]): Promise<LayerEntry[]> {
  const fields = 10;
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn('unshare', [...prefix, 'find', root, '-mindepth', '1', '-printf', '%P\\0%y\\0%m\\0%U\\0%G\\0%T@\\0%s\\0%l\\0%i\\0%n\\0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new OcibuildError('SANDBOX_ERROR', 'cannot list the RUN changes: find failed to start', { cause: e })));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new OcibuildError('SANDBOX_ERROR', `cannot list the RUN changes: ${err.trim() || `find exited with ${code}`}`))));
  });
  const parts = raw.toString('utf8').split('\0');
  const out: LayerEntry[] = [];
  const inodes = new Map<string, LayerEntry[]>();
  for (let i = 0; i + fields <= parts.length; i += fields) {
    const [rel, y, mode, uid, gid, mtime, size, link, ino, nlink] = parts.slice(i, i + fields) as [string, string, string, string, string, string, string, string, string, string];
    const base = { path: rel, mode: parseInt(mode, 8) & 0o7777, uid: Number(uid), gid: Number(gid), mtime: Math.floor(Number(mtime)) };
    const abs = path.join(root, rel);
    switch (y) {
      case 'd':
        out.push({ ...base, type: 'directory' });
        break;
      case 'l':
        out.push({ ...base, type: 'symlink', linkname: link });
        break;
      case 'p':
        out.push({ ...base, type: 'fifo' });
        break;
      case 'c':
        // In a user namespace only overlay whiteouts (0/0) can exist as character devices.
        out.push({ ...base, type: 'char', devmajor: 0, devminor: 0 });
        break;
      case 'f': {
        let readable = true;
        try {
          fs.accessSync(abs, fs.constants.R_OK);
        } catch {
          readable = false;
        }
        const e: LayerEntry = {
          ...base,
          type: 'file',
          size: Number(size),
          source: readable
            ? { kind: 'path', path: abs }
            : { kind: 'stream', open: async () => spawn('unshare', [...prefix, 'cat', '--', abs], { stdio: ['ignore', 'pipe', 'ignore'] }).stdout },
        };
        out.push(e);
        if (Number(nlink) > 1) {
          const group = inodes.get(ino);
          if (group) group.push(e);
          else inodes.set(ino, [e]);
        }
        break;
      }
      default:
        break; // sockets, doors: not representable in tar
    }
  }
  return sortElectingHardlinks(out, inodes.values());
}
