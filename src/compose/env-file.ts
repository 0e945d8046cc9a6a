/**
 * `.env` files as Compose reads them: `KEY=VALUE` lines (an optional
 * `export ` before), `#` comments, values single-quoted (literal),
 * double-quoted (escapes `\n \t \\ \"`, may span lines, interpolated) or bare
 * (trimmed, a ` #` starts a comment, interpolated). Variables defined earlier
 * in the file and the given environment are visible to later values.
 */
import { interpolate, InterpolationError } from './interpolate.js';

/** A problem in a `.env` file, at a 0-based offset. */
export class EnvFileError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * Parses `.env` text into its variables, in order. `lookup` gives the
 * variables a value may refer to besides those defined above it.
 */
export function parseEnvFile(text: string, lookup: (name: string) => string | undefined = () => undefined): Map<string, string> {
  const out = new Map<string, string>();
  const resolve = (name: string) => lookup(name) ?? out.get(name);
  const expand = (s: string, offset: number) => {
    try {
      return interpolate(s, resolve).value;
    } catch (e) {
      if (e instanceof InterpolationError) throw new EnvFileError(e.message, offset + e.offset);
      throw e;
    }
  };
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  while (i < text.length) {
    const lineEnd = indexOrEnd(text, '\n', i);
    const line = text.slice(i, lineEnd).replace(/\r$/, '');
    const trimmed = line.trimStart();
    if (trimmed === '' || trimmed.startsWith('#')) {
      i = lineEnd + 1;
      continue;
    }
    const start = i + (line.length - trimmed.length);
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*/.exec(trimmed);
    if (!m) {
      const shown = trimmed.length > 40 ? trimmed.slice(0, 40) + '…' : trimmed;
      throw new EnvFileError(`expected KEY=VALUE, got ${JSON.stringify(shown)}`, start);
    }
    const key = m[1]!;
    const j = start + m[0].length;
    const q = text[j];
    if (q === "'" || q === '"') {
      const close = findClose(text, j + 1, q);
      if (close < 0) throw new EnvFileError(`${key}: the ${q === '"' ? 'double' : 'single'} quote is never closed`, j);
      const raw = text.slice(j + 1, close);
      out.set(key, q === "'" ? raw : expand(unescape(raw), j + 1));
      const after = indexOrEnd(text, '\n', close);
      const tail = text.slice(close + 1, after).replace(/\r$/, '').trim();
      if (tail !== '' && !tail.startsWith('#')) throw new EnvFileError(`${key}: unexpected ${JSON.stringify(tail)} after the closing quote`, close + 1);
      i = after + 1;
      continue;
    }
    let value = text.slice(j, lineEnd).replace(/\r$/, '');
    const comment = /\s#/.exec(value);
    if (comment) value = value.slice(0, comment.index);
    out.set(key, expand(value.trim(), j));
    i = lineEnd + 1;
  }
  return out;
}

function indexOrEnd(text: string, c: string, from: number): number {
  const k = text.indexOf(c, from);
  return k < 0 ? text.length : k;
}

function findClose(text: string, from: number, q: string): number {
  for (let k = from; k < text.length; k++) {
    if (q === '"' && text[k] === '\\') {
      k++;
      continue;
    }
    if (text[k] === q) return k;
  }
  return -1;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/gs, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', $: '$$' })[c] ?? `\\${c}`);
}
