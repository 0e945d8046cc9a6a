/** Go `time.ParseDuration`, returning nanoseconds. */

const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  'µs': 1000n, // U+00B5
  'μs': 1000n, // U+03BC
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX = (1n << 63n) - 1n;

/** A Go duration parse failure; `message` is Go's text (`time: invalid duration "x"`). */
export class DurationError extends Error {}

/**
 * Parse a Go duration string (`1h30m`, `1.5s`, `-2ms`, `0`) into nanoseconds.
 * Throws DurationError with Go's messages.
 */
export function parseGoDuration(input: string): number {
  const quoted = JSON.stringify(input);
  let s = input;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new DurationError(`time: invalid duration ${quoted}`);
  let total = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || (s[0] >= '0' && s[0] <= '9'))) throw new DurationError(`time: invalid duration ${quoted}`);
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s) as RegExpExecArray;
    const intPart = m[1];
    const fracPart = m[2];
    if (intPart === '' && (fracPart === undefined || fracPart === '')) {
      throw new DurationError(`time: invalid duration ${quoted}`);
    }
    s = s.slice(m[0].length);
    const um = /^[^0-9.]*/.exec(s) as RegExpExecArray;
    const unitName = um[0];
    if (unitName === '') throw new DurationError(`time: missing unit in duration ${quoted}`);
    const unit = UNITS[unitName];
    if (unit === undefined) throw new DurationError(`time: unknown unit ${JSON.stringify(unitName)} in duration ${quoted}`);
    s = s.slice(unitName.length);
    let v = BigInt(intPart === '' ? '0' : intPart) * unit;
    if (fracPart) {
      // fractional part, truncated like Go (scale by unit, divide)
      const scale = 10n ** BigInt(fracPart.length);
      v += (BigInt(fracPart) * unit) / scale;
    }
    total += v;
    if (total > MAX) throw new DurationError(`time: invalid duration ${quoted}`);
  }
  return Number(neg ? -total : total);
}

/** Format nanoseconds like Go's Duration.String (`1m30s`, `1ms`, `0s`). */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = BigInt(Math.abs(ns));
  const sign = neg ? '-' : '';
  if (u < 1_000_000_000n) {
    const units: [bigint, string][] = [
      [1_000_000n, 'ms'],
      [1000n, 'µs'],
      [1n, 'ns'],
    ];
    for (const [size, name] of units) {
      if (u >= size) return sign + fraction(u, size) + name;
    }
  }
  const h = u / 3_600_000_000_000n;
  u -= h * 3_600_000_000_000n;
  const m = u / 60_000_000_000n;
  u -= m * 60_000_000_000n;
  let out = `${fraction(u, 1_000_000_000n)}s`;
  if (h > 0n || m > 0n) out = `${m}m${out}`;
  if (h > 0n) out = `${h}h${out}`;
  return sign + out;
}

function fraction(v: bigint, size: bigint): string {
  const whole = v / size;
  let frac = (v % size).toString().padStart(size.toString().length - 1, '0');
  frac = frac.replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}
