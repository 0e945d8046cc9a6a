/**
 * `--output` specs as docker buildx takes them: `type=oci,dest=out.tar`, a
 * bare path (`-o dir` = `type=local,dest=dir`). Every key is honoured or
 * refused; none is accepted and ignored.
 */
import { OcibuildError } from '../errors.js';

/** Where a build's result goes. */
export type OutputSpec =
  /** The local store (tagged with the build's tags). */
  | { type: 'image'; names: string[]; push: boolean }
  /** Push to a registry under `names` (the build's tags when empty). */
  | { type: 'registry'; names: string[] }
  /** An OCI image layout directory, or a tarball of one with `tar`. */
  | { type: 'oci'; dest: string; tar: boolean; names: string[] }
  /** A `docker load` archive. */
  | { type: 'docker'; dest: string; names: string[] }
  /** The final filesystem, written to a directory. */
  | { type: 'local'; dest: string };

const KEYS: Record<OutputSpec['type'], readonly string[]> = {
  image: ['type', 'name', 'push'],
  registry: ['type', 'name'],
  oci: ['type', 'dest', 'tar', 'name'],
  docker: ['type', 'dest', 'name'],
  local: ['type', 'dest'],
};

/** Splits a CSV field list the way buildx does (double quotes group, `""` escapes a quote). */
export function splitCsv(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) throw usage(`unterminated quote in --output ${JSON.stringify(text)}`);
  out.push(cur);
  return out;
}

function usage(message: string): OcibuildError {
  return new OcibuildError('OUTPUT_INVALID', message);
}

function parseBool(key: string, value: string): boolean {
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  throw usage(`--output ${key}=${value}: expected true or false`);
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
  switch (type) {
    case 'image':
      return { type, names, push: fields.has('push') ? parseBool('push', fields.get('push')!) : false };
    case 'registry':
      return { type, names };
    case 'oci':
      return { type, dest: needDest(), tar: fields.has('tar') ? parseBool('tar', fields.get('tar')!) : false, names };
    case 'docker':
      return { type, dest: needDest(), names };
    default:
      return { type: 'local', dest: needDest() };
  }
}
