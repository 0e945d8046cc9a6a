import { parseDistributionErrors, redactUrl, registryError } from './errors.js';

describe('registry errors', () => {
  test('redactUrl removes user info and secret query values', () => {
    const u = redactUrl('https://user:pw@r.example/v2/x/blobs/uploads/abc?_state=SECRETSTATE&digest=sha256:1&X-Amz-Signature=SIG');
    expect(u).not.toContain('pw');
    expect(u).not.toContain('SECRETSTATE');
    expect(u).not.toContain('SIG');
    expect(u).toContain('digest=sha256');
    expect(redactUrl('not a url')).toBe('<invalid url>');
  });
  test('Distribution error bodies', () => {
    expect(parseDistributionErrors('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}')).toEqual([
      { code: 'DENIED', message: 'requested access to the resource is denied' },
    ]);
    expect(parseDistributionErrors('<html>502</html>')).toEqual([]);
    expect(parseDistributionErrors('{"details":"incorrect username or password"}')).toEqual([{ code: 'UNKNOWN', message: 'incorrect username or password' }]);
  });
  test('status maps to codes; details keep status, errors and a redacted URL', () => {
    const e = registryError('push blob', 'PUT', 'https://r/v2/x/blobs/uploads/1?_state=S', 403, '{"errors":[{"code":"DENIED","message":"no"}]}');
    expect(e.code).toBe('REGISTRY_DENIED');
    expect(e.message).toContain('DENIED: no');
    expect(e.details).toMatchObject({ status: 403, errors: [{ code: 'DENIED', message: 'no' }], method: 'PUT' });
    expect(String(e.details!.url)).not.toContain('_state=S');
    expect(registryError('x', 'GET', 'https://r/', 401, '').code).toBe('REGISTRY_UNAUTHORIZED');
    expect(registryError('x', 'GET', 'https://r/', 404, '').code).toBe('REGISTRY_NOT_FOUND');
    expect(registryError('x', 'GET', 'https://r/', 500, '').code).toBe('REGISTRY_ERROR');
  });
});
