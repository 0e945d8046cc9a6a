/**
 * Compose's variable interpolation (the Compose Specification's
 * "Interpolation"): `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty),
 * `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (an error),
 * `${VAR:+replacement}` / `${VAR+replacement}`, defaults that nest further
 * substitutions, and `$$` for a literal `$`. Pure: the caller gives the
 * variables and turns the problems into located errors.
 */

/** Why a value could not be interpolated. */
export class InterpolationError extends Error {
  constructor(
    message: string,
    /** 0-based offset in the text where the faulty substitution starts. */
    readonly offset: number,
    /** `required`: a `${VAR:?err}` variable is missing; `syntax`: a malformed substitution. */
    readonly kind: 'required' | 'syntax',
  ) {
    super(message);
  }
}

/** The result of interpolating one value. */
export interface Interpolated {
  value: string;
  /** Variables that were used unset and without a default (Compose warns and uses ''). */
  unset: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Interpolates `text` with `lookup` (undefined: the variable is unset). */
export function interpolate(text: string, lookup: (name: string) => string | undefined): Interpolated {
  const unset: string[] = [];
  const value = substitute(text, 0, lookup, unset);
  return { value, unset };
}

function substitute(text: string, base: number, lookup: (name: string) => string | undefined, unset: string[]): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new InterpolationError(`invalid interpolation format in ${JSON.stringify(text)}: "\${" is never closed`, base + i, 'syntax');
      out += braced(text.slice(i + 2, end), base + i, lookup, unset);
      i = end + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (m) {
      const v = lookup(m[0]);
      if (v === undefined) unset.push(m[0]);
      out += v ?? '';
      i += 1 + m[0].length;
      continue;
    }
    // A lone `$` (at the end, or before a character that starts no name) is kept, as Compose does.
    out += '$';
    i++;
  }
  return out;
}

/** Index of the `}` closing a `${` whose body starts at `from` (nested `${...}` skipped), or -1. */
function closingBrace(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '$' && text[i + 1] === '$') {
      i++;
      continue;
    }
    if (c === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (c === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function braced(body: string, at: number, lookup: (name: string) => string | undefined, unset: string[]): string {
  const m = NAME.exec(body);
  if (!m) throw new InterpolationError(`invalid interpolation format for "\${${body}}": expected a variable name`, at, 'syntax');
  const name = m[0];
  const rest = body.slice(name.length);
  const v = lookup(name);
  if (rest === '') {
    if (v === undefined) unset.push(name);
    return v ?? '';
  }
  const op = /^(:?[-?+])/.exec(rest);
  if (!op) throw new InterpolationError(`invalid interpolation format for "\${${body}}": expected }, :-, -, :?, ?, :+ or + after ${name}`, at, 'syntax');
  const word = () => substitute(rest.slice(op[1]!.length), at + 2 + name.length + op[1]!.length, lookup, unset);
  const missing = op[1]!.startsWith(':') ? v === undefined || v === '' : v === undefined;
  switch (op[1]!.slice(-1)) {
    case '-':
      return missing ? word() : v!;
    case '+':
      return missing ? '' : word();
    default: {
      if (!missing) return v!;
      const message = word();
      throw new InterpolationError(`required variable ${name} is missing a value${message ? `: ${message}` : ''}`, at, 'required');
    }
  }
}
