/**
 * `COPY --from=<stage|image>` reads another root filesystem: its layers are
 * applied to a scratch directory (file bytes), while owners, modes and types
 * come from the layer headers (the RootfsView), so the copy is exact even when
 * the unpack ran without privileges.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { OcibuildError } from '../errors.js';
import type { SourceFs, SourceStat } from '../copy/types.js';
import { applyLayer } from '../layers/index.js';
import type { RootfsView } from './rootfs.js';

/** Applies `count` layers, in order, to `dir`. */
export async function materializeRootfs(count: number, openLayer: (i: number) => Promise<Readable>, dir: string, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < count; i++) {
    signal?.throwIfAborted();
    await applyLayer(await openLayer(i), dir, { ...(signal ? { signal } : {}) });
  }
}

/** A SourceFs whose metadata comes from `view` and whose bytes come from `dir`. */
export function rootfsSourceFs(view: RootfsView, dir: string, description: string): SourceFs {
  const abs = (rel: string) => (rel === '' ? dir : path.join(dir, ...rel.split('/')));
  return {
    description,
    async lstat(rel: string): Promise<SourceStat | undefined> {
      const st = await view.lstat('/' + rel);
      if (!st) return undefined;
      if (st.type === 'hardlink') {
        const target = st.linkname ? await view.lstat(st.linkname) : undefined;
        if (!target) return undefined;
        return { type: 'file', mode: target.mode, uid: target.uid, gid: target.gid, mtime: target.mtime, size: await fileSize(view, st.linkname!), linkKey: st.linkname };
      }
      return {
        type: st.type,
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        mtime: st.mtime,
        size: st.type === 'file' ? await fileSize(view, '/' + rel) : 0,
        // the primary file of a hardlink group carries the same key as its links
        ...(st.type === 'file' && view.isLinkTarget('/' + rel) ? { linkKey: '/' + rel } : {}),
      };
    },
    async readlink(rel: string) {
      return view.readlink('/' + rel);
    },
    async readdir(rel: string) {
      return view.readdir('/' + rel);
    },
    contentSource(rel: string) {
      return { kind: 'path', path: abs(rel) };
    },
  };
}

async function fileSize(view: RootfsView, p: string): Promise<number> {
  const size = view.sizeOf(p);
  if (size === undefined) throw new OcibuildError('LAYER_INVALID', `${p} has no size in its layer`);
  return size;
}
