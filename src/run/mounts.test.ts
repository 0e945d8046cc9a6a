import { cleanTarget, OutputRedactor, runtimeMounts, sourceRel } from './mounts.js';
import { parseSecretFlag, parseSshFlag } from './secrets.js';
import { OcibuildError } from '../errors.js';

describe('OutputRedactor', () => {
  const SECRET = 'tops3cret';
  const B64 = Buffer.from(SECRET).toString('base64');

  it('redacts a value and its base64 form', () => {
    const r = new OutputRedactor([SECRET]);
    expect(r.push(`a ${SECRET} b ${B64} c\n`) + r.end()).toBe('a **** b **** c\n');
  });

  it('catches a value split across chunks, fed one byte at a time', () => {
    const r = new OutputRedactor([SECRET]);
    const text = `x${SECRET}y${SECRET}\nz`;
    let out = '';
    for (const ch of text) out += r.push(ch);
    out += r.end();
    expect(out).toBe('x****y****\nz');
  });

  it('holds back only what could begin a secret', () => {
    const r = new OutputRedactor([SECRET]);
    expect(r.push('hello to')).toBe('hello ');
    expect(r.push('day\n')).toBe('today\n');
  });

  it('leaves values shorter than 4 characters alone (they would blank every line)', () => {
    const r = new OutputRedactor(['ab']);
    expect(r.push('abc') + r.end()).toBe('abc');
  });

  it('redacts whole error texts', () => {
    expect(new OutputRedactor([SECRET]).text(`failed: ${SECRET}`)).toBe('failed: ****');
  });
});

describe('mount paths', () => {
  it('resolves relative targets against the working directory', () => {
    expect(cleanTarget('cache', '/app')).toBe('/app/cache');
    expect(cleanTarget('/x/./y/', '/app')).toBe('/x/y');
    expect(cleanTarget('../t', '/app/sub')).toBe('/app/t');
  });
  it('cleans sources into relative paths that never leave the source', () => {
    expect(sourceRel('/')).toBe('');
    expect(sourceRel('src/./a/')).toBe('src/a');
    expect(sourceRel('../../etc')).toBe('etc');
  });
  it('gives BuildKit-like runtime options', () => {
    expect(runtimeMounts([{ type: 'bind', destination: '/a', source: '/h', readOnly: true }, { type: 'tmpfs', destination: '/t', size: 1024, readOnly: false }])).toEqual([
      { destination: '/a', type: 'bind', source: '/h', options: ['rbind', 'ro', 'rprivate'] },
      { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1024'] },
    ]);
  });
});

describe('--secret and --ssh values', () => {
  it('parses src=, source=, env=, type=', () => {
    expect(parseSecretFlag('id=a,src=/f')).toEqual({ id: 'a', source: { file: '/f' } });
    expect(parseSecretFlag('id=a,source=/f')).toEqual({ id: 'a', source: { file: '/f' } });
    expect(parseSecretFlag('id=a,env=VAR')).toEqual({ id: 'a', source: { env: 'VAR' } });
    expect(parseSecretFlag('id=A,type=env')).toEqual({ id: 'A', source: { env: 'A' } });
    expect(parseSecretFlag('id=a')).toEqual({ id: 'a', source: { file: 'a' } });
  });
  it('refuses what it cannot honour', () => {
    for (const bad of ['src=/f', 'id=a,src=/f,env=V', 'id=a,type=bogus', 'id=a,colour=red']) {
      expect(() => parseSecretFlag(bad)).toThrow(OcibuildError);
    }
  });
  it('parses --ssh ids and paths', () => {
    expect(parseSshFlag('default')).toEqual({ id: 'default', paths: [] });
    expect(parseSshFlag('git=/k1,/k2')).toEqual({ id: 'git', paths: ['/k1', '/k2'] });
    expect(() => parseSshFlag('bad id=/x')).toThrow(OcibuildError);
  });
});
