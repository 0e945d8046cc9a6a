import { OcibuildError } from '../errors.js';
import { backoffDelay, isRetryableError, isRetryableStatus, parseRetryAfter, resolveRetry, sleep } from './retry.js';

describe('retry policy', () => {
  const p = resolveRetry({ retries: 3, minDelayMs: 100, maxDelayMs: 1000 });
  test('exponential backoff with jitter in [d/2, d], capped', () => {
    expect(backoffDelay(p, 0, () => 0)).toBe(50);
    expect(backoffDelay(p, 0, () => 1)).toBe(100);
    expect(backoffDelay(p, 3, () => 1)).toBe(800);
    expect(backoffDelay(p, 10, () => 1)).toBe(1000);
    expect(backoffDelay(p, 10, () => 0)).toBe(500);
  });
  test('invalid policies are usage errors', () => {
    expect(() => resolveRetry({ retries: -1 })).toThrow(OcibuildError);
    expect(() => resolveRetry({ minDelayMs: 10, maxDelayMs: 5 })).toThrow(OcibuildError);
  });
  test('Retry-After seconds and HTTP dates', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
  test('retryable statuses: 5xx, 429, 408; never 4xx denials', () => {
    for (const s of [500, 502, 503, 504, 429, 408]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 405, 409, 416, 501, 505]) expect(isRetryableStatus(s)).toBe(false);
  });
  test('retryable transport errors, also wrapped', () => {
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryableError(new Error('outer', { cause: Object.assign(new Error('socket'), { code: 'UND_ERR_SOCKET' }) }))).toBe(true);
    expect(isRetryableError(new Error('terminated'))).toBe(true);
    expect(isRetryableError(new OcibuildError('SIZE_MISMATCH', 'short'))).toBe(true);
    expect(isRetryableError(new OcibuildError('REGISTRY_DENIED', 'no'))).toBe(false);
    expect(isRetryableError(new Error('boom'))).toBe(false);
  });
  test('sleep aborts', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});
