/**
 * Compose files in, one merged project out: finds the files (`-f`, else
 * `COMPOSE_FILE`, else compose.yaml / compose.yml / docker-compose.yaml /
 * docker-compose.yml in the directory or a parent, with its override file),
 * reads `.env` from the project directory, parses YAML (anchors, aliases,
 * `<<` merge keys, `!reset`, `!override`), interpolates every value, and
 * merges the files as Compose does. Every value keeps where it came from
 * (file, line, column) so later checks can point at it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Alias, isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { OcibuildError, type SourceRange } from '../errors.js';
import { EnvFileError, parseEnvFile } from './env-file.js';
import { interpolate, InterpolationError } from './interpolate.js';

/** Where a value of the project was written. */
export interface ComposeLocation {
  /** The file's name as shown (relative to the working directory when inside it). */
  file: string;
  range: SourceRange;
}

/** A warning while loading (an unset variable, several default files). */
export interface ComposeWarning {
  message: string;
  location?: ComposeLocation;
}

/** A path into the project's data (`['services', 'web', 'build', 'args', 'VERSION']`). */
export type ComposePath = readonly (string | number)[];

/** The merged files of a project, before the build sections are checked. */
export interface LoadedProject {
  /** The project name (`name:`, `COMPOSE_PROJECT_NAME`, else the directory's name). */
  name: string;
  /** The project directory: relative paths in the files are resolved against it. */
  directory: string;
  /** The files read, in merge order (absolute paths). */
  files: string[];
  /** Each file's text by its shown name (and `.env`'s), for code frames. */
  sources: Map<string, string>;
  /** Variables for interpolation and `args` without a value: the environment over `.env`. */
  env: Record<string, string | undefined>;
  /** What `.env` defines. */
  dotenv: Map<string, string>;
  /** True when the process environment (not `.env`) sets `name`. */
  processEnvHas(name: string): boolean;
  /** The merged data (plain values). */
  data: Record<string, unknown>;
  /** Where a value (or, failing that, its nearest parent) was written; undefined below a value `--set` replaced. */
  where(p: ComposePath): ComposeLocation | undefined;
  /** Forgets where the value at `p` was written (`--set` replaced it). */
  replaced(p: ComposePath): void;
  warnings: ComposeWarning[];
}

/** Options of {@link loadComposeProject}. */
export interface LoadComposeOptions {
  /** Compose files (`-f`), relative to `cwd`; default: `COMPOSE_FILE`, else the default names in `cwd` or a parent. */
  files?: string[];
  /** The working directory. */
  cwd: string;
  /** The process environment (wins over `.env`). */
  env: Record<string, string | undefined>;
  /** The project directory (default: the first file's directory). */
  projectDirectory?: string;
  /** The project name (default: `name:`, then `COMPOSE_PROJECT_NAME`, then the directory's name). */
  projectName?: string;
}

/** The file names Compose looks for, in order. */
export const DEFAULT_COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];
const OVERRIDE_FILES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yaml', 'docker-compose.override.yml'];

/** An error in a compose (or .env) file, located when the place is known. */
export function composeError(message: string, location?: ComposeLocation, code: 'COMPOSE_INVALID' | 'COMPOSE_VARIABLE' | 'UNSUPPORTED' = 'COMPOSE_INVALID', hint?: string): OcibuildError {
  return new OcibuildError(code, message, { ...(location ? { file: location.file, range: location.range } : {}), ...(hint ? { hint } : {}) });
}

const keyOf = (p: ComposePath) => p.map(String).join('\u0000');

function findDefaultFiles(cwd: string, warnings: ComposeWarning[]): string[] {
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    const found = DEFAULT_COMPOSE_FILES.filter((n) => existsSync(path.join(dir, n)));
    if (found.length > 0) {
      if (found.length > 1) warnings.push({ message: `found several compose files in ${dir} (${found.join(', ')}): using ${found[0]}` });
      const override = OVERRIDE_FILES.find((n) => existsSync(path.join(dir, n)));
      return [path.join(dir, found[0]!), ...(override ? [path.join(dir, override)] : [])];
    }
    if (path.dirname(dir) === dir) break;
  }
  throw new OcibuildError('COMPOSE_INVALID', `no compose file found in ${cwd} or a parent directory (looked for ${DEFAULT_COMPOSE_FILES.join(', ')})`, { hint: 'name one with -f' });
}

function shownName(cwd: string, file: string): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** Compose's project name rule: lowercase letters, digits, `-` and `_`, starting with a letter or digit. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[^a-z0-9]+/, '');
}

/** Reads, interpolates and merges the compose files of a project. */
export async function loadComposeProject(options: LoadComposeOptions): Promise<LoadedProject> {
  const warnings: ComposeWarning[] = [];
  const sources = new Map<string, string>();
  const cwd = options.cwd;
  let files: string[];
  if (options.files && options.files.length > 0) files = options.files.map((f) => path.resolve(cwd, f));
  else if (options.env.COMPOSE_FILE) {
    const sep = options.env.COMPOSE_PATH_SEPARATOR || path.delimiter;
    files = options.env.COMPOSE_FILE.split(sep).filter(Boolean).map((f) => path.resolve(cwd, f));
  } else files = findDefaultFiles(cwd, warnings);
  const directory = path.resolve(cwd, options.projectDirectory ?? path.dirname(files[0]!));

  // .env in the project directory; the process environment wins.
  const dotenv = new Map<string, string>();
  const envPath = path.join(directory, '.env');
  if (existsSync(envPath)) {
    const shown = shownName(cwd, envPath);
    const text = await readText(envPath, shown);
    sources.set(shown, text);
    try {
      for (const [k, v] of parseEnvFile(text, (n) => options.env[n])) dotenv.set(k, v);
    } catch (e) {
      if (e instanceof EnvFileError) throw composeError(e.message, { file: shown, range: rangeAt(text, e.offset, e.offset + 1) });
      throw e;
    }
  }
  const env: Record<string, string | undefined> = { ...Object.fromEntries(dotenv), ...options.env };
  const lookup = (n: string) => (Object.prototype.hasOwnProperty.call(env, n) ? env[n] : undefined);

  let data: Record<string, unknown> = {};
  const locs = new Map<string, ComposeLocation>();
  const unsetSeen = new Set<string>();
  for (const file of files) {
    const shown = shownName(cwd, file);
    const text = await readText(file, shown);
    sources.set(shown, text);
    const parsed = parseFile(text, shown, lookup, (name, location) => {
      if (unsetSeen.has(name)) return;
      unsetSeen.add(name);
      warnings.push({ message: `the ${JSON.stringify(name)} variable is not set: defaulting to a blank string`, location });
    });
    data = mergeInto(data, parsed.value, [], locs, parsed.locs, parsed.marks) as Record<string, unknown>;
  }
  const projectName = options.projectName ?? (typeof data.name === 'string' && data.name ? data.name : undefined) ?? env.COMPOSE_PROJECT_NAME ?? path.basename(directory);
  const name = normalizeProjectName(projectName);
  const replacedPaths = new Set<string>();
  if (name === '') throw composeError(`project name ${JSON.stringify(projectName)} has no letter or digit`, locs.get(keyOf(['name'])));
  return {
    name,
    directory,
    files,
    sources,
    env,
    dotenv,
    processEnvHas: (n) => Object.prototype.hasOwnProperty.call(options.env, n) && options.env[n] !== undefined,
    data,
    where(p) {
      for (let n = p.length; n >= 0; n--) {
        const k = keyOf(p.slice(0, n));
        if (replacedPaths.has(k)) return undefined;
        const l = locs.get(k);
        if (l) return l;
      }
      return undefined;
    },
    replaced(p) {
      replacedPaths.add(keyOf(p));
    },
    warnings,
  };
}

async function readText(file: string, shown: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new OcibuildError('COMPOSE_INVALID', `cannot read ${shown}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

/** A range from 0-based offsets. */
function rangeAt(text: string, start: number, end: number): SourceRange {
  const pos = (offset: number) => {
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - (before.lastIndexOf('\n') + 1) + 1;
    return { line, column, offset };
  };
  return { start: pos(start), end: pos(Math.max(end, start)) };
}

interface ParsedFile {
  value: unknown;
  /** Locations by path key (a mapping entry: from its key to the end of its value). */
  locs: Map<string, ComposeLocation>;
  /** Paths tagged `!reset` or `!override`. */
  marks: Map<string, 'reset' | 'override'>;
}

function parseFile(text: string, file: string, lookup: (n: string) => string | undefined, onUnset: (name: string, at: ComposeLocation) => void): ParsedFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, merge: true, prettyErrors: false, uniqueKeys: true });
  const at = (start: number, end: number): ComposeLocation => ({ file, range: rangeAt(text, start, end) });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw composeError(`invalid YAML: ${e.message.split('\n')[0]}`, at(e.pos[0], e.pos[1]));
  }
  for (const w of doc.warnings) {
    if (w.code === 'TAG_RESOLVE_FAILED' && /!(reset|override)\b/.test(w.message)) continue;
    throw composeError(`invalid YAML: ${w.message.split('\n')[0]}`, at(w.pos[0], w.pos[1]));
  }
  const locs = new Map<string, ComposeLocation>();
  const marks = new Map<string, 'reset' | 'override'>();
  const nodeRange = (n: YamlNode | null | undefined): [number, number] | undefined => (n?.range ? [n.range[0], n.range[1]] : undefined);

  const walk = (node: unknown, p: (string | number)[], depth: number): unknown => {
    if (depth > 64) throw composeError('the YAML nests deeper than 64 levels (an alias loop?)', locs.get(keyOf(p)));
    if (isAlias(node)) return walk((node as Alias).resolve(doc as Document), p, depth + 1);
    const n = node as YamlNode | null;
    const r = nodeRange(n);
    if (r && !locs.has(keyOf(p))) locs.set(keyOf(p), at(r[0], r[1]));
    if (n && (n as { tag?: string }).tag === '!reset') marks.set(keyOf(p), 'reset');
    if (n && (n as { tag?: string }).tag === '!override') marks.set(keyOf(p), 'override');
    if (n === null || n === undefined) return null;
    if (isScalar(n)) {
      const v = n.value;
      if (typeof v !== 'string') return v ?? null;
      try {
        const res = interpolate(v, lookup);
        for (const u of res.unset) onUnset(u, at(r?.[0] ?? 0, r?.[1] ?? 0));
        return res.value;
      } catch (e) {
        if (e instanceof InterpolationError) {
          // The offset is in the value; for a plain scalar it is the text's too.
          const plain = n.type === 'PLAIN' && r !== undefined;
          const start = plain ? r[0] + e.offset : (r?.[0] ?? 0);
          throw composeError(e.message, at(start, plain ? start + 1 : (r?.[1] ?? 0)), e.kind === 'required' ? 'COMPOSE_VARIABLE' : 'COMPOSE_INVALID');
        }
        throw e;
      }
    }
    if (isSeq(n)) return n.items.map((item, i) => walk(item, [...p, i], depth + 1));
    if (isMap(n)) {
      const out: Record<string, unknown> = {};
      const merged: Record<string, unknown>[] = [];
      for (const pair of n.items) {
        const k = pair.key as YamlNode | null;
        const kv = isScalar(k) ? k.value : undefined;
        if (typeof kv === 'symbol' || kv === '<<') {
          // `<<: *base` or `<<: [*a, *b]`: entries not written here come from the merged maps.
          const v = walk(pair.value, [...p, '<<'], depth + 1);
          for (const m of Array.isArray(v) ? v : [v]) {
            if (m === null || typeof m !== 'object' || Array.isArray(m)) throw composeError('a << merge key takes a mapping or a list of mappings', locs.get(keyOf([...p, '<<'])));
            merged.push(m as Record<string, unknown>);
          }
          continue;
        }
        if (kv === null || kv === undefined || typeof kv === 'object') {
          const kr = nodeRange(k);
          throw composeError('a mapping key must be a scalar', kr ? at(kr[0], kr[1]) : locs.get(keyOf(p)));
        }
        const key = String(kv);
        const kr = nodeRange(k);
        const vr = nodeRange(pair.value as YamlNode | null);
        if (kr) locs.set(keyOf([...p, key]), at(kr[0], vr ? vr[1] : kr[1]));
        out[key] = walk(pair.value, [...p, key], depth + 1);
      }
      for (const m of merged) for (const [k, v] of Object.entries(m)) if (!(k in out)) out[k] = v;
      return out;
    }
    return null;
  };
  const value = doc.contents === null ? {} : walk(doc.contents, [], 0);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw composeError('a compose file is a mapping (services:, secrets:, ...)', locs.get(keyOf([])) ?? at(0, 0));
  }
  normalizeBuilds(value as Record<string, unknown>, locs);
  return { value, locs, marks };
}

/**
 * The short forms Compose accepts, made long before files merge: `build: DIR`
 * is `build: { context: DIR }`; `args`, `labels` and `additional_contexts`
 * as `KEY=VALUE` lists become mappings (`KEY` alone: null, a value from the
 * environment for `args`).
 */
function normalizeBuilds(data: Record<string, unknown>, locs: Map<string, ComposeLocation>): void {
  const services = data.services;
  if (!isPlainObject(services)) return;
  for (const [name, service] of Object.entries(services)) {
    if (!isPlainObject(service)) continue;
    const bp = ['services', name, 'build'];
    if (typeof service.build === 'string') {
      service.build = { context: service.build };
      const l = locs.get(keyOf(bp));
      if (l) locs.set(keyOf([...bp, 'context']), l);
    }
    const build = service.build;
    if (!isPlainObject(build)) continue;
    for (const field of ['args', 'labels', 'additional_contexts']) {
      const list = build[field];
      if (!Array.isArray(list)) continue;
      const map: Record<string, unknown> = {};
      list.forEach((item, i) => {
        const l = locs.get(keyOf([...bp, field, i]));
        if (typeof item !== 'string') throw composeError(`${field} entries are KEY=VALUE strings, got ${JSON.stringify(item)}`, l);
        const eq = item.indexOf('=');
        if (eq === 0) throw composeError(`${field} entry ${JSON.stringify(item)} has no name`, l);
        const key = eq < 0 ? item : item.slice(0, eq);
        map[key] = eq < 0 ? null : item.slice(eq + 1);
        if (l) locs.set(keyOf([...bp, field, key]), l);
      });
      build[field] = map;
    }
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Sequences Compose merges by replacing rather than appending. */
const REPLACED_SEQUENCES = new Set(['command', 'entrypoint', 'healthcheck\u0000test', 'dns', 'dns_search']);

/**
 * Merges an override file into the project (Compose's rules): mappings merge
 * key by key, sequences append (values already there are not repeated), scalars
 * replace; `!reset` removes a value, `!override` replaces it whole.
 */
function mergeInto(
  base: unknown,
  over: unknown,
  p: (string | number)[],
  locs: Map<string, ComposeLocation>,
  overLocs: Map<string, ComposeLocation>,
  marks: Map<string, 'reset' | 'override'>,
): unknown {
  const copyLocs = (from: (string | number)[], to: (string | number)[]) => {
    const prefix = keyOf(from);
    for (const [k, l] of overLocs) {
      if (k === prefix || k.startsWith(prefix + '\u0000') || prefix === '') locs.set(keyOf(to) + k.slice(prefix.length), l);
    }
  };
  const mark = marks.get(keyOf(p));
  if (mark === 'override' || base === undefined || !(isPlainObject(base) ? isPlainObject(over) : Array.isArray(base) ? Array.isArray(over) : false)) {
    if (p.length > 0) {
      const prefix = keyOf(p);
      for (const k of [...locs.keys()]) if (k === prefix || k.startsWith(prefix + '\u0000')) locs.delete(k);
    }
    copyLocs(p, p);
    return over;
  }
  if (Array.isArray(base) && Array.isArray(over)) {
    const last = String(p[p.length - 1] ?? '');
    if (REPLACED_SEQUENCES.has(last) || REPLACED_SEQUENCES.has(p.slice(-2).join('\u0000'))) return mergeInto(undefined, over, p, locs, overLocs, new Map([[keyOf(p), 'override']]));
    const out = [...base];
    over.forEach((item, i) => {
      if (out.some((x) => JSON.stringify(x) === JSON.stringify(item))) return;
      copyLocs([...p, i], [...p, out.length]);
      out.push(item);
    });
    return out;
  }
  const b = base as Record<string, unknown>;
  const o = over as Record<string, unknown>;
  const out: Record<string, unknown> = { ...b };
  for (const [k, v] of Object.entries(o)) {
    const kp = [...p, k];
    if (marks.get(keyOf(kp)) === 'reset') {
      delete out[k];
      continue;
    }
    out[k] = mergeInto(b[k], v, kp, locs, overLocs, marks);
  }
  return out;
}
