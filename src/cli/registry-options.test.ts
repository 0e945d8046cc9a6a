import { parseCreds } from './registry-options.js';

describe('--creds', () => {
  it('takes an optional registry, and passwords with = and :', () => {
    expect(parseCreds('alice:secret')).toEqual({ creds: { username: 'alice', password: 'secret' } });
    expect(parseCreds('alice')).toEqual({ creds: { username: 'alice' } });
    expect(parseCreds('127.0.0.1:5000=alice:s:e=c')).toEqual({ host: '127.0.0.1:5000', creds: { username: 'alice', password: 's:e=c' } });
    expect(parseCreds('ghcr.io=bob:pw')).toEqual({ host: 'ghcr.io', creds: { username: 'bob', password: 'pw' } });
    expect(parseCreds('localhost:5000=bob:pw')).toEqual({ host: 'localhost:5000', creds: { username: 'bob', password: 'pw' } });
    expect(parseCreds('alice:pa=ss')).toEqual({ creds: { username: 'alice', password: 'pa=ss' } });
    expect(() => parseCreds(':pw')).toThrow(/needs a user name/);
  });
});
