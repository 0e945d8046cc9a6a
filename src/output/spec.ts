/**
 * `--output` specs as docker buildx takes them: `type=oci,dest=out.tar`, a
 * bare path (`-o dir` = `type=local,dest=dir`). Every key is honoured or
 * refused; none is accepted and ignored.
 */
import { OcibuildError } from '../errors.js';
import { splitFields } from '../csv-fields.js';
import { checkCompressionSpec, type Compression } from '../oci/compression.js';

/**
 * The layer compression an output asks for (`compression=`, `compression-level=`,
 * `force-compression=`, as buildx names them). Layers ocibuild built are
 * written in it; a base image's layers keep their compression unless `force`.
 */
export interface OutputCompression {
  compression: Compression;
  /** The compression's level (gzip 0-9, zstd 1-19); its default when absent (gzip 4, zstd 3). */
  level?: number;
  /** Convert a base image's layers of another compression too. */
  force: boolean;
}

/** Where a build's result goes. */
export type OutputSpec =
  /** The local store (tagged with the build's tags). */
  | { type: 'image'; names: string[]; push: boolean; compression?: OutputCompression }
  /** Push to a registry under `names` (the build's tags when empty). */
  | { type: 'registry'; names: string[]; compression?: OutputCompression }
  /** An OCI image layout directory, or a tarball of one with `tar`. */
  | { type: 'oci'; dest: string; tar: boolean; names: string[]; compression?: OutputCompression }
  /** A `docker load` archive. */
  | { type: 'docker'; dest: string; names: string[] }
  /** The final filesystem, written to a directory. */
  | { type: 'local'; dest: string; devices?: boolean };

const COMPRESSION_KEYS = ['compression', 'compression-level', 'force-compression'] as const;

const KEYS: Record<OutputSpec['type'], readonly string[]> = {
  image: ['type', 'name', 'push', ...COMPRESSION_KEYS],
  registry: ['type', 'name', ...COMPRESSION_KEYS],
  oci: ['type', 'dest', 'tar', 'name', ...COMPRESSION_KEYS],
  docker: ['type', 'dest', 'name'],
  local: ['type', 'dest', 'devices'],
};

/** Splits a CSV field list the way buildx does (double quotes group, `""` escapes a quote). */
export function splitCsv(text: string): string[] {
  const fields = splitFields(text);
  if (!fields) throw usage(`unterminated quote in --output ${JSON.stringify(text)}`);
  return fields;
}

function usage(message: string): OcibuildError {
  return new OcibuildError('OUTPUT_INVALID', message);
}

function parseBool(key: string, value: string): boolean {
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  throw usage(`--output ${key}=${value}: expected true or false`);
}

/**
 * `compression=gzip|zstd|uncompressed`, `compression-level=N`,
 * `force-compression=true|false`; undefined when none is given (layers go out
 * as stored). A level or `force-compression` alone means gzip, as in buildx.
 */
function parseCompression(fields: Map<string, string>): OutputCompression | undefined {
  if (!COMPRESSION_KEYS.some((k) => fields.has(k))) return undefined;
  const name = (fields.get('compression') ?? 'gzip').trim().toLowerCase();
  if (name !== 'gzip' && name !== 'zstd' && name !== 'uncompressed') {
    throw usage(`--output compression=${name} is not supported (supported: gzip, zstd, uncompressed)`);
  }
  const out: OutputCompression = { compression: name, force: fields.has('force-compression') ? parseBool('force-compression', fields.get('force-compression')!) : false };
  const levelText = fields.get('compression-level');
  if (levelText !== undefined) {
    if (!/^\d+$/.test(levelText.trim())) throw usage(`--output compression-level=${levelText}: expected a whole number`);
    out.level = Number(levelText.trim());
    try {
      checkCompressionSpec(out);
    } catch (e) {
      throw usage(`--output ${(e as Error).message}`);
    }
  }
  return out;
}

/** Parses one `--output` value. */
export function parseOutputSpec(text: string): OutputSpec {
  if (!text.includes('=')) {
    if (text === '' ) throw usage('--output needs a value');
    if (text === '-') throw usage('--output - (a tar stream on stdout) is not supported; use type=oci,dest=FILE,tar=true or type=docker,dest=FILE');
    return { type: 'local', dest: text };
  }
  const fields = new Map<string, string>();
  for (const field of splitCsv(text)) {
    const i = field.indexOf('=');
    if (i <= 0) throw usage(`--output ${JSON.stringify(text)}: ${JSON.stringify(field)} is not key=value`);
    const key = field.slice(0, i).trim().toLowerCase();
    if (fields.has(key)) throw usage(`--output ${JSON.stringify(text)}: ${key} given twice`);
    fields.set(key, field.slice(i + 1));
  }
  const type = fields.get('type') ?? 'local';
  if (!(type in KEYS)) {
    throw usage(`--output type=${type} is not supported (supported: ${Object.keys(KEYS).join(', ')})`);
  }
  for (const key of fields.keys()) {
    if (!KEYS[type as OutputSpec['type']].includes(key)) {
      throw usage(`--output type=${type} does not take ${key}= (it takes ${KEYS[type as OutputSpec['type']].filter((k) => k !== 'type').join(', ')})`);
    }
  }
  const names = (fields.get('name') ?? '').split(/[,\s]+/).filter(Boolean);
  const dest = fields.get('dest');
  const needDest = (): string => {
    if (!dest) throw usage(`--output type=${type} needs dest=`);
    return dest;
  };
  const compression = parseCompression(fields);
  const withCompression = compression ? { compression } : {};
  switch (type) {
    case 'image':
      return { type, names, push: fields.has('push') ? parseBool('push', fields.get('push')!) : false, ...withCompression };
    case 'registry':
      return { type, names, ...withCompression };
    case 'oci':
      return { type, dest: needDest(), tar: fields.has('tar') ? parseBool('tar', fields.get('tar')!) : false, names, ...withCompression };
    case 'docker':
      return { type, dest: needDest(), names };
    default:
      return { type: 'local', dest: needDest(), ...(fields.has('devices') ? { devices: parseBool('devices', fields.get('devices')!) } : {}) };
  }
}

/**
 * Checks an output given as an object (the library's `outputs`): its
 * compression names a known compression, a level it has, a boolean force.
 * Strings are checked by {@link parseOutputSpec}.
 */
export function checkOutputSpec(spec: OutputSpec): OutputSpec {
  const c = (spec as { compression?: unknown }).compression;
  if (c === undefined) return spec;
  if (spec.type !== 'image' && spec.type !== 'registry' && spec.type !== 'oci') throw usage(`output type=${spec.type} takes no compression`);
  const v = c as Partial<OutputCompression>;
  if (typeof c !== 'object' || c === null || (v.compression !== 'gzip' && v.compression !== 'zstd' && v.compression !== 'uncompressed') || (v.force !== undefined && typeof v.force !== 'boolean')) {
    throw usage(`output compression must be { compression: 'gzip' | 'zstd' | 'uncompressed', level?: number, force?: boolean }, got ${JSON.stringify(c)}`);
  }
  try {
    checkCompressionSpec({ compression: v.compression, ...(v.level !== undefined ? { level: v.level } : {}) });
  } catch (e) {
    throw usage(`output ${(e as Error).message}`);
  }
  return spec;
}
