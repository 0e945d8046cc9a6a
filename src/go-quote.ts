/**
 * Go's strconv.Quote, byte-exact, and the UTF-8 helpers it needs: a shared
 * leaf (it imports nothing) so that the parser (dumps, messages) and the
 * engine (history text) quote alike without the engine importing the parser.
 *
 * A "byte string" is a JS string whose every char code is one byte (0..255),
 * i.e. latin1-decoded bytes. Strings from the syntax tree keep invalid UTF-8
 * bytes as lone surrogates U+DC80 + byte (see src/parser/bytes.ts), which
 * `goQuote` prints as `\xHH` as Go does.
 */

/** A JS string whose char codes are all bytes (0..255). */
export type ByteString = string;

/** U+FFFD, Go's utf8.RuneError. */
export const RUNE_ERROR = 0xfffd;

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
