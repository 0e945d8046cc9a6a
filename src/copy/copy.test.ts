import fs from 'node:fs';
import path from 'node:path';
import { readIgnorePatterns } from '../context/ignore-file.js';
import { OcibuildError } from '../errors.js';
import { contextSourceFs, directoryDestFs, directorySourceFs, ignoreViewFromPatterns, planCopy, type CopyOptions, type CopySpec } from './index.js';
import { h, listEntries, makeTree, mtimes, removeTemp, tempDir } from './testing/helpers.js';

let tmp: string;
let ctx: string;

beforeEach(() => {
  tmp = tempDir();
  ctx = path.join(tmp, 'ctx');
  fs.mkdirSync(ctx);
});
afterEach(() => removeTemp(tmp));

function copy(sources: string[], dest: string, more: Partial<CopySpec> = {}): CopySpec {
  return { instruction: 'COPY', sources, dest, ...more };
}

async function plan(spec: CopySpec, options: Partial<CopyOptions> = {}): Promise<string[]> {
  const p = await planCopy(spec, { source: contextSourceFs(ctx), tmpDir: tmp, ...options });
  try {
    return listEntries(p.entries);
  } finally {
    await p.dispose();
  }
}

async function failure(spec: CopySpec, options: Partial<CopyOptions> = {}): Promise<OcibuildError> {
  try {
    await planCopy(spec, { source: contextSourceFs(ctx), tmpDir: tmp, ...options });
  } catch (e) {
    if (e instanceof OcibuildError) return e;
    throw e;
  }
  throw new Error('expected planCopy to fail');
}

describe('COPY sources', () => {
  test('a directory source copies its contents, not the directory itself', async () => {
    makeTree(ctx, { 'dir/a.txt': 'A', 'dir/sub': { dir: true, mode: 0o750 }, 'dir/sub/b.txt': { data: 'B', mode: 0o600 } });
    expect(await plan(copy(['dir'], '/app'))).toEqual([
      'directory app 0755 0:0',
      `file app/a.txt 0644 0:0 ${h('A')}`,
      'directory app/sub 0750 0:0',
      `file app/sub/b.txt 0600 0:0 ${h('B')}`,
    ]);
  });

  test('a trailing slash on the source is ignored', async () => {
    makeTree(ctx, { 'dir/a.txt': 'A' });
    expect(await plan(copy(['dir/'], '/app/'))).toEqual(['directory app 0755 0:0', `file app/a.txt 0644 0:0 ${h('A')}`]);
  });

  test('a glob copies each match into the destination directory', async () => {
    makeTree(ctx, { 'a.txt': 'A', 'b.txt': 'B', 'c.md': 'C', 'sub/d.txt': 'D' });
    expect(await plan(copy(['*.txt'], '/out/'))).toEqual([
      'directory out 0755 0:0',
      `file out/a.txt 0644 0:0 ${h('A')}`,
      `file out/b.txt 0644 0:0 ${h('B')}`,
    ]);
  });

  test('a glob in a middle segment matches per segment (Go filepath.Match)', async () => {
    makeTree(ctx, { 'x1/f.txt': '1', 'x2/f.txt': '2', 'x2/g.txt': 'g', 'y/f.txt': 'y' });
    expect(await plan(copy(['x?/f.txt'], '/o/'))).toEqual(['directory o 0755 0:0', `file o/f.txt 0644 0:0 ${h('2')}`]);
  });

  test('a glob matching a directory copies that directory\'s contents', async () => {
    makeTree(ctx, { 'pkg-a/x': 'x', 'pkg-b/y': 'y' });
    expect(await plan(copy(['pkg-*'], '/src/'))).toEqual(['directory src 0755 0:0', `file src/x 0644 0:0 ${h('x')}`, `file src/y 0644 0:0 ${h('y')}`]);
  });

  test('escaped brackets match a literal name', async () => {
    makeTree(ctx, { 'arr[0].txt': 'zero', 'arr0.txt': 'no' });
    expect(await plan(copy(['arr[[]0].txt'], '/d/'))).toEqual(['directory d 0755 0:0', `file d/arr[0].txt 0644 0:0 ${h('zero')}`]);
  });

  test('several sources need a destination ending in / (Docker\'s message)', async () => {
    makeTree(ctx, { 'a.txt': 'A', 'b.txt': 'B' });
    const e = await failure(copy(['a.txt', 'b.txt'], '/out'));
    expect(e.code).toBe('DOCKERFILE_INSTRUCTION');
    expect(e.message).toBe('When using COPY with more than one source file, the destination must be a directory and end with a /');
  });

  test('a wildcard matching several files needs a destination ending in /', async () => {
    makeTree(ctx, { 'a.txt': 'A', 'b.txt': 'B' });
    const e = await failure(copy(['*.txt'], 'out'));
    expect(e.message).toBe('When using COPY with more than one source file, the destination must be a directory and end with a /');
    const add = await failure({ instruction: 'ADD', sources: ['*.txt'], dest: '/out' });
    expect(add.message).toBe('When using ADD with more than one source file, the destination must be a directory and end with a /');
  });

  test('a wildcard matching one file may name a file destination', async () => {
    makeTree(ctx, { 'only.txt': 'O', 'x.md': 'x' });
    expect(await plan(copy(['*.txt'], '/etc/conf'))).toEqual(['directory etc 0755 0:0', `file etc/conf 0644 0:0 ${h('O')}`]);
  });

  test('a wildcard matching nothing copies nothing and warns (BuildKit AllowEmptyWildcard)', async () => {
    makeTree(ctx, { 'a.txt': 'A' });
    const p = await planCopy(copy(['*.none'], '/out/'), { source: contextSourceFs(ctx) });
    expect([...p.entries]).toEqual([]);
    expect(p.warnings).toEqual([{ source: '*.none', message: 'COPY source "*.none" matched no files in the build context' }]);
  });

  test('a source that matches nothing is CONTEXT_NOT_FOUND naming it', async () => {
    makeTree(ctx, { 'a.txt': 'A' });
    const e = await failure(copy(['missing.txt'], '/out/'));
    expect(e.code).toBe('CONTEXT_NOT_FOUND');
    expect(e.message).toBe('COPY source "missing.txt" not found: "/missing.txt" does not exist in the build context');
  });

  test('`..` in a source is clamped to the context root', async () => {
    makeTree(ctx, { 'a.txt': 'A' });
    fs.writeFileSync(path.join(tmp, 'a.txt'), 'OUTSIDE');
    expect(await plan(copy(['../a.txt'], '/x'))).toEqual([`file x 0644 0:0 ${h('A')}`]);
    expect(await plan(copy(['../../sub/../a.txt'], '/y'))).toEqual([`file y 0644 0:0 ${h('A')}`]);
  });

  test('file mtimes are kept from the source', async () => {
    makeTree(ctx, { 'a.txt': { data: 'A', mtime: 1_234_567_890 } });
    const p = await planCopy(copy(['a.txt'], '/a'), { source: contextSourceFs(ctx) });
    expect(mtimes(p.entries)).toEqual({ a: 1_234_567_890 });
  });
});

describe('COPY destination', () => {
  test('a file to a destination with a trailing slash lands at dest/name', async () => {
    makeTree(ctx, { 'test.txt': 'T' });
    expect(await plan(copy(['test.txt'], '/abs/'))).toEqual(['directory abs 0755 0:0', `file abs/test.txt 0644 0:0 ${h('T')}`]);
  });

  test('a file to a destination without a trailing slash is written as that file', async () => {
    makeTree(ctx, { 'test.txt': 'T' });
    expect(await plan(copy(['test.txt'], '/abs'))).toEqual([`file abs 0644 0:0 ${h('T')}`]);
  });

  test('a file to an existing directory of the image (no slash) lands inside it', async () => {
    makeTree(ctx, { 'test.txt': 'T' });
    const root = path.join(tmp, 'rootfs');
    makeTree(root, { etc: { dir: true, mode: 0o755 } });
    expect(await plan(copy(['test.txt'], '/etc'), { dest: directoryDestFs(root) })).toEqual([
      'directory etc 0755 0:0',
      `file etc/test.txt 0644 0:0 ${h('T')}`,
    ]);
  });

  test('a relative destination is resolved against WORKDIR', async () => {
    makeTree(ctx, { 'test.txt': 'T' });
    expect(await plan(copy(['test.txt'], 'rel/', { workdir: '/usr/src/app' }))).toEqual([
      'directory usr 0755 0:0',
      'directory usr/src 0755 0:0',
      'directory usr/src/app 0755 0:0',
      'directory usr/src/app/rel 0755 0:0',
      `file usr/src/app/rel/test.txt 0644 0:0 ${h('T')}`,
    ]);
    expect(await plan(copy(['test.txt'], '.', { workdir: '/w' }))).toEqual(['directory w 0755 0:0', `file w/test.txt 0644 0:0 ${h('T')}`]);
  });

  test('existing parent directories of the image are kept with their metadata', async () => {
    makeTree(ctx, { 'a.txt': 'A' });
    const root = path.join(tmp, 'rootfs');
    makeTree(root, { srv: { dir: true, mode: 0o700 } });
    // owners recorded for the unpacked tree (as the store keeps them), not on disk
    const dest = directoryDestFs(root, { metadata: (p) => (p === '/srv' ? { uid: 7, gid: 8 } : undefined) });
    expect(await plan(copy(['a.txt'], '/srv/www/'), { dest })).toEqual([
      'directory srv 0700 7:8',
      'directory srv/www 0755 0:0',
      `file srv/www/a.txt 0644 0:0 ${h('A')}`,
    ]);
  });

  test('symlinks in the destination path of the image are followed inside the image', async () => {
    makeTree(ctx, { x: 'X' });
    const root = path.join(tmp, 'rootfs');
    makeTree(root, { 'opt/bin': { dir: true }, 'usr/local': { dir: true }, 'usr/local/bin': { symlink: '../../opt/bin' } });
    expect(await plan(copy(['x'], '/usr/local/bin/'), { dest: directoryDestFs(root) })).toEqual([
      'directory opt 0755 0:0',
      'directory opt/bin 0755 0:0',
      `file opt/bin/x 0644 0:0 ${h('X')}`,
    ]);
  });

  test('--link does not look at the image: the destination path is made of fresh directories', async () => {
    makeTree(ctx, { x: 'X' });
    const root = path.join(tmp, 'rootfs');
    makeTree(root, { 'opt/bin': { dir: true }, 'usr/local': { dir: true, mode: 0o700 }, 'usr/local/bin': { symlink: '../../opt/bin' } });
    expect(await plan(copy(['x'], '/usr/local/bin/', { link: true }), { dest: directoryDestFs(root) })).toEqual([
      'directory usr 0755 0:0',
      'directory usr/local 0755 0:0',
      'directory usr/local/bin 0755 0:0',
      `file usr/local/bin/x 0644 0:0 ${h('X')}`,
    ]);
  });

  test('a directory onto an existing file is an error', async () => {
    makeTree(ctx, { 'dir/a': 'a' });
    const root = path.join(tmp, 'rootfs');
    makeTree(root, { target: 'file' });
    const e = await failure(copy(['dir'], '/target'), { dest: directoryDestFs(root) });
    expect(e.code).toBe('LAYER_INVALID');
    expect(e.message).toBe('cannot copy to non-directory: /target');
  });

  test('a file onto an existing directory of the same name inside a copied tree is an error', async () => {
    makeTree(ctx, { 'dir/a': 'a' });
    const root = path.join(tmp, 'rootfs');
    makeTree(root, { 'app/a/inner': 'x' });
    const e = await failure(copy(['dir'], '/app'), { dest: directoryDestFs(root) });
    expect(e.message).toBe('cannot replace to directory /app/a with file');
  });
});

describe('COPY symlinks', () => {
  test('a symlink named as the source is followed', async () => {
    makeTree(ctx, { 'a.txt': 'A', 'link.txt': { symlink: 'a.txt' } });
    expect(await plan(copy(['link.txt'], '/out/'))).toEqual(['directory out 0755 0:0', `file out/link.txt 0644 0:0 ${h('A')}`]);
  });

  test('a symlink to a directory named as the source copies the directory contents', async () => {
    makeTree(ctx, { 'real/f': 'F', cur: { symlink: 'real' } });
    expect(await plan(copy(['cur'], '/d'))).toEqual(['directory d 0755 0:0', `file d/f 0644 0:0 ${h('F')}`]);
  });

  test('symlinks inside a copied directory are kept as links', async () => {
    makeTree(ctx, { 'dir/a.txt': 'A', 'dir/l': { symlink: 'a.txt' }, 'dir/abs': { symlink: '/etc/passwd' } });
    expect(await plan(copy(['dir'], '/d/'))).toEqual([
      'directory d 0755 0:0',
      `file d/a.txt 0644 0:0 ${h('A')}`,
      'symlink d/abs 0777 0:0 -> /etc/passwd',
      'symlink d/l 0777 0:0 -> a.txt',
    ]);
  });

  test('a symlink pointing outside the context resolves inside the context root', async () => {
    makeTree(ctx, { secret: 'INSIDE', up: { symlink: '../../../../secret' }, abs: { symlink: '/secret' } });
    fs.writeFileSync(path.join(tmp, 'secret'), 'OUTSIDE');
    expect(await plan(copy(['up'], '/u'))).toEqual([`file u 0644 0:0 ${h('INSIDE')}`]);
    expect(await plan(copy(['abs'], '/a'))).toEqual([`file a 0644 0:0 ${h('INSIDE')}`]);
  });

  test('a symlink pointing outside to something missing in the context is not found', async () => {
    makeTree(ctx, { pw: { symlink: '/etc/passwd' } });
    const e = await failure(copy(['pw'], '/p'));
    expect(e.code).toBe('CONTEXT_NOT_FOUND');
    expect(e.message).toContain('"pw"');
  });
});

describe('.dockerignore', () => {
  const ignore = '# secrets\nnode_modules\n*.txt\n!keep.txt\n';

  function ignored() {
    return contextSourceFs(ctx, ignoreViewFromPatterns(readIgnorePatterns(ignore)));
  }

  test('a source excluded by .dockerignore is CONTEXT_EXCLUDED naming the file and the line', async () => {
    makeTree(ctx, { 'secret.txt': 's' });
    const e = await failure(copy(['secret.txt'], '/'), { source: ignored() });
    expect(e.code).toBe('CONTEXT_EXCLUDED');
    expect(e.message).toBe('"secret.txt" is excluded by .dockerignore:3: *.txt');
  });

  test('a source below an excluded directory names the directory\'s line', async () => {
    makeTree(ctx, { 'node_modules/x/index.js': 'js' });
    const e = await failure(copy(['node_modules/x/index.js'], '/'), { source: ignored() });
    expect(e.message).toBe('"node_modules/x/index.js" is excluded by .dockerignore:2: node_modules');
  });

  test('the ignore file name is the one the build used', async () => {
    makeTree(ctx, { 'a.txt': 's' });
    const src = contextSourceFs(ctx, ignoreViewFromPatterns(readIgnorePatterns('a.txt\n'), 'Dockerfile.dockerignore'));
    const e = await failure(copy(['a.txt'], '/'), { source: src });
    expect(e.message).toBe('"a.txt" is excluded by Dockerfile.dockerignore:1: a.txt');
  });

  test('copying the context leaves excluded files out and keeps re-included ones', async () => {
    makeTree(ctx, { 'a.txt': 'a', 'keep.txt': 'k', 'app.js': 'js', 'node_modules/m/i.js': 'm' });
    expect(await plan(copy(['.'], '/app/'), { source: ignored() })).toEqual([
      'directory app 0755 0:0',
      `file app/app.js 0644 0:0 ${h('js')}`,
      `file app/keep.txt 0644 0:0 ${h('k')}`,
    ]);
  });

  test('an excluded directory is walked for re-included entries and created only for them', async () => {
    makeTree(ctx, { 'docs/a.md': 'a', 'docs/keep/b.md': 'b', 'other/c': 'c' });
    const src = contextSourceFs(ctx, ignoreViewFromPatterns(readIgnorePatterns('docs\nother\n!docs/keep\n')));
    expect(await plan(copy(['.'], '/'), { source: src })).toEqual([
      'directory docs 0755 0:0',
      'directory docs/keep 0755 0:0',
      `file docs/keep/b.md 0644 0:0 ${h('b')}`,
    ]);
  });

  test('a wildcard does not match excluded files', async () => {
    makeTree(ctx, { 'a.txt': 'a', 'keep.txt': 'k' });
    expect(await plan(copy(['*.txt'], '/d/'), { source: ignored() })).toEqual(['directory d 0755 0:0', `file d/keep.txt 0644 0:0 ${h('k')}`]);
  });
});

describe('--chown', () => {
  function image(): string {
    const root = path.join(tmp, 'rootfs');
    makeTree(root, {
      'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1001:App:/home/app:/bin/sh\n',
      'etc/group': 'root:x:0:\nstaff:x:50:app\napp:x:1001:\n',
    });
    return root;
  }

  test('a user name takes uid and primary gid from the image\'s /etc/passwd; created parents are owned too', async () => {
    makeTree(ctx, { 'a.txt': 'A' });
    expect(await plan(copy(['a.txt'], '/home/app/'), { dest: directoryDestFs(image()), source: contextSourceFs(ctx) }).then((l) => l)).toEqual([
      'directory home 0755 0:0',
      'directory home/app 0755 0:0',
      `file home/app/a.txt 0644 0:0 ${h('A')}`,
    ]);
    expect(await plan(copy(['a.txt'], '/home/app/', { chown: { user: 'app' } }), { dest: directoryDestFs(image()) })).toEqual([
      'directory home 0755 1000:1001',
      'directory home/app 0755 1000:1001',
      `file home/app/a.txt 0644 1000:1001 ${h('A')}`,
    ]);
  });

  test('user:group names resolve from /etc/passwd and /etc/group', async () => {
    makeTree(ctx, { 'd/a.txt': 'A' });
    expect(await plan(copy(['d'], '/srv/', { chown: { user: 'app', group: 'staff' } }), { dest: directoryDestFs(image()) })).toEqual([
      'directory srv 0755 1000:50',
      `file srv/a.txt 0644 1000:50 ${h('A')}`,
    ]);
  });

  test('numeric ids need no lookup; a lone numeric user sets the same gid', async () => {
    makeTree(ctx, { 'a.txt': 'A' });
    expect(await plan(copy(['a.txt'], '/x', { chown: { user: '55', group: '66' } }))).toEqual([`file x 0644 55:66 ${h('A')}`]);
    expect(await plan(copy(['a.txt'], '/x', { chown: { user: '1' } }))).toEqual([`file x 0644 1:1 ${h('A')}`]);
    expect(await plan(copy(['a.txt'], '/x', { chown: { user: '10', group: 'staff' } }), { dest: directoryDestFs(image()) })).toEqual([`file x 0644 10:50 ${h('A')}`]);
  });

  test('unknown names fail like BuildKit', async () => {
    makeTree(ctx, { 'a.txt': 'A' });
    const u = await failure(copy(['a.txt'], '/x', { chown: { user: 'nobody2' } }), { dest: directoryDestFs(image()) });
    expect(u.message).toBe('unable to find user nobody2: no such user in /etc/passwd of the destination image');
    const g = await failure(copy(['a.txt'], '/x', { chown: { user: 'app', group: 'wheel' } }), { dest: directoryDestFs(image()) });
    expect(g.message).toBe('unable to find group wheel: no such group in /etc/group of the destination image');
    const none = await failure(copy(['a.txt'], '/x', { chown: { user: 'app' } }));
    expect(none.message).toBe('unable to find user app: the destination image has no /etc/passwd');
  });

  (process.getuid?.() === 0 ? test : test.skip)('a directory source keeps the owners on disk (needs root to chown the fixture)', async () => {
    const stage = path.join(tmp, 'stage');
    makeTree(stage, { 'bin/tool': { data: 'T', mode: 0o755, uid: 1234, gid: 99 } });
    expect(await plan(copy(['/bin/tool'], '/t'), { source: directorySourceFs(stage) })).toEqual([`file t 0755 1234:99 ${h('T')}`]);
  });

  test('--from sources keep their owners unless --chown is given', async () => {
    const stage = path.join(tmp, 'stage');
    makeTree(stage, { 'home/u/bin/tool': { data: 'T', mode: 0o755 } });
    const src = directorySourceFs(stage, { description: 'stage "build"', metadata: (rel) => (rel === 'home/u/bin/tool' ? { uid: 1234, gid: 99 } : undefined) });
    expect(await plan(copy(['/home/u/bin'], '/usr/bin/'), { source: src })).toEqual([
      'directory usr 0755 0:0',
      'directory usr/bin 0755 0:0',
      `file usr/bin/tool 0755 1234:99 ${h('T')}`,
    ]);
    expect(await plan(copy(['/home/u/bin'], '/usr/bin/', { chown: { user: '0', group: '0' } }), { source: src })).toEqual([
      'directory usr 0755 0:0',
      'directory usr/bin 0755 0:0',
      `file usr/bin/tool 0755 0:0 ${h('T')}`,
    ]);
    const e = await failure(copy(['/nope'], '/x'), { source: src });
    expect(e.message).toBe('COPY source "/nope" not found: "/nope" does not exist in the stage "build"');
  });
});

describe('--chmod', () => {
  test('octal applies to copied files and directories, not to created parents or symlinks', async () => {
    makeTree(ctx, { 'd/a.sh': 'sh', 'd/sub/b': 'b', 'd/l': { symlink: 'a.sh' } });
    expect(await plan(copy(['d'], '/opt/app/', { chmod: '0750' }))).toEqual([
      'directory opt 0755 0:0',
      'directory opt/app 0755 0:0',
      `file opt/app/a.sh 0750 0:0 ${h('sh')}`,
      'symlink opt/app/l 0777 0:0 -> a.sh',
      'directory opt/app/sub 0750 0:0',
      `file opt/app/sub/b 0750 0:0 ${h('b')}`,
    ]);
  });

  test('symbolic modes: +x, u=rwX,go=rX, g-w', async () => {
    makeTree(ctx, { 'd/run': { data: 'r', mode: 0o744 }, 'd/data': { data: 'd', mode: 0o664 }, 'd/sub': { dir: true, mode: 0o700 } });
    expect(await plan(copy(['d'], '/a/', { chmod: '+x' }))).toEqual([
      'directory a 0755 0:0',
      `file a/data 0775 0:0 ${h('d')}`,
      `file a/run 0755 0:0 ${h('r')}`,
      'directory a/sub 0711 0:0',
    ]);
    expect(await plan(copy(['d'], '/b/', { chmod: 'u=rwX,go=rX' }))).toEqual([
      'directory b 0755 0:0',
      `file b/data 0644 0:0 ${h('d')}`,
      `file b/run 0755 0:0 ${h('r')}`,
      'directory b/sub 0755 0:0',
    ]);
    expect(await plan(copy(['d/data'], '/c', { chmod: 'g-w,o+w' }))).toEqual([`file c 0646 0:0 ${h('d')}`]);
  });

  test('invalid values are rejected with BuildKit\'s message', async () => {
    makeTree(ctx, { a: 'a' });
    expect((await failure(copy(['a'], '/a', { chmod: '888' }))).message).toBe("invalid chmod parameter: '888'. it should be octal string and between 0 and 07777");
    expect((await failure(copy(['a'], '/a', { chmod: '17777' }))).message).toBe("invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777");
    expect((await failure(copy(['a'], '/a', { chmod: 'u+q' }))).code).toBe('DOCKERFILE_INSTRUCTION');
  });
});

describe('--parents', () => {
  test('keeps each source\'s parent directories relative to the context', async () => {
    makeTree(ctx, { 'x/a.txt': 'xa', 'y/a.txt': 'ya', x: { dir: true, mode: 0o750 } });
    expect(await plan(copy(['./x/a.txt', './y/a.txt'], '/parents/', { parents: true }))).toEqual([
      'directory parents 0755 0:0',
      'directory parents/x 0750 0:0',
      `file parents/x/a.txt 0644 0:0 ${h('xa')}`,
      'directory parents/y 0755 0:0',
      `file parents/y/a.txt 0644 0:0 ${h('ya')}`,
    ]);
    expect(await plan(copy(['./x/a.txt', './y/a.txt'], '/no_parents/'))).toEqual(['directory no_parents 0755 0:0', `file no_parents/a.txt 0644 0:0 ${h('ya')}`]);
  });

  test('a /./ pivot keeps only the parents after it', async () => {
    makeTree(ctx, { 'x/y/a.txt': 'a', 'x/y/b.txt': 'b', 'x/y/c.md': 'c' });
    expect(await plan(copy(['./x/./y/*.txt'], '/parents/', { parents: true }))).toEqual([
      'directory parents 0755 0:0',
      'directory parents/y 0755 0:0',
      `file parents/y/a.txt 0644 0:0 ${h('a')}`,
      `file parents/y/b.txt 0644 0:0 ${h('b')}`,
    ]);
  });

  test('** matches any number of directories', async () => {
    makeTree(ctx, { 'src/a.txt': 'a', 'src/x/b.txt': 'b', 'src/x/y/c.txt': 'c', 'src/x/y/d.go': 'd', 'other/e.txt': 'e' });
    expect(await plan(copy(['./src/**/*.txt'], '/parents/', { parents: true }))).toEqual([
      'directory parents 0755 0:0',
      'directory parents/src 0755 0:0',
      `file parents/src/a.txt 0644 0:0 ${h('a')}`,
      'directory parents/src/x 0755 0:0',
      `file parents/src/x/b.txt 0644 0:0 ${h('b')}`,
      'directory parents/src/x/y 0755 0:0',
      `file parents/src/x/y/c.txt 0644 0:0 ${h('c')}`,
    ]);
  });

  test('a directory source keeps its path and all its contents', async () => {
    makeTree(ctx, { 'a/b/c/f': 'f', 'a/b/c/g/h': 'h' });
    expect(await plan(copy(['a/b'], '/p/', { parents: true }))).toEqual([
      'directory p 0755 0:0',
      'directory p/a 0755 0:0',
      'directory p/a/b 0755 0:0',
      'directory p/a/b/c 0755 0:0',
      `file p/a/b/c/f 0644 0:0 ${h('f')}`,
      'directory p/a/b/c/g 0755 0:0',
      `file p/a/b/c/g/h 0644 0:0 ${h('h')}`,
    ]);
  });

  test('a literal --parents source that does not exist is an error', async () => {
    makeTree(ctx, { 'x/a': 'a' });
    const e = await failure(copy(['x/missing'], '/p/', { parents: true }));
    expect(e.code).toBe('CONTEXT_NOT_FOUND');
    expect(e.message).toContain('"x/missing"');
  });
});

describe('--exclude', () => {
  test('excludes matches of a wildcard source', async () => {
    makeTree(ctx, { 'home.txt': 't', 'home.md': 'm', 'homer.js': 'j', 'other.js': 'o' });
    expect(await plan(copy(['hom*'], '/mydir/', { excludes: ['*.txt'] }))).toEqual([
      'directory mydir 0755 0:0',
      `file mydir/home.md 0644 0:0 ${h('m')}`,
      `file mydir/homer.js 0644 0:0 ${h('j')}`,
    ]);
    expect(await plan(copy(['hom*'], '/mydir/', { excludes: ['*.txt', '*.md'] }))).toEqual(['directory mydir 0755 0:0', `file mydir/homer.js 0644 0:0 ${h('j')}`]);
  });

  test('excludes entries inside a copied directory (relative to it), with exceptions', async () => {
    makeTree(ctx, { 'app/a.js': 'a', 'app/a.test.js': 't', 'app/node_modules/m/i.js': 'm', 'app/node_modules/keep/k.js': 'k' });
    expect(await plan(copy(['app'], '/app/', { excludes: ['*.test.js', 'node_modules', '!node_modules/keep'] }))).toEqual([
      'directory app 0755 0:0',
      `file app/a.js 0644 0:0 ${h('a')}`,
      'directory app/node_modules 0755 0:0',
      'directory app/node_modules/keep 0755 0:0',
      `file app/node_modules/keep/k.js 0644 0:0 ${h('k')}`,
    ]);
  });

  test('an invalid pattern is rejected', async () => {
    makeTree(ctx, { a: 'a' });
    const e = await failure(copy(['a'], '/a', { excludes: ['[z-'] }));
    expect(e.code).toBe('DOCKERFILE_INSTRUCTION');
    expect(e.message).toContain('--exclude');
  });
});

describe('heredocs and hardlinks', () => {
  test('an inline file is written with mode 0644 under the destination name', async () => {
    expect(await plan(copy([], 'greeting.txt', { inline: [{ name: 'EOF', data: 'hello world\n' }], workdir: '/w' }))).toEqual([
      'directory w 0755 0:0',
      `file w/greeting.txt 0644 0:0 ${h('hello world\n')}`,
    ]);
    expect(await plan(copy([], '/scripts/', { inline: [{ name: 'EOT', data: 'echo hi\n' }], chmod: '755', chown: { user: '5' } }))).toEqual([
      'directory scripts 0755 5:5',
      `file scripts/EOT 0755 5:5 ${h('echo hi\n')}`,
    ]);
  });

  test('hardlinks within a copied tree stay hardlinks', async () => {
    makeTree(ctx, { 'd/a': 'same', 'd/sub/b': { hardlink: 'd/a' }, 'd/c': 'other' });
    expect(await plan(copy(['d'], '/h/'))).toEqual([
      'directory h 0755 0:0',
      `file h/a 0644 0:0 ${h('same')}`,
      `file h/c 0644 0:0 ${h('other')}`,
      'directory h/sub 0755 0:0',
      'hardlink h/sub/b 0644 0:0 -> h/a',
    ]);
  });

  test('COPY refuses URLs and git sources', async () => {
    expect((await failure(copy(['https://example.com/x'], '/x'))).message).toBe("source can't be a URL for COPY: https://example.com/x");
    expect((await failure(copy(['https://example.com/r.git#main'], '/x'))).message).toBe("source can't be a git ref for COPY: https://example.com/r.git#main");
  });

  test('names reserved for whiteouts are refused', async () => {
    makeTree(ctx, { 'd/.wh.x': 'x' });
    const e = await failure(copy(['d'], '/d/'));
    expect(e.code).toBe('LAYER_INVALID');
    expect(e.message).toContain('.wh.');
  });
});

describe('--exclude directories', () => {
  test('an excluded directory with an exception is created only when something below is re-included', async () => {
    makeTree(ctx, { 'app/a.js': 'a', 'app/node_modules/m/i.js': 'm' });
    expect(await plan(copy(['app'], '/app/', { excludes: ['node_modules', '!node_modules/keep'] }))).toEqual(['directory app 0755 0:0', `file app/a.js 0644 0:0 ${h('a')}`]);
  });
});

describe('--link details', () => {
  function image(): string {
    const root = path.join(tmp, 'rootfs');
    if (fs.existsSync(root)) return root;
    makeTree(root, { 'etc/passwd': 'app:x:1000:1000::/:/bin/sh\n', 'opt/bin': { dir: true }, 'usr/local': { dir: true }, 'usr/local/bin': { symlink: '../../opt/bin' } });
    return root;
  }

  test('--chown by name is refused with --link (the image is not read); numeric ids and root work', async () => {
    makeTree(ctx, { x: 'X' });
    const e = await failure(copy(['x'], '/x', { link: true, chown: { user: 'app' } }), { dest: directoryDestFs(image()) });
    expect(e.code).toBe('DOCKERFILE_INSTRUCTION');
    expect(e.message).toBe("--chown=app needs the image's user database, which --link does not read");
    expect(await plan(copy(['x'], '/x', { link: true, chown: { user: 'root' } }), { dest: directoryDestFs(image()) })).toEqual([`file x 0644 0:0 ${h('X')}`]);
    expect(await plan(copy(['x'], '/x', { link: true, chown: { user: '7', group: 'root' } }))).toEqual([`file x 0644 7:0 ${h('X')}`]);
  });

  test('with --chmod, --link has no effect (BuildKit copies onto the stage then)', async () => {
    makeTree(ctx, { x: 'X' });
    expect(await plan(copy(['x'], '/usr/local/bin/', { link: true, chmod: '755' }), { dest: directoryDestFs(image()) })).toEqual([
      'directory opt 0755 0:0',
      'directory opt/bin 0755 0:0',
      `file opt/bin/x 0755 0:0 ${h('X')}`,
    ]);
  });
});

describe('wildcard bases', () => {
  test('a wildcard under a directory that does not exist is CONTEXT_NOT_FOUND (fsutil walks the base)', async () => {
    makeTree(ctx, { 'a.txt': 'A' });
    const e = await failure(copy(['nodir/*.txt'], '/x/'));
    expect(e.code).toBe('CONTEXT_NOT_FOUND');
    expect(e.message).toBe('COPY source "nodir/*.txt" not found: "/nodir" does not exist in the build context');
  });
});

describe('.dockerignore decisions follow BuildKit\'s context walk', () => {
  it('`a/b` then `!a` keeps a/b/x out of COPY a (fsutil), though matchesOrParentMatches would let it in', async () => {
    const { ignoreViewFromPatterns: view } = await import('./ignore.js');
    const v = view(['a/b', '!a']);
    expect(v.excludedBy('a/b/x')).toMatchObject({ pattern: 'a/b' });
    expect(v.excludedBy('a/c')).toBeUndefined();
    const { PatternMatcher } = await import('../context/pattern-matcher.js');
    expect(new PatternMatcher(['a/b', '!a']).matchesOrParentMatches('a/b/x')).toBe(false); // the rule we do not use here
  });
});

describe('issue 7: context file names that are not valid UTF-8', () => {
  const bad = Buffer.from([0x69, 0x6e, 0x76, 0xff, 0x2d, 0xc3, 0x28]); // "inv", 0xff, "-", a broken 2-byte sequence
  const badDir = Buffer.from([0x64, 0xe9]); // "d" + latin-1 é

  async function layerNames(spec: CopySpec): Promise<Buffer[]> {
    const { copyToLayer } = await import('./copy.js');
    const chunks: Buffer[] = [];
    const { Writable } = await import('node:stream');
    const out = new Writable({ write: (c, _e, cb) => (chunks.push(Buffer.from(c)), cb()) });
    await copyToLayer(spec, { source: contextSourceFs(ctx), tmpDir: tmp }, out, { compression: 'none' });
    const tarFile = path.join(tmp, 'layer.tar');
    fs.writeFileSync(tarFile, Buffer.concat(chunks));
    // GNU tar lists the names as stored (bytes), one per line.
    const { execFileSync } = await import('node:child_process');
    const listed = execFileSync('tar', ['-tf', tarFile, '--quoting-style=literal']);
    const names: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < listed.length; i++) if (listed[i] === 0x0a) (names.push(listed.subarray(start, i)), (start = i + 1));
    return names;
  }

  beforeEach(() => {
    const ctxB = Buffer.from(ctx);
    fs.writeFileSync(Buffer.concat([ctxB, Buffer.from('/'), bad]), 'bad name');
    fs.mkdirSync(Buffer.concat([ctxB, Buffer.from('/'), badDir]));
    fs.writeFileSync(Buffer.concat([ctxB, Buffer.from('/'), badDir, Buffer.from('/f')]), 'in a bad dir');
    fs.writeFileSync(path.join(ctx, 'inv-ok'), 'good name');
  });

  it('COPY . / copies them with their exact bytes (PAX path records)', async () => {
    const names = await layerNames(copy(['.'], '/'));
    const hex = names.map((n) => n.toString('hex')).sort();
    expect(hex).toEqual(
      [Buffer.concat([badDir, Buffer.from('/')]), Buffer.concat([badDir, Buffer.from('/f')]), bad, Buffer.from('inv-ok')].map((b) => b.toString('hex')).sort(),
    );
  });

  it('a valid name holding U+FFFD itself is kept as it is, beside the invalid ones (the directory is read again as bytes)', async () => {
    fs.writeFileSync(path.join(ctx, 'rep\uFFFDlaced'), 'valid UTF-8');
    const names = await layerNames(copy(['.'], '/'));
    expect(names.map((n) => n.toString('hex'))).toContain(Buffer.from('rep\uFFFDlaced', 'utf8').toString('hex'));
    expect(names.map((n) => n.toString('hex'))).toContain(bad.toString('hex'));
    fs.rmSync(path.join(ctx, 'rep\uFFFDlaced'));
  });

  it('COPY inv* /x/ matches them too', async () => {
    const names = await layerNames(copy(['inv*'], '/x/'));
    expect(names.map((n) => n.toString('hex')).sort()).toEqual(
      [Buffer.from('x/'), Buffer.concat([Buffer.from('x/'), bad]), Buffer.from('x/inv-ok')].map((b) => b.toString('hex')).sort(),
    );
  });

  it('the planned entries carry the names losslessly (and their bytes are read)', async () => {
    const lines = await plan(copy(['.'], '/'));
    expect(lines).toHaveLength(4);
    expect(lines.some((l) => l.includes(h('bad name')))).toBe(true);
    expect(lines.some((l) => l.includes(h('in a bad dir')))).toBe(true);
  });
});
