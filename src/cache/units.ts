import { OcibuildError } from '../errors.js';

const SIZE_RE = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const SIZE_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * Parse a storage size as `docker builder prune --keep-storage` does (go-units
 * RAMInBytes): binary units, case-insensitive, optional `i` and `b`:
 * `10GB` = `10g` = `10GiB` = 10 × 2^30 bytes; a bare number is bytes.
 * Throws USAGE.
 */
export function parseSize(text: string): number {
  const m = SIZE_RE.exec(text.trim());
  if (!m) {
    throw new OcibuildError('USAGE', `invalid size ${JSON.stringify(text)}`, { hint: 'for example 512MB, 10GB or 1.5g' });
  }
  const n = Number(m[1]) * (m[2] ? SIZE_UNITS[m[2].toLowerCase()]! : 1);
  if (!Number.isFinite(n) || n > Number.MAX_SAFE_INTEGER) throw new OcibuildError('USAGE', `size ${JSON.stringify(text)} is too large`);
  return Math.floor(n);
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Parse a duration in Go's `time.ParseDuration` syntax (`24h`, `1h30m`,
 * `1.5h`, `90s`, `300ms`), plus `d` (24 h) and `w` (7 d) for convenience.
 * Returns milliseconds. Negative durations and a bare number other than `0`
 * are USAGE errors.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) break;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (s.length === 0 || pos !== s.length) {
    throw new OcibuildError('USAGE', `invalid duration ${JSON.stringify(text)}`, { hint: 'for example 24h, 90m, 1h30m or 7d' });
  }
  return Math.round(total);
}

/** Human-readable size, decimal units like `docker images` (`1.2MB`, `532kB`, `12B`). */
export function formatSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  if (i === 0) return `${v}B`;
  return `${v < 10 ? v.toFixed(2).replace(/\.?0+$/, '') : v < 100 ? v.toFixed(1).replace(/\.0$/, '') : Math.round(v)}${units[i]}`;
}
