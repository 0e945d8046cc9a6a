/**
 * RUN's flag values: `--mount` (all five types with BuildKit's keys and
 * checks), `--device`, `--network`, `--security`.
 */
import type { CacheSharing, DeviceSpec, NetworkMode, SecurityMode } from '../graph/types.js';
import { CsvError, parseCsvLine } from './csv.js';
import { parseGoBool } from './flags.js';
import { didYouMean } from './suggest.js';

/** A RUN flag value error; `message` follows BuildKit. */
export class RunFlagError extends Error {}

/** Mount types. */
export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: readonly CacheSharing[] = ['shared', 'private', 'locked'];
const ALL_KEYS = [
  'type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid', 'src',
  'dst', 'destination', 'ro', 'rw', 'readwrite', 'env',
];

/** `--mount` as parsed, before stage resolution and defaults that need context. */
export interface ParsedMount {
  type: MountType;
  from?: string;
  source?: string;
  target?: string;
  readOnly: boolean;
  /** `id=` (cache id, secret id, ssh id). */
  id?: string;
  sharing?: CacheSharing;
  required: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  /** tmpfs size in bytes. */
  size?: number;
  /** secret env name. */
  env?: string;
}

/** Expands one mount option value (variables); receives the raw value. */
export type ValueExpander = (value: string) => string;

/**
 * docker/go-units RAMInBytes: `64m`, `1.5g`, `1024`, `10kb` (binary units).
 */
export function parseRamBytes(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.floor(n * mult[unit]);
}

function parseUint(value: string, base: 8 | 10): number | undefined {
  const re = base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(value)) return undefined;
  const n = parseInt(value, base);
  return n <= 0xffffffff ? n : undefined;
}

/**
 * Parse one `--mount` value (CSV of `key=value` fields). `expand` is applied
 * to every value except `from` (which must not contain variables).
 */
export function parseMount(value: string, expand: ValueExpander): ParsedMount {
  let fields: string[];
  try {
    fields = parseCsvLine(value);
  } catch (e) {
    throw new RunFlagError(`failed to parse csv mounts: ${(e as CsvError).message}`);
  }
  const m: ParsedMount = { type: 'bind', readOnly: true, required: false };
  let roAuto = true;
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      switch (key) {
        case 'readonly':
        case 'ro':
          m.readOnly = true;
          roAuto = false;
          continue;
        case 'readwrite':
        case 'rw':
          m.readOnly = false;
          roAuto = false;
          continue;
        case 'required':
          if (m.type === 'secret' || m.type === 'ssh') {
            m.required = true;
            continue;
          }
          throw new RunFlagError(`unexpected key '${key}' for mount type '${m.type}'`);
      }
      throw new RunFlagError(`invalid field '${field}' must be a key=value pair`);
    }
    const raw = field.slice(eq + 1);
    let v: string;
    if (key === 'from') {
      if (/\$./.test(raw)) throw new RunFlagError(`'${key}' doesn't support variable expansion, define alias stage instead`);
      v = raw;
    } else {
      v = expand(raw);
    }
    const bool = (): boolean => {
      const b = parseGoBool(v);
      if (b === undefined) throw new RunFlagError(`invalid value for ${key}: ${v}`);
      return b;
    };
    switch (key) {
      case 'type': {
        const t = v.toLowerCase();
        if (!(MOUNT_TYPES as readonly string[]).includes(t)) {
          throw new RunFlagError(`unsupported mount type ${JSON.stringify(v)}${didYouMean(v, MOUNT_TYPES, true)}`);
        }
        m.type = t as MountType;
        break;
      }
      case 'from':
        m.from = v;
        break;
      case 'source':
      case 'src':
        m.source = v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = v;
        break;
      case 'readonly':
      case 'ro':
        m.readOnly = bool();
        roAuto = false;
        break;
      case 'readwrite':
      case 'rw':
        m.readOnly = !bool();
        roAuto = false;
        break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') throw new RunFlagError(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = bool();
        break;
      case 'size': {
        if (m.type !== 'tmpfs') throw new RunFlagError(`unexpected key '${key}' for mount type '${m.type}'`);
        const size = parseRamBytes(v);
        if (size === undefined) throw new RunFlagError(`invalid value for ${key}: ${v}`);
        m.size = size;
        break;
      }
      case 'id':
        m.id = v;
        break;
      case 'sharing': {
        const s = v.toLowerCase();
        if (!(SHARING as readonly string[]).includes(s)) throw new RunFlagError(`unsupported sharing value ${JSON.stringify(v)}`);
        m.sharing = s as CacheSharing;
        break;
      }
      case 'mode': {
        const n = parseUint(v, 8);
        if (n === undefined) throw new RunFlagError(`invalid value ${v} for mode`);
        m.mode = n;
        break;
      }
      case 'uid': {
        const n = parseUint(v, 10);
        if (n === undefined) throw new RunFlagError(`invalid value ${v} for uid`);
        m.uid = n;
        break;
      }
      case 'gid': {
        const n = parseUint(v, 10);
        if (n === undefined) throw new RunFlagError(`invalid value ${v} for gid`);
        m.gid = n;
        break;
      }
      case 'env':
        if (m.type !== 'secret') throw new RunFlagError(`unexpected key '${key}' for mount type '${m.type}'`);
        m.env = v;
        break;
      default:
        throw new RunFlagError(`unexpected key '${key}' in '${field}'${didYouMean(key, ALL_KEYS, true)}`);
    }
  }
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  for (const k of ['mode', 'uid', 'gid'] as const) {
    if (m[k] !== undefined && !fileInfoAllowed) throw new RunFlagError(`${k} not allowed for ${JSON.stringify(m.type)} type mounts`);
  }
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from !== undefined) throw new RunFlagError('secret mount should not have a from');
    if (m.sharing !== undefined) throw new RunFlagError('secret mount should not define sharing');
    // BuildKit tests for empty strings: `target=` is no target
    if (!m.source && !m.target && !m.id && m.env === undefined) {
      throw new RunFlagError('invalid secret mount. one of source, target required');
    }
    if (m.source && m.id) throw new RunFlagError("both source and id can't be set");
  }
  if (m.sharing !== undefined && m.type !== 'cache') throw new RunFlagError(`invalid cache sharing set for ${m.type} mount`);
  if (m.type === 'tmpfs' && m.from !== undefined) throw new RunFlagError(`unexpected key 'from' for mount type 'tmpfs'`);
  if (m.type === 'ssh' && m.from !== undefined) throw new RunFlagError(`unexpected key 'from' for mount type 'ssh'`);
  // No target is not an error: BuildKit mounts at the working directory (an
  // empty target joins it); only a target that resolves to `/` is refused, by
  // the dispatcher, which knows the working directory.
  if (m.env !== undefined && m.env === '') throw new RunFlagError('invalid value for env: empty name');
  return m;
}

/** Parse a `--device` value: `name[,required[=bool]]` or `name=...`. */
export function parseDevice(value: string): DeviceSpec {
  let fields: string[];
  try {
    fields = parseCsvLine(value);
  } catch (e) {
    throw new RunFlagError(`failed to parse csv devices: ${(e as CsvError).message}`);
  }
  let name = '';
  let required = false;
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const v = eq < 0 ? undefined : field.slice(eq + 1);
    if (key === 'required') {
      if (v === undefined) required = true;
      else {
        const b = parseGoBool(v);
        if (b === undefined) throw new RunFlagError(`invalid value for required: ${v}`);
        required = b;
      }
    } else if (key === 'name') {
      if (name !== '') throw new RunFlagError(`device name already set to ${name}`);
      name = v ?? '';
    } else if (name === '') {
      name = field;
    } else {
      throw new RunFlagError(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (name === '') throw new RunFlagError(`device name is required in ${JSON.stringify(value)}`);
  return { name, required };
}

/** Validate `--network`. */
export function parseNetwork(value: string): NetworkMode {
  if (value === 'default' || value === 'none' || value === 'host') return value;
  throw new RunFlagError(`unsupported network mode ${JSON.stringify(value)}${didYouMean(value, ['default', 'none', 'host'], true)}`);
}

/** Validate `--security`. */
export function parseSecurity(value: string): SecurityMode {
  if (value === 'sandbox' || value === 'insecure') return value;
  throw new RunFlagError(`unsupported security mode ${JSON.stringify(value)}${didYouMean(value, ['sandbox', 'insecure'], true)}`);
}
