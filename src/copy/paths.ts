/**
 * Slash-path helpers with Go `path.Clean` semantics and symlink resolution
 * scoped to a root (containerd `fs.RootPath`): a link can never lead out of
 * the root, `..` at the root stays at the root.
 */
import { OcibuildError } from '../errors.js';

/** Go `path.Clean` for slash paths (one implementation, in src/context). */
export { goClean as cleanPath } from '../context/go-path.js';
import { goClean as cleanPath } from '../context/go-path.js';

/** Clean `p` as an absolute path (`..` cannot climb above `/`). */
export function absClean(p: string): string {
  return cleanPath('/' + p);
}

/** An absolute clean path to the relative form used in layers ('' for the root). */
export function toRel(abs: string): string {
  return abs === '/' ? '' : abs.slice(1);
}

/** Join a relative layer path and a name. */
export function joinRel(dir: string, name: string): string {
  // Array join makes one flat string; `+` makes a rope of three, and planned entries keep
  // two such paths per file (a copy of 100,000 files holds them all at once).
  return dir === '' ? name : [dir, name].join('/');
}

/** Parent of a relative layer path ('' for top-level entries). */
export function parentRel(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

/** Last segment of a slash path. */
export function baseName(p: string): string {
  const c = cleanPath(p);
  if (c === '/') return '/';
  const i = c.lastIndexOf('/');
  return i < 0 ? c : c.slice(i + 1);
}

/**
 * The destination of a COPY/ADD as BuildKit computes it (pathRelativeToWorkingDir
 * + cleanPath): absolute, cleaned, and `isDir` when the written form ends in
 * `/` or `/.` (or is `.`/empty, or the root), which makes the destination a
 * directory.
 */
export function resolveDestination(dest: string, workdir = '/'): { path: string; isDir: boolean } {
  let p = dest;
  if (p === '' || p === '.') p = './';
  const abs = p.startsWith('/') ? p : `${workdir.endsWith('/') ? workdir : workdir + '/'}${p}`;
  const path = absClean(abs);
  const isDir = path === '/' || p.endsWith('/') || p.endsWith('/.') || p === '.';
  return { path, isDir };
}

/** The minimal filesystem view needed to resolve paths inside a root. */
export interface LinkReader {
  /** Kind of the entry at a relative path, or undefined when it does not exist. */
  kind(rel: string): Promise<'directory' | 'symlink' | 'other' | undefined>;
  readlink(rel: string): Promise<string>;
}

const MAX_LINKS = 255;

/**
 * Resolve a path inside a root the way containerd's `fs.RootPath` does: every
 * symlink met is resolved relative to the root (absolute targets are re-rooted,
 * `..` stops at the root), so the result always stays inside. With
 * `followFinal` false the last component is not followed. Returns a relative
 * cleaned path ('' for the root). Missing components are kept as they are.
 */
export async function resolveInRoot(fsv: LinkReader, path: string, followFinal: boolean, what = path): Promise<string> {
  let pending = absClean(path).split('/').filter((s) => s !== '');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const seg = pending.shift()!;
    if (seg === '.') continue;
    if (seg === '..') {
      done.pop();
      continue;
    }
    const candidate = [...done, seg].join('/');
    const isLast = pending.length === 0;
    if (isLast && !followFinal) {
      done.push(seg);
      break;
    }
    const kind = await fsv.kind(candidate);
    if (kind === 'symlink') {
      if (++links > MAX_LINKS) {
        throw new OcibuildError('CONTEXT_NOT_FOUND', `too many levels of symbolic links resolving ${JSON.stringify(what)}`);
      }
      const target = await fsv.readlink(candidate);
      const tsegs = target.split('/').filter((s) => s !== '');
      if (target.startsWith('/')) done.length = 0;
      pending = [...tsegs, ...pending];
      continue;
    }
    done.push(seg);
    if (kind === undefined) {
      // Does not exist: the rest cannot be links.
      for (const rest of pending) {
        if (rest === '.' || rest === '') continue;
        if (rest === '..') done.pop();
        else done.push(rest);
      }
      break;
    }
  }
  return done.join('/');
}
