/**
 * Validation of layer entry names, shared by every reader of a layer (the tar
 * reader, the applier, the root-filesystem view): no absolute names, no '..',
 * no NUL, and whiteouts that name something strictly inside the tree.
 */
import { OcibuildError } from '../errors.js';
import type { TarHeader } from './tar-format.js';

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

function escape(name: string, why: string): OcibuildError {
  return new OcibuildError('LAYER_ESCAPE', `layer entry ${JSON.stringify(name)} ${why}`, { details: { path: name } });
}
function invalid(name: string, why: string): OcibuildError {
  return new OcibuildError('LAYER_INVALID', `layer entry ${JSON.stringify(name)}: ${why}`, { details: { path: name } });
}

/**
 * Split a layer entry name (or hardlink target) into components, dropping
 * empty and '.' components. An empty result is the root.
 *
 * @throws OcibuildError LAYER_ESCAPE for an absolute name or a '..' component, LAYER_INVALID for a NUL byte.
 */
export function layerPathParts(name: string, entry: string = name, what = 'name'): string[] {
  if (name.startsWith('/')) throw escape(entry, `has an absolute ${what} (${JSON.stringify(name)})`);
  if (name.includes('\0')) throw invalid(entry, `${what} contains a NUL byte`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw escape(entry, `has a '..' component in its ${what} (${JSON.stringify(name)})`);
    out.push(c);
  }
  return out;
}

/** A whiteout entry, parsed: the directory it acts in, and the name it deletes (none: opaque marker). */
export interface ParsedWhiteout {
  /** Components of the directory the whiteout sits in (empty: the root of the layer). */
  dir: string[];
  /** The name deleted in `dir`; undefined for the opaque marker `.wh..wh..opq`. */
  name?: string;
}

/**
 * Parse a tar entry as a whiteout. Returns null for an entry that is not one
 * (including other `.wh..wh.*` metadata, which has no effect). A whiteout
 * must delete a name strictly inside the tree: `.wh.` (empty name), `.wh..`
 * (`.`) and `.wh...` (`..`) are refused wherever they sit.
 *
 * @throws OcibuildError LAYER_ESCAPE for a whiteout of '', '.' or '..' or a bad directory part; LAYER_INVALID for a whiteout that is not a regular file.
 */
export function parseWhiteout(header: Pick<TarHeader, 'path' | 'type'>): ParsedWhiteout | null {
  const parts = layerPathParts(header.path);
  const base = parts[parts.length - 1];
  if (base === undefined || !base.startsWith(WH)) return null;
  if (base === OPAQUE) {
    if (header.type !== 'file') throw invalid(header.path, `an opaque marker must be a regular file, not a ${header.type}`);
    return { dir: parts.slice(0, -1) };
  }
  if (base.startsWith(`${WH}${WH}`)) return null; // aufs metadata (.wh..wh.plnk, ...): ignored
  const name = base.slice(WH.length);
  if (name === '' || name === '.' || name === '..') {
    throw escape(header.path, `is a whiteout of ${JSON.stringify(name)}, which would delete ${name === '..' ? 'the parent of its directory' : 'its own directory'}`);
  }
  if (header.type !== 'file') throw invalid(header.path, `a whiteout must be a regular file, not a ${header.type}`);
  return { dir: parts.slice(0, -1), name };
}

/**
 * Check one entry of a layer as every reader must: its name and (for a
 * hardlink) its target stay inside the tree, and a whiteout names something
 * strictly inside it.
 *
 * @throws OcibuildError LAYER_ESCAPE or LAYER_INVALID, naming the entry.
 */
export function validateLayerEntry(header: Pick<TarHeader, 'path' | 'type' | 'linkname'>): void {
  parseWhiteout(header);
  if (header.type === 'hardlink') {
    const target = layerPathParts(header.linkname, header.path, 'link target');
    if (target.length === 0) throw invalid(header.path, 'hardlink to the root');
  }
}
