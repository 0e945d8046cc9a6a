/**
 * File names are bytes. Node decodes them as UTF-8, replacing what is not
 * valid with U+FFFD, which loses the name (the decoded name does not exist
 * on disk, and two names can decode alike). ocibuild keeps names as strings
 * everywhere, decoded losslessly as Python's `surrogateescape` does: each
 * byte of an invalid sequence becomes the lone surrogate U+DC80..U+DCFF.
 * Valid UTF-8 never yields a lone surrogate, so the mapping is a bijection:
 * `encodeFsName(decodeFsName(b))` is `b` for every byte string, and a valid
 * name is the ordinary string. `fsPath` gives what to hand the fs module.
 */
import { isUtf8 } from 'node:buffer';

const ESCAPED = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** Length of the valid UTF-8 sequence at `i` (0 if there is none). */
function utf8SequenceAt(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (j: number) => j < b.length && (b[j]! & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const c1 = b[i + 1];
    if (c1 === undefined || !cont(i + 1) || !cont(i + 2)) return 0;
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 >= 0xa0) return 0; // a surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const c1 = b[i + 1];
    if (c1 === undefined || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c === 0xf4 && c1 >= 0x90) return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

/** A file name's bytes as a string, losslessly (invalid UTF-8 bytes become U+DC80..U+DCFF). */
export function decodeFsName(b: Uint8Array): string {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (isUtf8(buf)) return buf.toString('utf8');
  let out = '';
  let i = 0;
  while (i < buf.length) {
    const n = utf8SequenceAt(buf, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + buf[i]!);
      i++;
    } else {
      out += buf.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

/** True when `s` carries escaped bytes (a name that is not valid UTF-8). */
export function hasEscapedBytes(s: string): boolean {
  return ESCAPED.test(s);
}

/** The bytes of a name decoded by {@link decodeFsName} (UTF-8 otherwise). */
export function encodeFsName(s: string): Buffer {
  if (!hasEscapedBytes(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    const escaped = u >= 0xdc80 && u <= 0xdcff && !(i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff);
    if (escaped) {
      if (run) parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.from([u - 0xdc00]));
    } else {
      run += s[i];
    }
  }
  if (run) parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

/**
 * The byte order of two names' encodings ({@link encodeFsName}), as a sort
 * comparator, without encoding them when they first differ at an ASCII
 * character (almost always): the encodings share the bytes of the common
 * prefix, and an ASCII character is one byte. A shorter prefix sorts first.
 */
export function compareFsNames(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0x80 && y < 0x80) return x - y;
    return Buffer.compare(encodeFsName(a), encodeFsName(b));
  }
  if (a.length === b.length) return 0;
  // One is a prefix of the other: exact unless the prefix ends inside a surrogate pair.
  const last = n > 0 ? a.charCodeAt(n - 1) : 0;
  if (last >= 0xd800 && last <= 0xdbff) return Buffer.compare(encodeFsName(a), encodeFsName(b));
  return a.length - b.length;
}

/** What to give the fs module for a path that may carry escaped bytes: the string itself, or its bytes. */
export function fsPath(s: string): string | Buffer {
  return hasEscapedBytes(s) ? encodeFsName(s) : s;
}
