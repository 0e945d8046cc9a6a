/**
 * Local tar archives for ADD: compression detected from magic bytes (as
 * Docker does, never from the name), decompressed while streaming (gzip with
 * node:zlib; bzip2, xz and zstd through the system programs), entries
 * extracted to a private temp directory and re-rooted under the destination.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from '../layers/gzip.js';
import { Parser, type ReadEntry } from 'tar';
import { OcibuildError } from '../errors.js';
import { cleanPath, joinRel } from './paths.js';
import type { LayerPlan } from './plan.js';
import { directorySourceFs } from './source-fs.js';
import type { SourceStat } from './types.js';

/** Compression of an archive, from its first bytes. */
export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

/** Detect compression from magic bytes (moby `DetectCompression`). */
export function detectCompression(head: Uint8Array): Compression {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08) return 'gzip';
  if (b.length >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b.length >= 4 && b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return 'none';
}

const PROGRAMS: Record<'bzip2' | 'xz' | 'zstd', string[]> = {
  bzip2: ['bzip2', '-d', '-c'],
  xz: ['xz', '-d', '-c', '-T1'],
  zstd: ['zstd', '-d', '-c', '-q'],
};

/**
 * The decompressed bytes of `file`, streamed. External decompressors are
 * spawned with the file on stdin; a failing program fails the stream with its
 * stderr. Destroying the stream kills the program.
 */
export function openDecompressed(file: string, compression: Compression): Readable {
  const input = fs.createReadStream(file);
  if (compression === 'none') return input;
  if (compression === 'gzip') {
    const gunzip = createGunzip();
    input.on('error', (e) => gunzip.destroy(e));
    return input.pipe(gunzip);
  }
  const [cmd, ...args] = PROGRAMS[compression];
  const out = new PassThrough();
  const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  input.on('error', (e) => out.destroy(e));
  input.pipe(child.stdin);
  child.stdin.on('error', () => {
    /* EPIPE when we stop reading early: reported through the exit status */
  });
  child.stdout.pipe(out, { end: false });
  let exited = false;
  child.on('error', (e) => {
    exited = true;
    out.destroy(new OcibuildError('UNSUPPORTED', `cannot run ${cmd} to decompress ${path.basename(file)}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e, hint: `install ${cmd}` }));
  });
  child.on('close', (code, signal) => {
    exited = true;
    if (out.destroyed) return;
    if (code === 0) out.end();
    else out.destroy(new OcibuildError('LAYER_INVALID', `${cmd} failed to decompress ${path.basename(file)} (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
  });
  out.on('close', () => {
    if (!exited) child.kill('SIGKILL');
    input.destroy();
  });
  return out;
}

/** True when a 512-byte block is a tar header with a valid checksum (Go's tar.Reader.Next would accept it). */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  const b = Buffer.from(block.buffer, block.byteOffset, 512);
  if (b.every((x) => x === 0)) return false;
  const field = b.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const want = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return want === unsigned || want === signed;
}

/**
 * Whether `file` is a tar archive (plain or compressed), as BuildKit decides
 * before unpacking: known compression by magic bytes and a valid first tar
 * header after decompression. Returns the compression, or undefined.
 */
export async function detectArchive(file: string): Promise<Compression | undefined> {
  const fh = await fs.promises.open(file, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const compression = detectCompression(head);
  if (compression === 'none') return isTarHeader(head) ? 'none' : undefined;
  const block = await readPrefix(openDecompressed(file, compression), 512);
  return block && isTarHeader(block) ? compression : undefined;
}

async function readPrefix(stream: Readable, n: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let got = 0;
  try {
    for await (const c of stream) {
      chunks.push(c as Buffer);
      got += (c as Buffer).length;
      if (got >= n) break;
    }
  } catch {
    // corrupt or truncated compressed data: not an archive we can unpack
  } finally {
    stream.destroy();
  }
  return got >= n ? Buffer.concat(chunks).subarray(0, n) : undefined;
}

interface ArchiveItem {
  name: string;
  kind: 'file' | 'directory' | 'symlink' | 'hardlink' | 'fifo' | 'char' | 'block';
  stat: SourceStat;
  linkname?: string;
  /** Temp file holding the body of a regular file. */
  temp?: string;
}

function typeOfEntry(t: string): ArchiveItem['kind'] | undefined {
  switch (t) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'Directory':
      return 'directory';
    case 'SymbolicLink':
      return 'symlink';
    case 'Link':
      return 'hardlink';
    case 'FIFO':
      return 'fifo';
    case 'CharacterDevice':
      return 'char';
    case 'BlockDevice':
      return 'block';
    default:
      return undefined;
  }
}

/**
 * Clean an archive member name to a path relative to the extraction root
 * (BuildKit cleanRootTarPath): cleaned, leading `/` dropped (chroot-style),
 * '' for the root itself; a name still escaping (`../x`) is refused.
 */
export function archiveMemberPath(name: string, archive: string): string {
  const c = cleanPath(name).replace(/^\/+/, '');
  if (c === '.' || c === '') return '';
  if (c === '..' || c.startsWith('../')) {
    throw new OcibuildError('LAYER_ESCAPE', `${archive}: archive path ${JSON.stringify(name)} is outside the extraction root`);
  }
  return c;
}

/**
 * Resolve a member path through symlinks already present under the
 * extraction root (BuildKit resolveRootPath over os.Root): absolute link
 * targets are taken relative to the extraction root, relative ones that
 * leave it are refused. `followLeaf` for directories.
 */
async function resolveMember(plan: LayerPlan, destRel: string, name: string, followLeaf: boolean, label: string): Promise<string> {
  const reader = plan.linkReader();
  let cur = name;
  for (let hop = 0; hop < 255; hop++) {
    const parts = cur.split('/');
    const resolved: string[] = [];
    let followed = false;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '' || part === '.') continue;
      const candidate = [...resolved, part].join('/');
      if (i === parts.length - 1 && !followLeaf) {
        resolved.push(part);
        continue;
      }
      const kind = await plan.kindAt(joinRel(destRel, candidate));
      if (kind === undefined) {
        return [...resolved, ...parts.slice(i).filter((p) => p !== '' && p !== '.')].join('/');
      }
      if (kind !== 'symlink') {
        resolved.push(part);
        continue;
      }
      const target = await reader.readlink(joinRel(destRel, candidate));
      let next: string;
      if (target.startsWith('/')) {
        next = archiveMemberPath(target, label);
      } else {
        const parent = resolved.join('/');
        const joined = cleanPath(parent === '' ? target : `${parent}/${target}`);
        next = joined === '.' ? '' : joined;
        if (next === '..' || next.startsWith('../') || next.startsWith('/')) {
          throw new OcibuildError('LAYER_ESCAPE', `${label}: archive symlink ${JSON.stringify(candidate)} points outside the extraction root`);
        }
      }
      const remaining = parts.slice(i + 1).filter((p) => p !== '' && p !== '.').join('/');
      cur = remaining === '' ? next : next === '' ? remaining : `${next}/${remaining}`;
      followed = true;
      break;
    }
    if (!followed) return resolved.join('/');
  }
  throw new OcibuildError('LAYER_ESCAPE', `${label}: too many symlinks resolving archive path ${JSON.stringify(name)}`);
}

/**
 * Extract `file` (a tar archive with `compression`) under `destRel` of the
 * plan, `tar -x` style: later members replace earlier ones, missing parents
 * are created 0755, owners and modes come from the archive (unless --chown).
 * Member bodies are streamed to files under `workDir`. As BuildKit's unpack
 * (os.Root at the destination): members are resolved through symlinks inside
 * the extraction root, names or links leaving it are refused, the `./`
 * member is skipped, and only files, directories and links are supported.
 */
export async function extractArchiveInto(plan: LayerPlan, file: string, compression: Compression, destRel: string, workDir: string, label: string, signal?: AbortSignal): Promise<number> {
  const items: ArchiveItem[] = [];
  let n = 0;
  const pending: Promise<void>[] = [];
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const kind = typeOfEntry(entry.type);
      if (!kind) {
        entry.resume();
        return;
      }
      const h = entry.header;
      const stat: SourceStat = {
        type: kind === 'hardlink' ? 'file' : kind,
        mode: (entry.mode ?? 0) & 0o7777,
        uid: entry.uid ?? 0,
        gid: entry.gid ?? 0,
        mtime: entry.mtime ? Math.floor(entry.mtime.getTime() / 1000) : 0,
        size: kind === 'file' ? entry.size ?? 0 : 0,
      };
      if (kind === 'char' || kind === 'block') {
        stat.devmajor = h.devmaj ?? 0;
        stat.devminor = h.devmin ?? 0;
      }
      const item: ArchiveItem = { name: entry.path, kind, stat, linkname: entry.linkpath };
      items.push(item);
      if (kind === 'file') {
        const temp = `m${n++}`;
        item.temp = temp;
        pending.push(pipeline(entry, fs.createWriteStream(path.join(workDir, temp), { mode: 0o600 })));
      } else {
        entry.resume();
      }
    },
  });
  const failed = new Promise<never>((_, reject) => {
    parser.on('warn', (code: string, message: string) => {
      reject(new OcibuildError('LAYER_INVALID', `${label}: invalid tar archive: ${message} (${code})`));
    });
    parser.on('error', (e: Error) => reject(new OcibuildError('LAYER_INVALID', `${label}: invalid tar archive: ${e.message}`, { cause: e })));
  });
  failed.catch(() => undefined);
  const input = openDecompressed(file, compression);
  try {
    await Promise.race([pipeline(input, parser as unknown as Writable, { signal }), failed]);
    await Promise.race([Promise.all(pending), failed]);
  } catch (e) {
    input.destroy();
    if (e instanceof OcibuildError) throw e;
    throw new OcibuildError('LAYER_INVALID', `${label}: cannot extract: ${(e as Error).message}`, { cause: e });
  }

  const temps = directorySourceFs(workDir, { description: label });
  for (const it of items) {
    const rel = archiveMemberPath(it.name, label);
    if (rel === '') continue; // the archive's "./" itself is skipped, as BuildKit does
    const opRel = await resolveMember(plan, destRel, rel, it.kind === 'directory', label);
    if (opRel === '') continue;
    const target = joinRel(destRel, opRel);
    switch (it.kind) {
      case 'directory':
        await plan.putDir(target, it.stat, true, 'untar');
        break;
      case 'hardlink': {
        const linkRel = archiveMemberPath(it.linkname ?? '', label);
        if (linkRel === '') throw new OcibuildError('LAYER_ESCAPE', `${label}: archive hardlink ${JSON.stringify(it.name)} targets the extraction root`);
        const linkTarget = await resolveMember(plan, destRel, linkRel, false, label);
        plan.putHardlink(target, it.stat, joinRel(destRel, linkTarget));
        break;
      }
      case 'symlink':
        await plan.putLeaf(target, { ...it.stat, type: 'symlink' }, undefined, '', 'untar', it.linkname ?? '');
        break;
      case 'file':
        await plan.putLeaf(target, it.stat, temps, it.temp!, 'untar');
        break;
      default:
        // BuildKit's unpack supports regular files, directories and links only
        throw new OcibuildError('UNSUPPORTED', `${label}: unsupported tar entry ${JSON.stringify(it.name)} (${it.kind})`);
    }
  }
  return items.length;
}
