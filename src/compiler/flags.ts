/**
 * Instruction flags with BuildKit's BFlags rules: `--name` / `--name=value`,
 * booleans accept true/false in any case (bare = true), string flags need a
 * value, string-array flags may repeat, anything else repeated is an error,
 * unknown flags get a "did you mean" suggestion.
 */
import type { FlagNode } from '../parser/ast.js';
import type { SourceRange } from '../errors.js';
import { suggest } from './suggest.js';

/** Flag types. */
export type FlagType = 'bool' | 'string' | 'strings';

/** A flag an instruction accepts. */
export interface FlagDef {
  name: string;
  type: FlagType;
  /** Default for bool/string flags. */
  default?: boolean | string;
}

/** Parsed flag values. */
export interface ParsedFlags {
  /** Value of a bool flag (its default when not given). */
  bool(name: string): boolean;
  /** Value of a string flag (its default, or '' when not given). */
  string(name: string): string;
  /** All values of a string-array flag, in order. */
  strings(name: string): string[];
  /** True when the flag appeared. */
  used(name: string): boolean;
  /** Names of the flags that appeared, in definition order. */
  usedNames(): string[];
  /** The node of the (last) occurrence of a flag, for error ranges. */
  node(name: string): FlagNode | undefined;
}

/** A flag error with the range of the offending flag. */
export class FlagError extends Error {
  constructor(
    message: string,
    readonly range: SourceRange | undefined,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Go strconv.ParseBool. */
export function parseGoBool(v: string): boolean | undefined {
  switch (v) {
    case '1':
    case 't':
    case 'T':
    case 'TRUE':
    case 'true':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'FALSE':
    case 'false':
    case 'False':
      return false;
    default:
      return undefined;
  }
}

/**
 * Parse flag nodes against definitions. A flag word `--` ends parsing.
 * Throws FlagError with BuildKit's messages.
 */
export function parseFlags(nodes: readonly FlagNode[], defs: readonly FlagDef[]): ParsedFlags {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const bools = new Map<string, boolean>();
  const strs = new Map<string, string>();
  const arrays = new Map<string, string[]>();
  const used = new Map<string, FlagNode>();
  for (const node of nodes) {
    if (node.name === '' && node.value === undefined) break; // a bare `--`
    const name = node.name;
    const def = byName.get(name);
    if (!def) {
      const m = suggest(name, defs.map((d) => d.name), true);
      throw new FlagError(`unknown flag: --${name}${m ? ` (did you mean ${m}?)` : ''}`, node.range, m ? `--${m}` : undefined);
    }
    if (used.has(name) && def.type !== 'strings') {
      throw new FlagError(`duplicate flag specified: --${name}`, node.range);
    }
    used.set(name, node);
    const value = node.value;
    switch (def.type) {
      case 'bool': {
        if (value === '') throw new FlagError(`missing a value on flag: --${name}`, node.range);
        if (value === undefined) {
          bools.set(name, true);
          break;
        }
        const lower = value.toLowerCase();
        if (lower === 'true') bools.set(name, true);
        else if (lower === 'false') bools.set(name, false);
        else throw new FlagError(`expecting boolean value for flag --${name}, not: ${value}`, node.range);
        break;
      }
      case 'string':
        if (value === undefined) throw new FlagError(`missing a value on flag: --${name}`, node.range);
        strs.set(name, value);
        break;
      case 'strings': {
        if (value === undefined) throw new FlagError(`missing a value on flag: --${name}`, node.range);
        const list = arrays.get(name) ?? [];
        list.push(value);
        arrays.set(name, list);
        break;
      }
    }
  }
  const check = (name: string, type: FlagType): FlagDef => {
    const def = byName.get(name);
    if (!def || def.type !== type) throw new Error(`internal: flag --${name} is not a defined ${type} flag`);
    return def;
  };
  return {
    bool: (name) => bools.get(name) ?? Boolean(check(name, 'bool').default ?? false),
    string: (name) => strs.get(name) ?? String(check(name, 'string').default ?? ''),
    strings: (name) => {
      check(name, 'strings');
      return [...(arrays.get(name) ?? [])];
    },
    used: (name) => used.has(name),
    usedNames: () => defs.map((d) => d.name).filter((n) => used.has(n)),
    node: (name) => used.get(name),
  };
}
