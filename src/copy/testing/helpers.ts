/** Test support for src/copy: temp trees and exact layer listings. Not part of the build. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { normalizeTarName, readLayer } from '../../layers/read.js';
import type { LayerEntry } from '../../layers/types.js';
import { fsPath } from '../../fs-names.js';

/** A file (string or bytes, optional mode/mtime), a directory (`dir`), a symlink or a hardlink. */
export type TreeNode =
  | string
  | { data: string | Buffer; mode?: number; mtime?: number; uid?: number; gid?: number }
  | { dir: true; mode?: number; mtime?: number }
  | { symlink: string }
  | { hardlink: string };

/** Create `spec` under `root` (parents made 0755); paths are relative, '/'-separated. */
export function makeTree(root: string, spec: Record<string, TreeNode>): void {
  fs.mkdirSync(root, { recursive: true });
  for (const [rel, node] of Object.entries(spec)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof node === 'string') {
      fs.writeFileSync(p, node);
      fs.chmodSync(p, 0o644);
      fs.utimesSync(p, 1_600_000_000, 1_600_000_000);
    } else if ('dir' in node) {
      fs.mkdirSync(p, { recursive: true });
      fs.chmodSync(p, node.mode ?? 0o755);
    } else if ('symlink' in node) {
      fs.symlinkSync(node.symlink, p);
    } else if ('hardlink' in node) {
      fs.linkSync(path.join(root, node.hardlink), p);
    } else {
      fs.writeFileSync(p, node.data);
      fs.chmodSync(p, node.mode ?? 0o644);
      const t = node.mtime ?? 1_600_000_000;
      fs.utimesSync(p, t, t);
      if (node.uid !== undefined) fs.chownSync(p, node.uid, node.gid ?? node.uid);
    }
  }
  // directory mtimes last, after their contents were written
  for (const [rel, node] of Object.entries(spec)) {
    if (typeof node === 'object' && 'dir' in node) {
      const t = node.mtime ?? 1_600_000_000;
      fs.utimesSync(path.join(root, rel), t, t);
    }
  }
}

/** A fresh temp directory (removed by {@link removeTemp}). */
export function tempDir(prefix = 'ocibuild-copy-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeTemp(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** First 12 hex digits of the SHA-256 of some content, as listings show it. */
export function h(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 12);
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/**
 * One line per entry, sorted by path: `<type> <path> <mode> <uid>:<gid>`, then
 * ` -> <linkname>` for links and ` <sha12>` for file contents.
 */
export function listEntries(entries: Iterable<LayerEntry>): string[] {
  return [...entries]
    .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
    .map((e) => {
      let line = `${e.type} ${e.path} ${octal(e.mode)} ${e.uid}:${e.gid}`;
      if (e.linkname !== undefined) line += ` -> ${e.linkname}`;
      if (e.type === 'file') {
        const s = e.source;
        let data: Buffer;
        if (!s) data = Buffer.alloc(0);
        else if (s.kind === 'path') data = fs.readFileSync(fsPath(s.path));
        else if (s.kind === 'buffer') data = Buffer.from(s.data);
        else throw new Error('stream sources are not listed');
        if (e.size !== data.length) throw new Error(`${e.path}: size ${e.size} but ${data.length} bytes`);
        line += ` ${h(data)}`;
      }
      return line;
    });
}

/** mtimes of entries by path (undefined = left to the writer). */
export function mtimes(entries: Iterable<LayerEntry>): Record<string, number | undefined> {
  return Object.fromEntries([...entries].map((e) => [e.path, e.mtime]));
}

/**
 * List a layer (plain or gzip) with src/layers' tar reader, in the format of
 * {@link listEntries} plus ` @<mtime>`; uname/gname must be empty.
 */
export async function listTar(tar: Buffer): Promise<string[]> {
  const out: string[] = [];
  for await (const { header: hd, body } of readLayer(Readable.from([tar]))) {
    if (hd.uname !== '' || hd.gname !== '') throw new Error(`${hd.path}: uname/gname must be empty`);
    let line = `${hd.type} ${normalizeTarName(hd.path)} ${octal(hd.mode & 0o7777)} ${hd.uid}:${hd.gid}`;
    if (hd.type === 'symlink') line += ` -> ${hd.linkname}`;
    if (hd.type === 'hardlink') line += ` -> ${normalizeTarName(hd.linkname)}`;
    line += ` @${Math.floor(hd.mtime)}`;
    if (hd.type === 'file') {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c);
      line += ` ${h(Buffer.concat(chunks))}`;
    }
    out.push(line);
  }
  return out;
}

/** One member of a hand-made tar (for archives GNU tar refuses to write, e.g. `../x`). */
export interface RawMember {
  name: string;
  /** ustar typeflag: '0' file, '1' hardlink, '2' symlink, '3' char, '5' directory. */
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  data?: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  devmajor?: number;
  devminor?: number;
}

/** A plain ustar archive with exactly these members, names as given (no cleaning). */
export function rawTar(members: RawMember[]): Buffer {
  const blocks: Buffer[] = [];
  const octalField = (b: Buffer, off: number, len: number, v: number) => b.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
  for (const m of members) {
    const data = Buffer.from(m.data ?? '');
    const hdr = Buffer.alloc(512);
    hdr.write(m.name, 0, 100, 'utf8');
    octalField(hdr, 100, 8, m.mode ?? (m.type === '5' ? 0o755 : 0o644));
    octalField(hdr, 108, 8, m.uid ?? 0);
    octalField(hdr, 116, 8, m.gid ?? 0);
    octalField(hdr, 124, 12, data.length);
    octalField(hdr, 136, 12, m.mtime ?? 0);
    hdr.write(m.type ?? '0', 156, 1, 'latin1');
    hdr.write(m.linkname ?? '', 157, 100, 'utf8');
    hdr.write('ustar\0', 257, 6, 'latin1');
    hdr.write('00', 263, 2, 'latin1');
    octalField(hdr, 329, 8, m.devmajor ?? 0);
    octalField(hdr, 337, 8, m.devminor ?? 0);
    hdr.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of hdr) sum += byte;
    hdr.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    blocks.push(hdr, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
