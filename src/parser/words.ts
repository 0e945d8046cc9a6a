/**
 * BuildKit's argument splitters (line_parsers.go), on byte strings. Quotes and
 * escapes are kept; removing them is the compiler's job (shell processing).
 */
import type { ByteString } from './bytes.js';
import { decodeRune, encodeRune, isSpaceRune } from './bytes.js';

/** A word and its byte range in the input. */
export interface Word {
  text: ByteString;
  start: number;
  end: number;
}

/**
 * BuildKit's parseWords: split on (Unicode) whitespace outside quotes, keeping
 * quotes and escapes; an escape at the very end is dropped. Runes are decoded
 * as Go does, so invalid UTF-8 becomes U+FFFD.
 */
export function splitWords(rest: ByteString, escapeToken: number): Word[] {
  const IN_SPACES = 0;
  const IN_WORD = 1;
  const IN_QUOTE = 2;
  const words: Word[] = [];
  let phase = IN_SPACES;
  let quote = 0;
  let blankOK = false;
  let word = '';
  let wordStart = 0;
  let ch = 0;
  let width = 0;
  const n = rest.length;
  for (let pos = 0; pos <= n; pos += width) {
    if (pos !== n) [ch, width] = decodeRune(rest, pos);
    if (phase === IN_SPACES) {
      if (pos === n) break;
      if (isSpaceRune(ch)) continue;
      phase = IN_WORD;
      wordStart = pos;
    }
    if ((phase === IN_WORD || phase === IN_QUOTE) && pos === n) {
      if (blankOK || word.length > 0) words.push({ text: word, start: wordStart, end: n });
      break;
    }
    if (phase === IN_WORD) {
      if (isSpaceRune(ch)) {
        phase = IN_SPACES;
        if (blankOK || word.length > 0) words.push({ text: word, start: wordStart, end: pos });
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
      }
      if (ch === escapeToken) {
        if (pos + width === n) continue;
        word += encodeRune(ch);
        pos += width;
        [ch, width] = decodeRune(rest, pos);
      }
      word += encodeRune(ch);
      continue;
    }
    // IN_QUOTE
    if (ch === quote) phase = IN_WORD;
    if (ch === escapeToken && quote !== 0x27) {
      if (pos + width === n) {
        phase = IN_WORD;
        continue;
      }
      pos += width;
      word += encodeRune(ch);
      [ch, width] = decodeRune(rest, pos);
    }
    word += encodeRune(ch);
  }
  return words;
}

/** BuildKit's reWhitespace split (`[\t\v\f\r ]+`), with byte ranges; '' gives no words. */
export function splitWhitespace(rest: ByteString, limit = Infinity): Word[] {
  if (rest === '') return [];
  const out: Word[] = [];
  const whitespace = /[\t\v\f\r ]+/g;
  let start = 0;
  for (;;) {
    if (out.length === limit - 1) break;
    const m = whitespace.exec(rest);
    if (!m) break;
    out.push({ text: rest.slice(start, m.index), start, end: m.index });
    start = m.index + m[0].length;
  }
  out.push({ text: rest.slice(start), start, end: rest.length });
  return out;
}

/** Byte-wise unicode.IsSpace, as BuildKit's HEALTHCHECK and flag parsers apply it. */
export function isSpaceByte(b: number): boolean {
  return isSpaceRune(b);
}
