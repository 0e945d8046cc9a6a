/**
 * `COPY --from=<stage|image>` reads another root filesystem: the metadata of
 * every path (owners, modes, types, links, whiteouts applied) comes from the
 * union view of the layer headers, and a file's bytes from the unpacked tree
 * of the layer that holds it (`ensureLayerUnpacked`: made once per diffId,
 * shared with RUN's lower dirs). Nothing is unpacked per build, and the copy
 * is exact even when the trees were unpacked without privileges. A file the
 * caller cannot read (rootless, owned by a subordinate id, not world-readable)
 * is read by `cat` inside the user namespace that maps its owner.
 */
import fs from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import type { SourceFs, SourceStat } from '../copy/types.js';
import type { LayerEntrySource } from '../layers/types.js';
import { readInUserns, rootlessUserns } from './unpacked.js';
import type { RootfsEntry, RootfsView } from './view.js';


const MAX_HOPS = 255;

/**
 * Where `tarPath` (an entry's name in its layer) is inside that layer's tree:
 * its parent resolved through the tree's own symlinks, as applying the layer
 * resolved it (never leaving the tree).
 */
function locateInTree(root: string, tarPath: string): string {
  const parts = tarPath.split('/').filter(Boolean);
  const name = parts.pop();
  if (name === undefined) return root;
  const stack: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const c = parts.shift()!;
    if (c === '.' || c === '') continue;
    if (c === '..') {
      stack.pop();
      continue;
    }
    const p = path.join(root, ...stack, c);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(p);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink()) {
      if (++hops > MAX_HOPS) throw new OcibuildError('LAYER_INVALID', `${tarPath} resolves through too many symbolic links`);
      const target = fs.readlinkSync(p);
      if (target.startsWith('/')) stack.length = 0;
      parts.unshift(...target.split('/'));
      continue;
    }
    stack.push(c);
  }
  return path.join(root, ...stack, name);
}

/**
 * A SourceFs whose metadata comes from `view` and whose bytes come from the
 * layers' unpacked trees (`trees[i]`: the tree of layer i).
 */
export function rootfsSourceFs(view: RootfsView, trees: readonly string[], description: string): SourceFs {
  /** A hardlink's target entry (hardlinks may name any non-directory). */
  const target = (e: RootfsEntry, p: string): { entry: RootfsEntry; path: string } => {
    if (e.type !== 'hardlink') return { entry: e, path: p };
    const t = e.linkname ? view.entry(e.linkname) : undefined;
    if (!t || t.type === 'hardlink' || t.type === 'directory') {
      throw new OcibuildError('LAYER_INVALID', `${p}: hardlink target ${JSON.stringify(e.linkname)} is not in the image`);
    }
    return { entry: t, path: e.linkname! };
  };
  return {
    description,
    async lstat(rel: string): Promise<SourceStat | undefined> {
      const p = '/' + rel;
      const e = view.entry(p);
      if (!e) return undefined;
      const { entry: t, path: tp } = target(e, p);
      const type = t.type as SourceStat['type'];
      return {
        type,
        mode: t.mode,
        uid: t.uid,
        gid: t.gid,
        mtime: t.mtime,
        size: type === 'file' ? t.size : 0,
        // the members of a hardlink group share a key: the path of the entry they link to
        ...(type === 'file' && (e.type === 'hardlink' || view.isLinkTarget(tp)) ? { linkKey: tp } : {}),
      };
    },
    async readlink(rel: string) {
      const p = '/' + rel;
      const e = view.entry(p);
      if (e?.type === 'hardlink') return view.readlink(target(e, p).path);
      return view.readlink(p);
    },
    async readdir(rel: string) {
      return view.readdir('/' + rel);
    },
    contentSource(rel: string): LayerEntrySource {
      const p = '/' + rel;
      const e = view.entry(p);
      if (!e) throw new OcibuildError('LAYER_INVALID', `${p} vanished from ${description}`);
      const { entry: t } = target(e, p);
      const root = trees[t.layer];
      if (root === undefined) throw new OcibuildError('LAYER_INVALID', `${p}: layer ${t.layer} of ${description} is not unpacked`);
      const file = locateInTree(root, t.tarPath);
      // Rootless with subordinate ids, trees hold files owned by ids we are not (a 0600 file of
      // uid 1000): unreadable here, so read from inside the user namespace that owns them.
      try {
        fs.accessSync(file, fs.constants.R_OK);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const userns = code === 'EACCES' || code === 'EPERM' ? rootlessUserns() : undefined;
        if (userns) return { kind: 'stream', open: async () => readInUserns(userns, file) };
      }
      return { kind: 'path', path: file };
    },
  };
}
