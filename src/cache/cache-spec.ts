/**
 * `--cache-from` / `--cache-to` values as docker buildx takes them:
 * `type=registry,ref=REG/REPO:TAG[,mode=min|max][,ignore-error=true|false]`,
 * `type=local,src=DIR` / `type=local,dest=DIR` (an OCI layout),
 * `type=inline`, or a bare reference (`type=registry,ref=` it). Every key is
 * honoured or refused; none is accepted and ignored. Pure.
 */
import { OcibuildError } from '../errors.js';
import { splitFields } from '../csv-fields.js';
import { checkCompressionSpec, type Compression } from '../oci/compression.js';

/** Where a step cache is imported from (`--cache-from`). */
export type CacheImportSpec =
  /** A cache artifact in a registry, or an image pushed with an inline cache. */
  | { type: 'registry'; ref: string }
  /** A cache artifact in an OCI layout directory; `tag` picks it (default: the first cache artifact). */
  | { type: 'local'; src: string; tag?: string };

/** Where a step cache is exported to (`--cache-to`). */
export type CacheExportSpec = (
  | { type: 'registry'; ref: string }
  | { type: 'local'; dest: string; tag?: string }
  /** Attached to every image the build pushes (mode=min only, as buildx). */
  | { type: 'inline' }
) & {
  /** `min`: the final image's steps; `max`: every stage's steps. */
  mode: 'min' | 'max';
  /** When false, a failed export fails the build (after the image is written); default true: a warning. */
  ignoreError: boolean;
  /**
   * The cache layers' compression (`compression=`, default gzip: exported as built); another
   * compression or a `compression-level` exports converted copies (as `--output ...,compression=`).
   */
  compression: Compression;
  /** `compression-level=N` (gzip 0-9, zstd 1-19); absent: the compression's default. */
  compressionLevel?: number;
};

function invalid(flag: string, text: string, why: string): OcibuildError {
  return new OcibuildError('USAGE', `${flag} ${JSON.stringify(text)}: ${why}`);
}

/** `key=value` fields (CSV, `"` quoting as buildx), keys lowercased; a bare value is `ref=` it. */
function fields(flag: string, text: string): Map<string, string> {
  const out = new Map<string, string>();
  if (text.trim() === '') throw invalid(flag, text, 'empty value');
  if (!text.includes('=')) {
    out.set('type', 'registry');
    out.set('ref', text.trim());
    return out;
  }
  const parts = splitFields(text);
  if (!parts) throw invalid(flag, text, 'unterminated quote');
  for (const p of parts) {
    const i = p.indexOf('=');
    if (i <= 0) throw invalid(flag, text, `${JSON.stringify(p)} is not key=value`);
    const key = p.slice(0, i).trim().toLowerCase();
    if (out.has(key)) throw invalid(flag, text, `${key} given twice`);
    out.set(key, p.slice(i + 1));
  }
  if (!out.has('type')) out.set('type', 'registry');
  return out;
}

function allowOnly(flag: string, text: string, f: Map<string, string>, keys: readonly string[]): void {
  for (const k of f.keys()) {
    if (!keys.includes(k)) throw invalid(flag, text, `key ${k} is not supported for type=${f.get('type')} (supported: ${keys.join(', ')})`);
  }
}

function required(flag: string, text: string, f: Map<string, string>, key: string): string {
  const v = f.get(key);
  if (v === undefined || v === '') throw invalid(flag, text, `type=${f.get('type')} needs ${key}=`);
  return v;
}

function bool(flag: string, text: string, key: string, v: string): boolean {
  if (/^(1|t|true)$/i.test(v)) return true;
  if (/^(0|f|false)$/i.test(v)) return false;
  throw invalid(flag, text, `${key}=${v}: expected true or false`);
}

/** Parses one `--cache-from` value. */
export function parseCacheImport(text: string): CacheImportSpec {
  const flag = '--cache-from';
  const f = fields(flag, text);
  const type = f.get('type');
  switch (type) {
    case 'registry':
      allowOnly(flag, text, f, ['type', 'ref']);
      return { type, ref: required(flag, text, f, 'ref') };
    case 'local': {
      allowOnly(flag, text, f, ['type', 'src', 'tag']);
      const tag = f.get('tag');
      return { type, src: required(flag, text, f, 'src'), ...(tag ? { tag } : {}) };
    }
    default:
      throw invalid(flag, text, `type=${type} is not supported (supported: registry, local; an inline cache is read with type=registry,ref=IMAGE)`);
  }
}

/** Parses one `--cache-to` value. */
export function parseCacheExport(text: string): CacheExportSpec {
  const flag = '--cache-to';
  const f = fields(flag, text);
  const type = f.get('type');
  const common = ['type', 'mode', 'ignore-error', 'compression', 'compression-level'];
  const mode = f.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw invalid(flag, text, `mode=${mode}: expected min or max`);
  const ignoreError = f.has('ignore-error') ? bool(flag, text, 'ignore-error', f.get('ignore-error')!) : true;
  const compression = f.get('compression') ?? 'gzip';
  if (compression === 'estargz') throw new OcibuildError('UNSUPPORTED', `${flag} compression=estargz is not supported (gzip, zstd or uncompressed)`);
  if (compression !== 'gzip' && compression !== 'zstd' && compression !== 'uncompressed') throw invalid(flag, text, `compression=${compression}: expected gzip, zstd or uncompressed`);
  const levelText = f.get('compression-level');
  let compressionLevel: number | undefined;
  if (levelText !== undefined) {
    if (!/^[0-9]+$/.test(levelText)) throw invalid(flag, text, `compression-level=${levelText}: expected a whole number`);
    compressionLevel = Number(levelText);
    try {
      checkCompressionSpec({ compression, level: compressionLevel });
    } catch (e) {
      throw invalid(flag, text, (e as Error).message);
    }
  }
  const rest = { mode, ignoreError, compression, ...(compressionLevel !== undefined ? { compressionLevel } : {}) } as const;
  switch (type) {
    case 'registry':
      allowOnly(flag, text, f, [...common, 'ref']);
      return { type, ref: required(flag, text, f, 'ref'), ...rest };
    case 'local': {
      allowOnly(flag, text, f, [...common, 'dest', 'tag']);
      const tag = f.get('tag');
      return { type, dest: required(flag, text, f, 'dest'), ...(tag ? { tag } : {}), ...rest };
    }
    case 'inline':
      allowOnly(flag, text, f, common);
      if (mode === 'max') throw new OcibuildError('UNSUPPORTED', `${flag} type=inline supports mode=min only (as buildx); use type=registry for mode=max`);
      return { type, ...rest };
    default:
      throw invalid(flag, text, `type=${type} is not supported (supported: registry, local, inline)`);
  }
}
