/**
 * The exec (JSON) form: BuildKit's parseJSON. The text, left-trimmed, must start
 * with `[` and be a complete JSON document (Go encoding/json syntax, checked by
 * the `jsonArray` grammar); otherwise it is not JSON and the caller falls back
 * to the shell form. A valid array holding anything but strings is a hard error.
 */
import assert from 'node:assert/strict';
import type { ByteString } from './bytes.js';
import { decodeRune, encodeRune, leftSpaceEnd } from './bytes.js';
import type { JsonCst, LineGrammars } from './grammars.js';

/** Go's encoding/json refuses documents nested deeper than this. */
const MAX_NESTING_DEPTH = 10000;

/** BuildKit's message for a JSON array holding a non-string. */
export const JSON_NOT_STRINGS = 'when using JSON array syntax, arrays must be comprised of strings only';

/** One array element: its value (a byte string) and its byte range in the input. */
export interface JsonElement {
  value: ByteString;
  start: number;
  end: number;
}

/** Result of `parseJsonArray`. */
export type JsonArrayResult =
  | { kind: 'array'; elements: JsonElement[] }
  | { kind: 'not-json' }
  | { kind: 'not-strings'; start: number; end: number };

function nestingTooDeep(text: ByteString): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_NESTING_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

function hex4(s: ByteString, i: number): number {
  if (i + 6 > s.length || s[i] !== '\\' || s[i + 1] !== 'u') return -1;
  const h = s.slice(i + 2, i + 6);
  return /^[0-9a-fA-F]{4}$/.test(h) ? parseInt(h, 16) : -1;
}

/** Go's encoding/json unquote of a string token (quotes included), as UTF-8 bytes. */
export function unquoteJsonString(token: ByteString): ByteString {
  const s = token.slice(1, -1);
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) {
      const e = s[i + 1];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          i += 2;
          continue;
        case 'b':
          out += '\b';
          i += 2;
          continue;
        case 'f':
          out += '\f';
          i += 2;
          continue;
        case 'n':
          out += '\n';
          i += 2;
          continue;
        case 'r':
          out += '\r';
          i += 2;
          continue;
        case 't':
          out += '\t';
          i += 2;
          continue;
        case 'u': {
          let r = hex4(s, i);
          i += 6;
          if (r >= 0xd800 && r <= 0xdfff) {
            const r2 = hex4(s, i);
            if (r < 0xdc00 && r2 >= 0xdc00 && r2 <= 0xdfff) {
              out += encodeRune(((r - 0xd800) << 10) + (r2 - 0xdc00) + 0x10000);
              i += 6;
              continue;
            }
            r = 0xfffd;
          }
          out += encodeRune(r);
          continue;
        }
        default:
          // The lexer only accepts valid escapes.
          assert.fail(`bad JSON escape in ${JSON.stringify(token)}`);
      }
    }
    if (c < 0x80) {
      out += s[i];
      i++;
      continue;
    }
    const [r, w] = decodeRune(s, i);
    out += encodeRune(r);
    i += w;
  }
  return out;
}

function firstNonString(items: JsonCst[]): JsonCst | undefined {
  return items.find((item) => item.kind !== 'string');
}

function cstRange(item: JsonCst): [number, number] {
  switch (item.kind) {
    case 'string':
    case 'scalar':
      return [item.tok.offset, item.tok.offset + item.tok.text.length];
    case 'array':
    case 'object':
      return [item.start.offset, item.end.offset + item.end.text.length];
  }
}

/**
 * Parse `text` (a byte string) as BuildKit's JSON form. Offsets in the result
 * are byte indexes into `text`.
 */
export function parseJsonArray(grammars: LineGrammars, text: ByteString): JsonArrayResult {
  const start = leftSpaceEnd(text);
  if (text.charCodeAt(start) !== 0x5b) return { kind: 'not-json' };
  const body = text.slice(start);
  if (nestingTooDeep(body)) return { kind: 'not-json' };
  const parsed = grammars.parseJsonArray(body);
  if (!parsed.ok) return { kind: 'not-json' };
  const root = parsed.value;
  assert.ok(root.kind === 'array', 'jsonArray is not an array');
  const bad = firstNonString(root.items);
  if (bad) {
    const [a, b] = cstRange(bad);
    return { kind: 'not-strings', start: start + a, end: start + b };
  }
  return {
    kind: 'array',
    elements: root.items.map((item) => {
      const [a, b] = cstRange(item);
      return { value: unquoteJsonString(item.kind === 'string' ? item.tok.text : ''), start: start + a, end: start + b };
    }),
  };
}
