/**
 * Byte-exact text helpers.
 *
 * BuildKit's parser works on Go strings, which are byte sequences: some steps
 * are byte-wise (flag words, the HEALTHCHECK type), others decode UTF-8 rune by
 * rune and turn invalid bytes into U+FFFD (ENV/LABEL/ARG words, JSON, lower-casing).
 * To reproduce that exactly, the parser works internally on "byte strings": JS
 * strings whose every char code is one byte (0..255), i.e. latin1-decoded bytes.
 *
 * Values handed out in the tree are ordinary JS strings decoded from UTF-8 with a
 * lossless "surrogate escape": a byte that is not part of valid UTF-8 becomes the
 * lone surrogate U+DC80 + byte, so `encodeSourceText()` gives the original bytes
 * back and `dumpBuildkit` can print it as `\xHH` like Go does.
 */

import { RUNE_ERROR, decodeRune, encodeRune, encodeToByteString, goQuote, goQuoteBytes, isPrintRune, type ByteString } from '../go-quote.js';

export { decodeRune, encodeRune, encodeToByteString, goQuote, goQuoteBytes, isPrintRune, type ByteString };

/** Go's utf8.DecodeLastRune on a byte string: [rune, width]. */
export function decodeLastRune(s: ByteString, end: number): [number, number] {
  if (end <= 0) return [RUNE_ERROR, 0];
  const last = s.charCodeAt(end - 1);
  if (last < 0x80) return [last, 1];
  const lim = Math.max(0, end - 4);
  let start = end - 1;
  while (start > lim && (s.charCodeAt(start) & 0xc0) === 0x80) start--;
  const [r, w] = decodeRune(s, start, end);
  if (start + w !== end) return [RUNE_ERROR, 1];
  return [r, w];
}

/** Go's unicode.IsSpace. */
export function isSpaceRune(r: number): boolean {
  if (r <= 0xff) {
    return r === 0x20 || (r >= 0x09 && r <= 0x0d) || r === 0x85 || r === 0xa0;
  }
  return (
    r === 0x1680 ||
    (r >= 0x2000 && r <= 0x200a) ||
    r === 0x2028 ||
    r === 0x2029 ||
    r === 0x202f ||
    r === 0x205f ||
    r === 0x3000
  );
}

/** Go's bytes.TrimLeftFunc(s, unicode.IsSpace): index of the first non-space rune. */
export function leftSpaceEnd(s: ByteString, start = 0, end = s.length): number {
  let pos = start;
  while (pos < end) {
    const [r, w] = decodeRune(s, pos, end);
    if (r === RUNE_ERROR && w === 1) return pos;
    if (!isSpaceRune(r)) return pos;
    pos += w;
  }
  return pos;
}

/** Index just after the last non-space rune (the right half of Go's strings.TrimSpace). */
export function rightSpaceStart(s: ByteString, start = 0, end = s.length): number {
  let pos = end;
  while (pos > start) {
    const [r, w] = decodeLastRune(s, pos);
    if (r === RUNE_ERROR && w === 1) return pos;
    if (!isSpaceRune(r)) return pos;
    pos -= w;
  }
  return pos;
}

/** Go's strings.TrimLeftFunc(s, unicode.IsSpace). */
export function trimLeftSpace(s: ByteString): ByteString {
  return s.slice(leftSpaceEnd(s));
}

/** Go's strings.TrimSpace. */
export function trimSpace(s: ByteString): ByteString {
  const a = leftSpaceEnd(s);
  return s.slice(a, rightSpaceStart(s, a));
}

/** Iterate the runes of a byte string like Go's `for _, r := range s`. */
export function* runes(s: ByteString): Generator<[rune: number, pos: number, width: number]> {
  let pos = 0;
  while (pos < s.length) {
    const [r, w] = decodeRune(s, pos);
    yield [r, pos, w];
    pos += w;
  }
}

function isAsciiBytes(s: ByteString): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

function lowerRune(r: number): number {
  if (r < 0x80) return r >= 0x41 && r <= 0x5a ? r + 32 : r;
  const lowered = String.fromCodePoint(r).toLowerCase();
  const cp = lowered.codePointAt(0)!;
  // Go maps rune to rune; a multi-rune JS lowering (e.g. U+0130) keeps the rune.
  return lowered.length === String.fromCodePoint(cp).length ? cp : r;
}

/** Go's strings.ToLower on a byte string (non-ASCII input: invalid bytes become U+FFFD). */
export function goToLower(s: ByteString): ByteString {
  if (isAsciiBytes(s)) return s.toLowerCase();
  let out = '';
  for (const [r] of runes(s)) out += encodeRune(lowerRune(r));
  return out;
}

/** Bytes → byte string. */
export function bytesToByteString(bytes: Uint8Array): ByteString {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Byte string → bytes. */
export function byteStringToBytes(s: ByteString): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

/**
 * Decode a byte string as UTF-8 with surrogate escapes: each byte that is not
 * part of a valid UTF-8 sequence becomes the lone surrogate U+DC80 + byte.
 */
export function decodeByteString(s: ByteString): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return s;
  let out = '';
  let pos = 0;
  while (pos < s.length) {
    const [r, w] = decodeRune(s, pos);
    if (r === RUNE_ERROR && w === 1) out += String.fromCharCode(0xdc00 | s.charCodeAt(pos));
    else out += String.fromCodePoint(r);
    pos += w;
  }
  return out;
}

/** A byte string as text for people (messages): invalid UTF-8 becomes U+FFFD. */
export function displayByteString(s: ByteString): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}


/**
 * The bytes a string from the syntax tree stands for (heredoc bodies, arguments):
 * UTF-8, with the parser's escapes for invalid bytes turned back into those bytes.
 */
export function encodeSourceText(text: string): Uint8Array {
  return byteStringToBytes(encodeToByteString(text));
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/**
 * A message safe for a terminal: every non-printable character of the input it
 * quotes (control bytes, escape sequences, invalid UTF-8 bytes, bidi controls)
 * is written as Go's `%q` would (`\x1b`, `\u202e`); newlines and tabs stay.
 */
export function escapeNonPrintable(message: string): string {
  if (/^[\x20-\x7e\n\t]*$/.test(message)) return message;
  let out = '';
  for (const ch of message) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x0a || cp === 0x09 || isPrintRune(cp)) out += ch;
    else if (cp >= 0xdc80 && cp <= 0xdcff) out += '\\x' + hex(cp & 0xff, 2); // a raw byte of invalid UTF-8
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd';
    else if (cp < 0x80) out += '\\x' + hex(cp, 2);
    else if (cp < 0x10000) out += '\\u' + hex(cp, 4);
    else out += '\\U' + hex(cp, 8);
  }
  return out;
}
