import { formatScopes, parseWwwAuthenticate, tokenExpiry } from './auth.js';

describe('parseWwwAuthenticate', () => {
  test('Docker Hub style bearer challenge', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
    expect(c).toEqual({ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } });
  });
  test('error and scope with commas inside quotes', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="http://a/token",service="s",scope="repository:x:pull,push",error="insufficient_scope"');
    expect(c!.params.scope).toBe('repository:x:pull,push');
    expect(c!.params.error).toBe('insufficient_scope');
  });
  test('basic challenge, scheme case-insensitive, escaped quotes', () => {
    const [c] = parseWwwAuthenticate('BASIC realm="my \\"realm\\""');
    expect(c).toEqual({ scheme: 'basic', params: { realm: 'my "realm"' } });
  });
  test('several challenges in one header', () => {
    const cs = parseWwwAuthenticate('Basic realm="r1", Bearer realm="https://t/token", service=svc');
    expect(cs.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(cs[1]!.params).toEqual({ realm: 'https://t/token', service: 'svc' });
  });
  test('garbage yields no crash', () => {
    expect(() => parseWwwAuthenticate('=,,"unterminated')).not.toThrow();
    expect(parseWwwAuthenticate('')).toEqual([]);
  });
});

describe('formatScopes', () => {
  test('merges actions per repository, sorted', () => {
    expect(
      formatScopes([
        { repository: 'b/x', actions: ['push'] },
        { repository: 'a/y', actions: ['pull'] },
        { repository: 'b/x', actions: ['pull'] },
      ]),
    ).toEqual(['repository:a/y:pull', 'repository:b/x:pull,push']);
  });
});

describe('tokenExpiry', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  test('defaults to 60 s minus a margin', () => {
    expect(tokenExpiry(now, undefined, undefined)).toBe(now + 60_000 - 6_000);
  });
  test('honours expires_in and issued_at', () => {
    expect(tokenExpiry(now, 300, '2024-12-31T23:59:00Z')).toBe(now - 60_000 + 300_000 - 10_000);
  });
  test('issued_at in the future is ignored (clock skew)', () => {
    expect(tokenExpiry(now, 100, '2025-01-01T01:00:00Z')).toBe(now + 100_000 - 10_000);
  });
});
