/**
 * Tar header encoding and decoding (POSIX ustar + pax), kept small and
 * allocation-light: the writer encodes one header per entry on the hot path.
 *
 * Written by us rather than with node-tar's `Header`/`Pax` because those
 * cannot encode `SCHILY.xattr.*` records, parse pax records line by line
 * (binary xattr values and values with newlines break), and allocate a Date
 * per field. The format follows POSIX.1-2001 (pax) as GNU tar and Go's
 * archive/tar read it.
 */
import { OcibuildError } from '../errors.js';
import { decodeFsName, encodeFsName, hasEscapedBytes } from '../fs-names.js';

export const BLOCK = 512;

/** Tar type flags we write and read. */
export const TypeFlag = {
  file: 0x30, // '0'
  oldFile: 0x00, // '\0' (pre-POSIX regular file)
  hardlink: 0x31, // '1'
  symlink: 0x32, // '2'
  char: 0x33, // '3'
  block: 0x34, // '4'
  directory: 0x35, // '5'
  fifo: 0x36, // '6'
  contiguous: 0x37, // '7' (treated as a regular file)
  paxLocal: 0x78, // 'x'
  paxGlobal: 0x67, // 'g'
  gnuLongName: 0x4c, // 'L'
  gnuLongLink: 0x4b, // 'K'
} as const;

/** The entry kinds a tar stream can hold (whiteouts are ordinary files by name). */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** A decoded tar entry header, pax and GNU long-name records applied. */
export interface TarHeader {
  /** Entry name as stored (no normalisation besides dropping a trailing '/'). */
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Body length in bytes (0 for everything but files). */
  size: number;
  /** Seconds since the epoch (fractional when a pax mtime says so). */
  mtime: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** `SCHILY.xattr.*` pax records. */
  xattrs: Record<string, Buffer>;
}

/** What the writer hands to {@link encodeHeader}. Strings are already validated. */
export interface HeaderFields {
  path: string;
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs?: Record<string, Uint8Array>;
}

const MAX_OCTAL_7 = 0o7777777; // 8-byte fields: 7 digits + NUL
const MAX_OCTAL_11 = 0o77777777777; // 12-byte fields: 11 digits + NUL

function isAsciiPrintable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** Write `value` as zero-padded octal with a trailing NUL into `width` bytes. */
function writeOctal(buf: Buffer, off: number, width: number, value: number): void {
  const s = value.toString(8);
  const digits = width - 1;
  let p = off;
  for (let i = s.length; i < digits; i++) buf[p++] = 0x30;
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
  buf[p] = 0;
}

/** GNU base-256 encoding for numbers that do not fit in octal. */
function writeBase256(buf: Buffer, off: number, width: number, value: number): void {
  buf[off] = 0x80;
  let v = value;
  for (let i = off + width - 1; i > off; i--) {
    buf[i] = v % 256;
    v = Math.floor(v / 256);
  }
}

/** Encode a numeric field; returns false when a pax record must carry the exact value. */
function writeNumber(buf: Buffer, off: number, width: number, value: number): boolean {
  const max = width === 8 ? MAX_OCTAL_7 : MAX_OCTAL_11;
  if (value >= 0 && value <= max && Number.isInteger(value)) {
    writeOctal(buf, off, width, value);
    return true;
  }
  if (value >= 0 && Number.isSafeInteger(value)) writeBase256(buf, off, width, value);
  else writeOctal(buf, off, width, 0);
  return false;
}

/** Write at most `width` bytes of `s` (UTF-8), cut at a character boundary; the rest stays NUL. */
function writeString(buf: Buffer, off: number, width: number, s: string): boolean {
  const n = Buffer.byteLength(s);
  if (n <= width && isAsciiPrintable(s)) {
    buf.write(s, off, width, 'latin1');
    return true;
  }
  // Does not fit (or is not portable ustar text): store a truncated copy, pax holds the truth.
  if (hasEscapedBytes(s)) encodeFsName(s).copy(buf, off, 0, Math.min(width, encodeFsName(s).length));
  else buf.write(s, off, width, 'utf8');
  return false;
}

function checksum(buf: Buffer, off: number): number {
  let sum = 8 * 0x20; // the checksum field itself counts as spaces
  for (let i = off; i < off + 148; i++) sum += buf[i]!;
  for (let i = off + 156; i < off + BLOCK; i++) sum += buf[i]!;
  return sum;
}

function finishHeader(buf: Buffer, off: number): void {
  const sum = checksum(buf, off);
  writeOctal(buf, off + 148, 7, sum); // 6 digits + NUL
  buf[off + 155] = 0x20; // then a space, as POSIX and GNU tar write it
}

/** One pax record: `"<len> <key>=<value>\n"`, where len counts the whole record. */
export function paxRecord(key: string, value: string | Uint8Array): Buffer {
  const v = typeof value === 'string' ? encodeFsName(value) : value; // names are bytes (see fs-names.ts)
  const rest = Buffer.byteLength(key) + v.length + 3; // ' ', '=', '\n'
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  const head = Buffer.from(`${len} ${key}=`, 'utf8');
  const out = Buffer.allocUnsafe(len);
  head.copy(out, 0);
  out.set(v, head.length);
  out[len - 1] = 0x0a;
  return out;
}

function paxHeaderName(path: string): string {
  const slash = path.lastIndexOf('/');
  const base = slash >= 0 ? path.slice(slash + 1) : path;
  let name = `PaxHeaders/${base}`;
  while (Buffer.byteLength(name) > 99) name = name.slice(0, -1);
  return name;
}

function writeUstarBlock(buf: Buffer, off: number, f: HeaderFields, pax: Map<string, string | Uint8Array>): void {
  buf.fill(0, off, off + BLOCK);
  if (!writeString(buf, off, 100, f.path)) pax.set('path', f.path);
  writeOctal(buf, off + 100, 8, f.mode & 0o7777);
  if (!writeNumber(buf, off + 108, 8, f.uid)) pax.set('uid', String(f.uid));
  if (!writeNumber(buf, off + 116, 8, f.gid)) pax.set('gid', String(f.gid));
  if (!writeNumber(buf, off + 124, 12, f.size)) pax.set('size', String(f.size));
  if (!writeNumber(buf, off + 136, 12, f.mtime)) pax.set('mtime', String(f.mtime));
  buf[off + 156] = f.typeflag;
  if (f.linkname && !writeString(buf, off + 157, 100, f.linkname)) pax.set('linkpath', f.linkname);
  buf.write('ustar\x0000', off + 257, 8, 'latin1');
  // uname and gname stay empty (all NUL)
  if (!writeNumber(buf, off + 329, 8, f.devmajor)) pax.set('SCHILY.devmajor', String(f.devmajor));
  if (!writeNumber(buf, off + 337, 8, f.devminor)) pax.set('SCHILY.devminor', String(f.devminor));
}

/**
 * Encode the header block(s) of one entry: a pax extended header first when
 * a field does not fit ustar (long or non-ASCII names and link names, sizes
 * of 8 GiB and more, ids above 2097151, negative mtimes, xattrs), then the
 * ustar block. Pax records are sorted by key so the bytes are deterministic.
 */
export function encodeHeader(f: HeaderFields): Buffer {
  const pax = new Map<string, string | Uint8Array>();
  const main = Buffer.allocUnsafe(BLOCK);
  writeUstarBlock(main, 0, f, pax);
  if (f.xattrs) {
    for (const name of Object.keys(f.xattrs)) pax.set(`SCHILY.xattr.${name}`, f.xattrs[name]!);
  }
  if (pax.size === 0) {
    finishHeader(main, 0);
    return main;
  }
  const keys = [...pax.keys()].sort();
  const records = keys.map((k) => paxRecord(k, pax.get(k)!));
  const bodyLen = records.reduce((n, r) => n + r.length, 0);
  const padded = Math.ceil(bodyLen / BLOCK) * BLOCK;
  const out = Buffer.alloc(BLOCK + padded + BLOCK);
  const paxHead: HeaderFields = {
    path: paxHeaderName(f.path),
    typeflag: TypeFlag.paxLocal,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: bodyLen,
    mtime: f.mtime >= 0 && f.mtime <= MAX_OCTAL_11 ? f.mtime : 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
  };
  writeUstarBlock(out, 0, paxHead, new Map());
  finishHeader(out, 0);
  let p = BLOCK;
  for (const r of records) {
    r.copy(out, p);
    p += r.length;
  }
  main.copy(out, BLOCK + padded);
  finishHeader(out, BLOCK + padded);
  return out;
}

// ---------------------------------------------------------------- decoding

function readString(buf: Buffer, off: number, width: number): string {
  let end = off;
  const stop = off + width;
  while (end < stop && buf[end] !== 0) end++;
  return decodeFsName(buf.subarray(off, end));
}

function readNumber(buf: Buffer, off: number, width: number, field: string): number {
  const first = buf[off]!;
  if (first & 0x80) {
    if (first === 0xff) throw new OcibuildError('LAYER_INVALID', `tar header: negative base-256 ${field}`);
    let v = first & 0x7f;
    for (let i = off + 1; i < off + width; i++) v = v * 256 + buf[i]!;
    if (!Number.isSafeInteger(v)) throw new OcibuildError('LAYER_INVALID', `tar header: ${field} too large`);
    return v;
  }
  let i = off;
  const stop = off + width;
  while (i < stop && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let v = 0;
  let any = false;
  for (; i < stop; i++) {
    const c = buf[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw new OcibuildError('LAYER_INVALID', `tar header: invalid octal digit in ${field}`);
    v = v * 8 + (c - 0x30);
    any = true;
  }
  return any ? v : 0;
}

/** True when the 512 bytes at `off` are all zero (end-of-archive marker). */
export function isZeroBlock(buf: Buffer, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/** The raw fields of one header block, before pax or GNU records are applied. */
export interface RawHeader {
  name: string;
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

/** Decode one 512-byte header block; verifies the checksum. */
export function decodeRawHeader(buf: Buffer, off: number): RawHeader {
  const stored = readNumber(buf, off + 148, 8, 'checksum');
  const sum = checksum(buf, off);
  if (stored !== sum) {
    // Some old writers computed the sum with signed bytes.
    let signed = 8 * 0x20;
    for (let i = off; i < off + BLOCK; i++) {
      if (i >= off + 148 && i < off + 156) continue;
      const b = buf[i]!;
      signed += b > 127 ? b - 256 : b;
    }
    if (stored !== signed) throw new OcibuildError('LAYER_INVALID', 'tar header checksum mismatch (not a tar stream or corrupt)');
  }
  let name = readString(buf, off, 100);
  const magic = buf.toString('latin1', off + 257, off + 263);
  const ustar = magic === 'ustar\0' || magic === 'ustar ';
  let uname = '';
  let gname = '';
  let devmajor = 0;
  let devminor = 0;
  if (ustar) {
    uname = readString(buf, off + 265, 32);
    gname = readString(buf, off + 297, 32);
    devmajor = readNumber(buf, off + 329, 8, 'devmajor');
    devminor = readNumber(buf, off + 337, 8, 'devminor');
    if (magic === 'ustar\0') {
      const prefix = readString(buf, off + 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
  }
  return {
    name,
    typeflag: buf[off + 156]!,
    mode: readNumber(buf, off + 100, 8, 'mode'),
    uid: readNumber(buf, off + 108, 8, 'uid'),
    gid: readNumber(buf, off + 116, 8, 'gid'),
    size: readNumber(buf, off + 124, 12, 'size'),
    mtime: readNumber(buf, off + 136, 12, 'mtime'),
    linkname: readString(buf, off + 157, 100),
    uname,
    gname,
    devmajor,
    devminor,
  };
}

/** Parse a pax extended header body into key → raw value bytes. */
export function parsePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let p = 0;
  while (p < body.length) {
    if (body[p] === 0) break; // NUL padding
    const sp = body.indexOf(0x20, p);
    if (sp < 0) throw new OcibuildError('LAYER_INVALID', 'pax header: record without length');
    const lenText = body.toString('latin1', p, sp);
    if (!/^[1-9][0-9]*$/.test(lenText)) throw new OcibuildError('LAYER_INVALID', `pax header: invalid record length ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    const end = p + len;
    if (end > body.length || body[end - 1] !== 0x0a) throw new OcibuildError('LAYER_INVALID', 'pax header: record length does not match');
    const eq = body.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= end) throw new OcibuildError('LAYER_INVALID', 'pax header: record without "="');
    const key = body.toString('utf8', sp + 1, eq);
    out.set(key, body.subarray(eq + 1, end - 1));
    p = end;
  }
  return out;
}

function paxNumber(v: Buffer, key: string): number {
  const s = v.toString('latin1');
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(s)) throw new OcibuildError('LAYER_INVALID', `pax header: invalid ${key} ${JSON.stringify(s)}`);
  const n = Number(s);
  if (!Number.isFinite(n)) throw new OcibuildError('LAYER_INVALID', `pax header: invalid ${key}`);
  return n;
}

/** Apply pax records (global first, then local) to a raw header. */
export function applyPax(h: RawHeader, records: Map<string, Buffer>, xattrs: Record<string, Buffer>): void {
  for (const [key, v] of records) {
    switch (key) {
      case 'path':
        h.name = decodeFsName(v);
        break;
      case 'linkpath':
        h.linkname = decodeFsName(v);
        break;
      case 'size': {
        const n = paxNumber(v, key);
        if (n < 0 || !Number.isSafeInteger(n)) throw new OcibuildError('LAYER_INVALID', 'pax header: invalid size');
        h.size = n;
        break;
      }
      case 'uid':
      case 'gid': {
        const n = paxNumber(v, key);
        if (n < 0 || !Number.isSafeInteger(n)) throw new OcibuildError('LAYER_INVALID', `pax header: invalid ${key}`);
        h[key] = n;
        break;
      }
      case 'mtime':
        h.mtime = paxNumber(v, key);
        break;
      case 'uname':
      case 'gname':
        h[key] = v.toString('utf8');
        break;
      case 'SCHILY.devmajor':
        h.devmajor = paxNumber(v, key);
        break;
      case 'SCHILY.devminor':
        h.devminor = paxNumber(v, key);
        break;
      default:
        if (key.startsWith('SCHILY.xattr.')) xattrs[key.slice('SCHILY.xattr.'.length)] = Buffer.from(v);
        else if (key.startsWith('GNU.sparse.')) throw new OcibuildError('UNSUPPORTED', `tar entry ${JSON.stringify(h.name)}: sparse files are not supported`);
        break;
    }
  }
}

/** Map a type flag to our entry type; null for flags that are not entries. */
export function entryTypeOf(flag: number, name: string): TarEntryType | null {
  switch (flag) {
    case TypeFlag.file:
    case TypeFlag.contiguous:
      return 'file';
    case TypeFlag.oldFile:
      return name.endsWith('/') ? 'directory' : 'file';
    case TypeFlag.hardlink:
      return 'hardlink';
    case TypeFlag.symlink:
      return 'symlink';
    case TypeFlag.char:
      return 'char';
    case TypeFlag.block:
      return 'block';
    case TypeFlag.directory:
      return 'directory';
    case TypeFlag.fifo:
      return 'fifo';
    default:
      return null;
  }
}
