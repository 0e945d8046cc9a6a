/**
 * `--chmod` values: octal (`755`, `0644`, up to `7777`) or chmod(1) symbolic
 * notation (`u+x,g-w`, `+x`, `u=rwX,go=rX`, `g=u`), as BuildKit accepts them
 * since Dockerfile 1.14. A omitted "who" means all (no umask is applied).
 */
import { OcibuildError } from '../errors.js';

/** A parsed `--chmod`: apply it to a source mode (0o7777 bits) to get the new mode. */
export interface ChmodSpec {
  /** The text as written. */
  readonly text: string;
  /** The new permission bits for an entry whose current bits are `mode`. */
  apply(mode: number, isDir: boolean): number;
}

const USER = 0o4700;
const GROUP = 0o2070;
const OTHER = 0o1007;

interface Clause {
  who: number; // mask of affected bits (0 = all, handled as "a")
  ops: { op: '+' | '-' | '='; perms: string; copyFrom?: 'u' | 'g' | 'o' }[];
}

function invalid(text: string, why: string): OcibuildError {
  return new OcibuildError(
    'DOCKERFILE_INSTRUCTION',
    `invalid chmod parameter: '${text}'. ${why}`,
    { hint: 'use octal (755) or symbolic notation (u+x,g-w)' },
  );
}

/**
 * Parse a `--chmod` value. Numeric values must be octal between 0 and 07777
 * (BuildKit's message otherwise); anything else must be valid symbolic mode.
 */
export function parseChmod(text: string): ChmodSpec {
  if (/^[0-9]+$/.test(text)) {
    if (!/^[0-7]+$/.test(text) || parseInt(text, 8) > 0o7777) {
      throw invalid(text, 'it should be octal string and between 0 and 07777');
    }
    const bits = parseInt(text, 8);
    return { text, apply: () => bits };
  }
  const clauses = parseSymbolic(text);
  return {
    text,
    apply(mode: number, isDir: boolean): number {
      let m = mode & 0o7777;
      for (const c of clauses) m = applyClause(c, m, isDir);
      return m;
    },
  };
}

function parseSymbolic(text: string): Clause[] {
  if (text === '') throw invalid(text, 'empty mode');
  const clauses: Clause[] = [];
  for (const part of text.split(',')) {
    let i = 0;
    let who = 0;
    while (i < part.length && 'ugoa'.includes(part[i]!)) {
      const w = part[i]!;
      who |= w === 'u' ? USER : w === 'g' ? GROUP : w === 'o' ? OTHER : USER | GROUP | OTHER;
      i++;
    }
    const ops: Clause['ops'] = [];
    if (i >= part.length) throw invalid(text, `missing operator (+, - or =) in ${JSON.stringify(part)}`);
    while (i < part.length) {
      const op = part[i]!;
      if (op !== '+' && op !== '-' && op !== '=') {
        throw invalid(text, `unexpected ${JSON.stringify(op)} in ${JSON.stringify(part)}`);
      }
      i++;
      let perms = '';
      let copyFrom: 'u' | 'g' | 'o' | undefined;
      if (i < part.length && 'ugo'.includes(part[i]!)) {
        copyFrom = part[i] as 'u' | 'g' | 'o';
        i++;
      } else {
        while (i < part.length && 'rwxXst'.includes(part[i]!)) {
          perms += part[i];
          i++;
        }
      }
      ops.push({ op: op as '+' | '-' | '=', perms, copyFrom });
    }
    clauses.push({ who, ops });
  }
  return clauses;
}

function permBits(perms: string, mode: number, isDir: boolean): number {
  let b = 0;
  for (const p of perms) {
    switch (p) {
      case 'r':
        b |= 0o444;
        break;
      case 'w':
        b |= 0o222;
        break;
      case 'x':
        b |= 0o111;
        break;
      case 'X':
        if (isDir || (mode & 0o111) !== 0) b |= 0o111;
        break;
      case 's':
        b |= 0o6000;
        break;
      case 't':
        b |= 0o1000;
        break;
    }
  }
  return b;
}

function copyBits(from: 'u' | 'g' | 'o', mode: number): number {
  const rwx = from === 'u' ? (mode >> 6) & 7 : from === 'g' ? (mode >> 3) & 7 : mode & 7;
  return (rwx << 6) | (rwx << 3) | rwx;
}

function applyClause(c: Clause, mode: number, isDir: boolean): number {
  const who = c.who === 0 ? USER | GROUP | OTHER : c.who;
  let m = mode;
  for (const { op, perms, copyFrom } of c.ops) {
    let bits = copyFrom ? copyBits(copyFrom, m) : permBits(perms, mode, isDir);
    // setuid only for u, setgid only for g, sticky only when o (or a) is named
    let mask = who;
    if (c.who !== 0 && (c.who & OTHER) !== OTHER) mask &= ~0o1000;
    bits &= mask;
    if (op === '+') m |= bits;
    else if (op === '-') m &= ~bits;
    else {
      // '=' clears the who's rwx (and its special bit) then sets
      m = (m & ~(who & 0o7777)) | bits;
    }
  }
  return m & 0o7777;
}
