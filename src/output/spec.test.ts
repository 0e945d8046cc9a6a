import { parseOutputSpec, splitCsv } from './spec.js';

describe('parseOutputSpec', () => {
  it('parses the buildx forms', () => {
    expect(parseOutputSpec('type=oci,dest=out')).toEqual({ type: 'oci', dest: 'out', tar: false, names: [] });
    expect(parseOutputSpec('type=oci,dest=out.tar,tar=true')).toEqual({ type: 'oci', dest: 'out.tar', tar: true, names: [] });
    expect(parseOutputSpec('type=docker,dest=img.tar,name=a:1')).toEqual({ type: 'docker', dest: 'img.tar', names: ['a:1'] });
    expect(parseOutputSpec('dir')).toEqual({ type: 'local', dest: 'dir' });
    expect(parseOutputSpec('type=local,dest=d')).toEqual({ type: 'local', dest: 'd' });
    expect(parseOutputSpec('type=image,"name=a:1,b:2",push=true')).toEqual({ type: 'image', names: ['a:1', 'b:2'], push: true });
    expect(parseOutputSpec('type=registry,name=r/x')).toEqual({ type: 'registry', names: ['r/x'] });
  });

  it('refuses what it would otherwise ignore', () => {
    expect(() => parseOutputSpec('type=oci,dest=x,compression=zstd')).toThrow(/does not take compression=/);
    expect(() => parseOutputSpec('type=tar,dest=x')).toThrow(/type=tar is not supported/);
    expect(() => parseOutputSpec('type=oci')).toThrow(/needs dest=/);
    expect(() => parseOutputSpec('type=oci,dest=x,tar=maybe')).toThrow(/expected true or false/);
    expect(() => parseOutputSpec('type=oci,dest=x,dest=y')).toThrow(/given twice/);
    expect(() => parseOutputSpec('-')).toThrow(/not supported/);
  });

  it('splits CSV with quotes', () => {
    expect(splitCsv('a="b,c",d')).toEqual(['a=b,c', 'd']);
    expect(splitCsv('a="x""y"')).toEqual(['a=x"y']);
    expect(() => splitCsv('a="b')).toThrow(/unterminated/);
  });
});
