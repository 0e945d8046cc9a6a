import { OcibuildError } from '../errors.js';
import { detectCompression, isTarHeader } from './archive.js';
import { parseChmod } from './chmod.js';
import { resolveChown, splitChown } from './chown.js';
import { containsWildcards, matchInclude, splitWildcards, unescapeLiteral } from './glob.js';
import { absClean, cleanPath, resolveDestination, resolveInRoot, type LinkReader } from './paths.js';

describe('chmod', () => {
  test.each([
    ['755', 0o644, false, 0o755],
    ['0640', 0o777, true, 0o640],
    ['4755', 0o644, false, 0o4755],
    ['+x', 0o644, false, 0o755],
    ['a-x', 0o755, false, 0o644],
    ['u+x,g-w', 0o664, false, 0o744],
    ['u=rwX,go=rX', 0o600, true, 0o755],
    ['u=rwX,go=rX', 0o600, false, 0o644],
    ['u=rwX,go=rX', 0o700, false, 0o755],
    ['g=u', 0o640, false, 0o660],
    ['o=', 0o777, false, 0o770],
    ['u+s', 0o755, false, 0o4755],
    ['g+s', 0o755, true, 0o2755],
    ['+t', 0o777, true, 0o1777],
    ['go-rwx', 0o777, false, 0o700],
    ['u+r,u+w', 0o000, false, 0o600],
  ])('%s on %o (dir=%s) gives %o', (text, mode, isDir, want) => {
    expect(parseChmod(text).apply(mode, isDir).toString(8)).toBe(want.toString(8));
  });

  test.each(['888', '10000', '', 'x+r', 'u', 'u+q', 'u+x,'])('%j is rejected', (text) => {
    expect(() => parseChmod(text)).toThrow(OcibuildError);
  });
});

describe('chown', () => {
  const files: Record<string, string> = {
    '/etc/passwd': 'root:x:0:0::/root:/bin/sh\nweb:x:33:34::/var/www:/bin/false\n',
    '/etc/group': 'root:x:0:\nwww:x:34:\nadm:x:4:web\n',
  };
  const lookup = async (p: string) => (files[p] === undefined ? undefined : Buffer.from(files[p]!));

  test.each([
    ['web', { uid: 33, gid: 34 }],
    ['web:adm', { uid: 33, gid: 4 }],
    ['web:7', { uid: 33, gid: 7 }],
    ['5:adm', { uid: 5, gid: 4 }],
    ['5', { uid: 5, gid: 5 }],
    ['5:6', { uid: 5, gid: 6 }],
    [':adm', { uid: 0, gid: 4 }],
  ])('%s', async (value, want) => {
    expect(await resolveChown(splitChown(value), lookup)).toEqual(want);
  });

  test('numeric ids never read the image', async () => {
    expect(await resolveChown({ user: '1', group: '2' }, undefined)).toEqual({ uid: 1, gid: 2 });
  });

  test('ids out of range are rejected', async () => {
    await expect(resolveChown({ user: '99999999999' }, lookup)).rejects.toThrow('out of range');
  });
});

describe('source wildcards', () => {
  test('containsWildcards skips escaped characters', () => {
    expect(containsWildcards('a*')).toBe(true);
    expect(containsWildcards('a\\*')).toBe(false);
    expect(containsWildcards('[ab]')).toBe(true);
    expect(containsWildcards('plain/path')).toBe(false);
  });

  test('splitWildcards splits at the first segment with a wildcard', () => {
    expect(splitWildcards('/a/b*/c')).toEqual(['/a', 'b*/c']);
    expect(splitWildcards('/*.txt')).toEqual(['/', '*.txt']);
    expect(splitWildcards('/a/b')).toEqual(['/a/b', '']);
  });

  test('unescapeLiteral drops escapes', () => {
    expect(unescapeLiteral('a\\*b')).toBe('a*b');
  });

  test.each([
    ['x/a.txt', 'x', true, 'partial'],
    ['x/a.txt', 'x/a.txt', false, 'full'],
    ['x/a.txt', 'y', true, 'none'],
    ['src/**/*.txt', 'src', true, 'partial'],
    ['src/**/*.txt', 'src/a/b/c.txt', false, 'full'],
    ['src/**/*.txt', 'src/c.txt', false, 'full'],
    ['src/**/*.txt', 'src/a/b', true, 'partial'],
    ['src/**/*.txt', 'src/a/b.go', false, 'none'],
    ['a/**', 'a', true, 'full'],
    ['*/y', 'q', true, 'partial'],
    ['*/y', 'q', false, 'none'],
  ] as const)('include %s vs %s (dir=%s): %s', (pattern, p, isDir, want) => {
    expect(matchInclude(pattern, p, isDir)).toBe(want);
  });
});

describe('paths', () => {
  test('cleanPath is Go path.Clean', () => {
    expect(cleanPath('a//b/./c/..')).toBe('a/b');
    expect(cleanPath('/../x')).toBe('/x');
    expect(cleanPath('../x')).toBe('../x');
    expect(cleanPath('')).toBe('.');
    expect(absClean('../../a/')).toBe('/a');
  });

  test.each([
    ['/abs/', '/w', { path: '/abs', isDir: true }],
    ['/abs', '/w', { path: '/abs', isDir: false }],
    ['rel/', '/usr/src/app', { path: '/usr/src/app/rel', isDir: true }],
    ['.', '/w', { path: '/w', isDir: true }],
    ['', '/w', { path: '/w', isDir: true }],
    ['sub/.', '/w', { path: '/w/sub', isDir: true }],
    ['../x', '/w/d', { path: '/w/x', isDir: false }],
    ['/', '/w', { path: '/', isDir: true }],
  ])('destination %j in WORKDIR %s', (dest, wd, want) => {
    expect(resolveDestination(dest, wd)).toEqual(want);
  });

  test('resolveInRoot keeps symlink resolution inside the root', async () => {
    const tree: Record<string, string | 'dir'> = { a: 'dir', 'a/up': '../../../b', b: 'dir', abs: '/a', loop: 'loop' };
    const fsv: LinkReader = {
      kind: async (rel) => (tree[rel] === undefined ? undefined : tree[rel] === 'dir' ? 'directory' : 'symlink'),
      readlink: async (rel) => tree[rel] as string,
    };
    expect(await resolveInRoot(fsv, '/a/up/x', true)).toBe('b/x');
    expect(await resolveInRoot(fsv, '/abs/up', true)).toBe('b');
    expect(await resolveInRoot(fsv, '/abs/up', false)).toBe('a/up');
    expect(await resolveInRoot(fsv, '/missing/../a', true)).toBe('a');
    await expect(resolveInRoot(fsv, '/loop', true)).rejects.toThrow('too many levels of symbolic links');
  });
});

describe('archive detection', () => {
  test('magic bytes', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 0x08, 0]))).toBe('gzip');
    expect(detectCompression(Buffer.from('BZh91AY'))).toBe('bzip2');
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe('xz');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(detectCompression(Buffer.from('hello'))).toBe('none');
  });

  test('a tar header needs a valid checksum', () => {
    const block = Buffer.alloc(512);
    block.write('name', 0);
    block.write('0000644\0', 100);
    let sum = 0;
    block.fill(0x20, 148, 156);
    for (const b of block) sum += b;
    block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    expect(isTarHeader(block)).toBe(true);
    block[0] = 0x41;
    expect(isTarHeader(block)).toBe(false);
    expect(isTarHeader(Buffer.alloc(512))).toBe(false);
  });
});
