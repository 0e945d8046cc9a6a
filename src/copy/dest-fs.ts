/**
 * The destination image's filesystem from an unpacked root directory (e.g.
 * the store's unpacked layer tree), for destination symlink resolution,
 * existing directories and `--chown` name lookups.
 */
import fs from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { absClean, resolveInRoot, toRel } from './paths.js';
import type { DestFs, DestStat } from './types.js';
import { typeOf } from './source-fs.js';

/** Options of {@link directoryDestFs}. */
export interface DirectoryDestOptions {
  /**
   * Owner and mode as recorded in the image, when the tree on disk was
   * unpacked without privileges and cannot hold them. Return undefined to use
   * what is on disk.
   */
  metadata?: (path: string) => { uid: number; gid: number; mode?: number } | undefined;
}


/** A {@link DestFs} over an unpacked root filesystem directory. Reads never leave `root`. */
export function directoryDestFs(root: string, options: DirectoryDestOptions = {}): DestFs {
  const absRoot = path.resolve(root);
  const onDisk = (p: string) => {
    const rel = toRel(absClean(p));
    return rel === '' ? absRoot : path.join(absRoot, ...rel.split('/'));
  };
  const lstat = async (p: string): Promise<DestStat | undefined> => {
    // synchronous: one lstat per copied path, much cheaper than a thread-pool round trip
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(onDisk(p), { throwIfNoEntry: false });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') return undefined;
      throw new OcibuildError('LAYER_INVALID', `cannot read ${p} of the destination image: ${code ?? (e as Error).message}`, { cause: e });
    }
    if (!st) return undefined;
    const meta = options.metadata?.(absClean(p));
    return {
      type: typeOf(st),
      mode: meta?.mode ?? st.mode & 0o7777,
      uid: meta?.uid ?? st.uid,
      gid: meta?.gid ?? st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
  };
  const readlink = async (p: string) => {
    try {
      return await fs.promises.readlink(onDisk(p));
    } catch (e) {
      throw new OcibuildError('LAYER_INVALID', `cannot read link ${p} of the destination image: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
  };
  return {
    lstat,
    readlink,
    async readFile(p: string): Promise<Uint8Array | undefined> {
      const resolved = await resolveInRoot(
        {
          kind: async (rel) => {
            const st = await lstat('/' + rel);
            return st === undefined ? undefined : st.type === 'directory' ? 'directory' : st.type === 'symlink' ? 'symlink' : 'other';
          },
          readlink: (rel) => readlink('/' + rel),
        },
        p,
        true,
      );
      try {
        return await fs.promises.readFile(onDisk('/' + resolved));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
        throw new OcibuildError('LAYER_INVALID', `cannot read ${p} of the destination image: ${code ?? (e as Error).message}`, { cause: e });
      }
    },
  };
}
