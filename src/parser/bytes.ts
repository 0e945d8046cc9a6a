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

/** A JS string whose char codes are all bytes (0..255). */
export type ByteString = string;

const RUNE_ERROR = 0xfffd;

/** Go's utf8.DecodeRune on a byte string: [rune, width]; invalid input gives [0xFFFD, 1]. */
export function decodeRune(s: ByteString, pos: number, n = s.length): [number, number] {
  const b0 = s.charCodeAt(pos);
  if (b0 < 0x80) return [b0, 1];
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    if (pos + 1 < n) {
      const b1 = s.charCodeAt(pos + 1);
      if ((b1 & 0xc0) === 0x80) return [((b0 & 0x1f) << 6) | (b1 & 0x3f), 2];
    }
    return [RUNE_ERROR, 1];
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (pos + 2 < n) {
      const b1 = s.charCodeAt(pos + 1);
      const b2 = s.charCodeAt(pos + 2);
      const lo = b0 === 0xe0 ? 0xa0 : 0x80;
      const hi = b0 === 0xed ? 0x9f : 0xbf;
      if (b1 >= lo && b1 <= hi && (b2 & 0xc0) === 0x80) {
        return [((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f), 3];
      }
    }
    return [RUNE_ERROR, 1];
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (pos + 3 < n) {
      const b1 = s.charCodeAt(pos + 1);
      const b2 = s.charCodeAt(pos + 2);
      const b3 = s.charCodeAt(pos + 3);
      const lo = b0 === 0xf0 ? 0x90 : 0x80;
      const hi = b0 === 0xf4 ? 0x8f : 0xbf;
      if (b1 >= lo && b1 <= hi && (b2 & 0xc0) === 0x80 && (b3 & 0xc0) === 0x80) {
        return [((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f), 4];
      }
    }
    return [RUNE_ERROR, 1];
  }
  return [RUNE_ERROR, 1];
}

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

/** UTF-8 encoding of one code point as a byte string (Go's utf8.EncodeRune, invalid → U+FFFD). */
export function encodeRune(cp: number): ByteString {
  if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = RUNE_ERROR;
  if (cp < 0x80) return String.fromCharCode(cp);
  if (cp < 0x800) return String.fromCharCode(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  if (cp < 0x10000) {
    return String.fromCharCode(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return String.fromCharCode(
    0xf0 | (cp >> 18),
    0x80 | ((cp >> 12) & 0x3f),
    0x80 | ((cp >> 6) & 0x3f),
    0x80 | (cp & 0x3f),
  );
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
 * Encode a string from the tree back to its source bytes as a byte string: the
 * inverse of the parser's decoding (lone surrogates U+DC80..U+DCFF become the raw
 * byte; any other lone surrogate becomes U+FFFD).
 */
export function encodeToByteString(text: string): ByteString {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      out += text[i];
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += encodeRune(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000);
        i++;
        continue;
      }
    }
    if (c >= 0xdc80 && c <= 0xdcff) {
      out += String.fromCharCode(c & 0xff);
      continue;
    }
    out += encodeRune(c);
  }
  return out;
}

/**
 * The bytes a string from the syntax tree stands for (heredoc bodies, arguments):
 * UTF-8, with the parser's escapes for invalid bytes turned back into those bytes.
 */
export function encodeSourceText(text: string): Uint8Array {
  return byteStringToBytes(encodeToByteString(text));
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's strconv.IsPrint. */
export function isPrintRune(r: number): boolean {
  if (r < 0x80) return r >= 0x20 && r < 0x7f;
  if (r >= 0xd800 && r <= 0xdfff) return false;
  return PRINTABLE.test(String.fromCodePoint(r));
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Go's strconv.Quote of a byte string. */
export function goQuoteBytes(s: ByteString): string {
  let out = '"';
  let pos = 0;
  while (pos < s.length) {
    const [r, w] = decodeRune(s, pos);
    if (r === RUNE_ERROR && w === 1) {
      out += '\\x' + hex(s.charCodeAt(pos), 2);
      pos += 1;
      continue;
    }
    pos += w;
    if (r === 0x22 || r === 0x5c) {
      out += '\\' + String.fromCharCode(r);
      continue;
    }
    if (isPrintRune(r)) {
      out += String.fromCodePoint(r);
      continue;
    }
    switch (r) {
      case 0x07:
        out += '\\a';
        continue;
      case 0x08:
        out += '\\b';
        continue;
      case 0x0c:
        out += '\\f';
        continue;
      case 0x0a:
        out += '\\n';
        continue;
      case 0x0d:
        out += '\\r';
        continue;
      case 0x09:
        out += '\\t';
        continue;
      case 0x0b:
        out += '\\v';
        continue;
    }
    if (r < 0x20 || r === 0x7f) out += '\\x' + hex(r, 2);
    else if (r < 0x10000) out += '\\u' + hex(r, 4);
    else out += '\\U' + hex(r, 8);
  }
  return out + '"';
}

/** Go's strconv.Quote of a string from the tree (invalid source bytes print as `\xHH`). */
export function goQuote(text: string): string {
  return goQuoteBytes(encodeToByteString(text));
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
