import { OcibuildError } from '../errors.js';

/** Retry policy for registry requests. */
export interface RetryOptions {
  /** Attempts after the first one. Default 5. */
  retries?: number;
  /** First backoff delay in ms. Default 200. */
  minDelayMs?: number;
  /** Largest backoff delay in ms (also caps `Retry-After`). Default 30000. */
  maxDelayMs?: number;
}

/** The retry policy with defaults filled in. */
export interface ResolvedRetry {
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
}

/** Fill the defaults of a retry policy and validate it. */
export function resolveRetry(o: RetryOptions = {}): ResolvedRetry {
  const r = { retries: o.retries ?? 5, minDelayMs: o.minDelayMs ?? 200, maxDelayMs: o.maxDelayMs ?? 30_000 };
  if (!Number.isInteger(r.retries) || r.retries < 0) throw new OcibuildError('USAGE', `retries must be a non-negative integer, got ${o.retries}`);
  if (!(r.minDelayMs >= 0) || !(r.maxDelayMs >= r.minDelayMs)) throw new OcibuildError('USAGE', 'retry delays must satisfy 0 <= minDelayMs <= maxDelayMs');
  return r;
}

/**
 * Exponential backoff with full jitter: a random delay in
 * [d/2, d] where d = min(max, min * 2^attempt). `random` is injectable for tests.
 */
export function backoffDelay(policy: ResolvedRetry, attempt: number, random: () => number = Math.random): number {
  const d = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** attempt);
  return Math.round(d / 2 + (random() * d) / 2);
}

/**
 * Parse a `Retry-After` value (delta seconds or an HTTP date) into ms from
 * `now`; undefined when absent or invalid.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** True for statuses worth retrying: 408, 429 and 5xx other than 501/505. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'ERR_REGISTRY_CONNECT_TIMEOUT',
  'ERR_REGISTRY_HEADERS_TIMEOUT',
  'ERR_REGISTRY_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'SIZE_MISMATCH',
  'DIGEST_MISMATCH',
]);

/** True for transport failures (resets, truncated bodies, timeouts) that a retry may fix. */
export function isRetryableError(e: unknown): boolean {
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && RETRYABLE_CODES.has(code)) return true;
    const msg = (cur as { message?: unknown }).message;
    if (typeof msg === 'string' && /^(terminated|other side closed|socket hang up)$/i.test(msg)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** Sleep `ms`, rejecting early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
