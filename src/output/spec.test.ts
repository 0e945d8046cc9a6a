import { checkOutputSpec, parseOutputSpec, splitCsv } from './spec.js';

describe('parseOutputSpec', () => {
  it('parses the buildx forms', () => {
    expect(parseOutputSpec('type=oci,dest=out')).toEqual({ type: 'oci', dest: 'out', tar: false, names: [] });
    expect(parseOutputSpec('type=oci,dest=out.tar,tar=true')).toEqual({ type: 'oci', dest: 'out.tar', tar: true, names: [] });
    expect(parseOutputSpec('type=docker,dest=img.tar,name=a:1')).toEqual({ type: 'docker', dest: 'img.tar', names: ['a:1'] });
    expect(parseOutputSpec('dir')).toEqual({ type: 'local', dest: 'dir' });
    expect(parseOutputSpec('type=local,dest=d')).toEqual({ type: 'local', dest: 'd' });
    expect(parseOutputSpec('type=local,dest=d,devices=true')).toEqual({ type: 'local', dest: 'd', devices: true });
    expect(parseOutputSpec('type=local,dest=d,devices=false')).toEqual({ type: 'local', dest: 'd', devices: false });
    expect(() => parseOutputSpec('type=local,dest=d,devices=yes')).toThrow(/expected true or false/);
    expect(() => parseOutputSpec('type=oci,dest=d,devices=true')).toThrow(/does not take devices=/);
    expect(parseOutputSpec('type=image,"name=a:1,b:2",push=true')).toEqual({ type: 'image', names: ['a:1', 'b:2'], push: true });
    expect(parseOutputSpec('type=registry,name=r/x')).toEqual({ type: 'registry', names: ['r/x'] });
  });

  it('refuses what it would otherwise ignore', () => {
    expect(() => parseOutputSpec('type=docker,dest=x,compression=zstd')).toThrow(/does not take compression=/);
    expect(() => parseOutputSpec('type=local,dest=x,force-compression=true')).toThrow(/does not take force-compression=/);
    expect(() => parseOutputSpec('type=tar,dest=x')).toThrow(/type=tar is not supported/);
    expect(() => parseOutputSpec('type=oci')).toThrow(/needs dest=/);
    expect(() => parseOutputSpec('type=oci,dest=x,tar=maybe')).toThrow(/expected true or false/);
    expect(() => parseOutputSpec('type=oci,dest=x,dest=y')).toThrow(/given twice/);
    expect(() => parseOutputSpec('-')).toThrow(/not supported/);
  });

  it('parses compression, compression-level and force-compression as buildx (issue 12)', () => {
    expect(parseOutputSpec('type=oci,dest=x,compression=zstd')).toEqual({ type: 'oci', dest: 'x', tar: false, names: [], compression: { compression: 'zstd', force: false } });
    expect(parseOutputSpec('type=registry,name=r/x,compression=zstd,compression-level=9,force-compression=true')).toEqual({
      type: 'registry',
      names: ['r/x'],
      compression: { compression: 'zstd', level: 9, force: true },
    });
    expect(parseOutputSpec('type=image,compression=uncompressed')).toEqual({ type: 'image', names: [], push: false, compression: { compression: 'uncompressed', force: false } });
    // A level or force-compression alone means gzip (buildx's default compression).
    expect(parseOutputSpec('type=oci,dest=x,compression-level=1')).toEqual({ type: 'oci', dest: 'x', tar: false, names: [], compression: { compression: 'gzip', level: 1, force: false } });
    expect(parseOutputSpec('type=oci,dest=x,force-compression=true')).toEqual({ type: 'oci', dest: 'x', tar: false, names: [], compression: { compression: 'gzip', force: true } });
    expect(() => parseOutputSpec('type=oci,dest=x,compression=lz4')).toThrow(/compression=lz4 is not supported/);
    expect(() => parseOutputSpec('type=oci,dest=x,compression=gzip,compression-level=10')).toThrow(/from 0 to 9/);
    expect(() => parseOutputSpec('type=oci,dest=x,compression=zstd,compression-level=0')).toThrow(/from 1 to 19/);
    expect(() => parseOutputSpec('type=oci,dest=x,compression=zstd,compression-level=fast')).toThrow(/whole number/);
    expect(() => parseOutputSpec('type=oci,dest=x,compression=uncompressed,compression-level=3')).toThrow(/takes no level/);
    expect(() => parseOutputSpec('type=oci,dest=x,force-compression=maybe')).toThrow(/expected true or false/);
    for (const bad of ['type=oci,dest=x,compression=lz4', 'type=oci,dest=x,compression-level=10']) {
      expect(() => parseOutputSpec(bad)).toThrow(expect.objectContaining({ code: 'OUTPUT_INVALID' }));
    }
  });

  it('checks the compression of outputs given as objects (build() options)', () => {
    expect(checkOutputSpec({ type: 'oci', dest: 'x', tar: false, names: [], compression: { compression: 'zstd', level: 19, force: true } })).toBeTruthy();
    expect(() => checkOutputSpec({ type: 'oci', dest: 'x', tar: false, names: [], compression: { compression: 'lz4' as never, force: false } })).toThrow(expect.objectContaining({ code: 'OUTPUT_INVALID' }));
    expect(() => checkOutputSpec({ type: 'registry', names: [], compression: { compression: 'gzip', level: 11, force: false } })).toThrow(/from 0 to 9/);
    expect(() => checkOutputSpec({ type: 'local', dest: 'x', compression: { compression: 'gzip', force: false } } as never)).toThrow(/takes no compression/);
  });

  it('splits CSV with quotes', () => {
    expect(splitCsv('a="b,c",d')).toEqual(['a=b,c', 'd']);
    expect(splitCsv('a="x""y"')).toEqual(['a=x"y']);
    expect(() => splitCsv('a="b')).toThrow(/unterminated/);
  });
});
