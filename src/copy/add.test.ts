import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { contextSourceFs, parseGitRef, planCopy, urlFileName, type CopyOptions, type CopySpec } from './index.js';
import { gitIn, startGitHttpServer, type GitHttpServer } from './testing/git-server.js';
import { h, listEntries, makeTree, mtimes, rawTar, removeTemp, tempDir, type RawMember } from './testing/helpers.js';

let tmp: string;
let ctx: string;

beforeEach(() => {
  tmp = tempDir();
  ctx = path.join(tmp, 'ctx');
  fs.mkdirSync(ctx);
});
afterEach(() => removeTemp(tmp));

function add(sources: string[], dest: string, more: Partial<CopySpec> = {}): CopySpec {
  return { instruction: 'ADD', sources, dest, ...more };
}

async function plan(spec: CopySpec, options: Partial<CopyOptions> = {}): Promise<{ lines: string[]; mtimes: Record<string, number | undefined> }> {
  const p = await planCopy(spec, { source: contextSourceFs(ctx), tmpDir: tmp, ...options });
  try {
    return { lines: listEntries(p.entries), mtimes: mtimes(p.entries) };
  } finally {
    await p.dispose();
  }
}

async function failure(spec: CopySpec, options: Partial<CopyOptions> = {}): Promise<OcibuildError> {
  try {
    const p = await planCopy(spec, { source: contextSourceFs(ctx), tmpDir: tmp, ...options });
    await p.dispose();
  } catch (e) {
    if (e instanceof OcibuildError) return e;
    throw e;
  }
  throw new Error('expected planCopy to fail');
}

/** A tree packed by GNU tar with owners 1000:2000, a symlink and a hardlink. */
function makeArchive(name: string, compressFlag: string): void {
  const src = path.join(tmp, 'payload');
  if (!fs.existsSync(src)) {
    makeTree(src, { 'bin/tool': { data: 'TOOL', mode: 0o755 }, 'share/doc.txt': 'DOC', 'share/link': { symlink: 'doc.txt' }, 'share/hard': { hardlink: 'share/doc.txt' } });
  }
  execFileSync('tar', [`-c${compressFlag}f`, path.join(ctx, name), '--owner=1000', '--group=2000', '--numeric-owner', '--mtime=@1500000000', '--sort=name', '-C', src, '.']);
}

const ARCHIVE_LISTING = [
  'directory opt 0755 0:0',
  'directory opt/x 0755 0:0',
  'directory opt/x/bin 0755 1000:2000',
  `file opt/x/bin/tool 0755 1000:2000 ${h('TOOL')}`,
  'directory opt/x/share 0755 1000:2000',
  `file opt/x/share/doc.txt 0644 1000:2000 ${h('DOC')}`,
  'hardlink opt/x/share/hard 0644 1000:2000 -> opt/x/share/doc.txt',
  'symlink opt/x/share/link 0777 1000:2000 -> doc.txt',
];

describe('ADD local archives', () => {
  // The archive's "./" member is skipped (moby Untar), so the destination keeps the metadata it was created with.
  test.each([
    ['plain', 'a.tar.gz', ''],
    ['gzip', 'a.bin', 'z'],
    ['bzip2', 'a.tar', 'j'],
    ['xz', 'a.tgz', 'J'],
    ['zstd', 'a.zst', '--zstd -'],
  ])('a %s tar is detected by content and extracted into the destination', async (_kind, name, flag) => {
    if (flag === '--zstd -') {
      const src = path.join(tmp, 'payload');
      makeTree(src, { 'bin/tool': { data: 'TOOL', mode: 0o755 }, 'share/doc.txt': 'DOC', 'share/link': { symlink: 'doc.txt' }, 'share/hard': { hardlink: 'share/doc.txt' } });
      execFileSync('tar', ['--zstd', '-cf', path.join(ctx, name), '--owner=1000', '--group=2000', '--numeric-owner', '--mtime=@1500000000', '--sort=name', '-C', src, '.']);
    } else {
      makeArchive(name, flag);
    }
    const { lines, mtimes: m } = await plan(add([name], '/opt/x'));
    expect(lines).toEqual(ARCHIVE_LISTING);
    expect(m['opt/x/bin/tool']).toBe(1_500_000_000);
  });

  test('--chown overrides the archive owners', async () => {
    makeArchive('a.tar', '');
    const { lines } = await plan(add(['a.tar'], '/opt/x/', { chown: { user: '7' } }));
    expect(lines[0]).toBe('directory opt 0755 7:7');
    expect(lines).toContain(`file opt/x/bin/tool 0755 7:7 ${h('TOOL')}`);
  });

  test('a file named like an archive that is not one is copied as a file', async () => {
    makeTree(ctx, { 'empty.tar.gz': '', 'fake.tar': 'not a tar at all' });
    expect((await plan(add(['empty.tar.gz', 'fake.tar'], '/d/'))).lines).toEqual([
      'directory d 0755 0:0',
      `file d/empty.tar.gz 0644 0:0 ${h('')}`,
      `file d/fake.tar 0644 0:0 ${h('not a tar at all')}`,
    ]);
  });

  test('--unpack=false copies the archive as it is; COPY never unpacks', async () => {
    makeArchive('a.tar.gz', 'z');
    const bytes = fs.readFileSync(path.join(ctx, 'a.tar.gz'));
    expect((await plan(add(['a.tar.gz'], '/d/', { unpack: false }))).lines).toEqual(['directory d 0755 0:0', `file d/a.tar.gz 0644 0:0 ${h(bytes)}`]);
    expect((await plan({ instruction: 'COPY', sources: ['a.tar.gz'], dest: '/d/' })).lines).toEqual(['directory d 0755 0:0', `file d/a.tar.gz 0644 0:0 ${h(bytes)}`]);
  });

  function writeTar(name: string, members: RawMember[]): void {
    fs.writeFileSync(path.join(ctx, name), rawTar(members));
  }

  test('members escaping the destination are refused', async () => {
    writeTar('evil.tar', [{ name: 'ok/../../evil', data: 'x' }]);
    const e = await failure(add(['evil.tar'], '/d/'));
    expect(e.code).toBe('LAYER_ESCAPE');
    expect(e.message).toBe('evil.tar: archive path "ok/../../evil" is outside the extraction root');
  });

  test('members below a symlink of the archive follow it inside the extraction root', async () => {
    writeTar('links.tar', [
      { name: 'real', type: '5' },
      { name: 'lib', type: '2', linkname: 'real' },
      { name: 'abs', type: '2', linkname: '/real' },
      { name: 'lib/x', data: 'x' },
      { name: 'abs/y', data: 'y' },
    ]);
    expect((await plan(add(['links.tar'], '/d/'))).lines).toEqual([
      'directory d 0755 0:0',
      'symlink d/abs 0777 0:0 -> /real',
      'symlink d/lib 0777 0:0 -> real',
      'directory d/real 0755 0:0',
      `file d/real/x 0644 0:0 ${h('x')}`,
      `file d/real/y 0644 0:0 ${h('y')}`,
    ]);
  });

  test('a relative symlink of the archive leading out of the extraction root is refused', async () => {
    writeTar('up.tar', [
      { name: 'up', type: '2', linkname: '../../etc' },
      { name: 'up/passwd', data: 'x' },
    ]);
    const e = await failure(add(['up.tar'], '/d/'));
    expect(e.code).toBe('LAYER_ESCAPE');
    expect(e.message).toBe('up.tar: archive symlink "up" points outside the extraction root');
  });

  test('issue 7: a hardlink to a symlink (and a chain of them) works, and the layer keeps them linked', async () => {
    writeTar('hl.tar', [
      { name: 'target', data: 't' },
      { name: 'sl', type: '2', linkname: 'target' },
      { name: 'hl', type: '1', linkname: 'sl' },
      { name: 'hl2', type: '1', linkname: 'hl' },
    ]);
    const { lines } = await plan(add(['hl.tar'], '/d/'));
    expect(lines).toEqual(['directory d 0755 0:0', 'hardlink d/hl 0644 0:0 -> d/sl', 'hardlink d/hl2 0644 0:0 -> d/sl', 'symlink d/sl 0777 0:0 -> target', `file d/target 0644 0:0 ${h('t')}`]);
    // Written: the first path carries the symlink, the others link to it; applied, they share an inode.
    const { copyToLayer } = await import('./copy.js');
    const { Writable, Readable } = await import('node:stream');
    const chunks: Buffer[] = [];
    await copyToLayer(add(['hl.tar'], '/d/'), { source: contextSourceFs(ctx), tmpDir: tmp }, new Writable({ write: (c, _e, cb) => (chunks.push(Buffer.from(c)), cb()) }), { compression: 'none' });
    const { applyLayer } = await import('../layers/apply.js');
    const root = path.join(tmp, 'root');
    fs.mkdirSync(root);
    await applyLayer(Readable.from([Buffer.concat(chunks)]), root);
    expect(fs.readlinkSync(path.join(root, 'd/hl'))).toBe('target');
    expect(fs.lstatSync(path.join(root, 'd/hl2')).ino).toBe(fs.lstatSync(path.join(root, 'd/sl')).ino);
    expect(fs.lstatSync(path.join(root, 'd/hl')).ino).toBe(fs.lstatSync(path.join(root, 'd/sl')).ino);
  });

  test('device entries are not supported (BuildKit unpack)', async () => {
    writeTar('dev.tar', [{ name: 'null', type: '3', devmajor: 1, devminor: 3 }]);
    const e = await failure(add(['dev.tar'], '/d/'));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toBe('dev.tar: unsupported tar entry "null" (char)');
  });

  test('absolute member names are re-rooted under the destination', async () => {
    writeTar('abs.tar', [{ name: '/etc/motd', data: 'hi', mode: 0o640, uid: 3, gid: 4 }]);
    expect((await plan(add(['abs.tar'], '/root'))).lines).toEqual(['directory root 0755 0:0', 'directory root/etc 0755 0:0', `file root/etc/motd 0640 3:4 ${h('hi')}`]);
  });
});

describe('ADD URLs', () => {
  let server: http.Server;
  let base: string;
  const body = 'downloaded body\n';
  const digest = 'sha256:' + createHash('sha256').update(body).digest('hex');
  let tarGz: Buffer;

  beforeAll(async () => {
    const dir = tempDir();
    makeTree(path.join(dir, 'p'), { f: 'F' });
    execFileSync('tar', ['-czf', path.join(dir, 'a.tar.gz'), '--owner=0', '--group=0', '--numeric-owner', '-C', path.join(dir, 'p'), 'f']);
    tarGz = fs.readFileSync(path.join(dir, 'a.tar.gz'));
    removeTemp(dir);
    server = http.createServer((req, res) => {
      if (req.url === '/files/hello.txt') {
        res.writeHead(200, { 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT', 'content-disposition': 'attachment; filename="other.txt"' });
        res.end(body);
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: '/files/hello.txt' });
        res.end();
      } else if (req.url === '/') {
        res.end(body);
      } else if (req.url === '/a.tar.gz') {
        res.end(tarGz);
      } else {
        res.writeHead(404);
        res.end('nope');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('a URL to a directory destination takes its name from the URL path, mode 0600, mtime from Last-Modified', async () => {
    const { lines, mtimes: m } = await plan(add([`${base}/files/hello.txt`], '/dl/'));
    expect(lines).toEqual(['directory dl 0755 0:0', `file dl/hello.txt 0600 0:0 ${h(body)}`]);
    expect(m['dl/hello.txt']).toBe(Date.parse('Wed, 21 Oct 2015 07:28:00 GMT') / 1000);
  });

  test('a URL to a file destination is written at that path; redirects are followed', async () => {
    expect((await plan(add([`${base}/redirect`], '/etc/hello'))).lines).toEqual(['directory etc 0755 0:0', `file etc/hello 0600 0:0 ${h(body)}`]);
  });

  test('a URL without a path is saved as __unnamed__', async () => {
    expect((await plan(add([`${base}/`], '/d/'))).lines).toEqual(['directory d 0755 0:0', `file d/__unnamed__ 0600 0:0 ${h(body)}`]);
    expect(urlFileName('https://example.com')).toBe('__unnamed__');
    expect(urlFileName('https://example.com/a/b%20c.tgz?x=1')).toBe('b c.tgz');
  });

  test('--checksum that matches is accepted; --chown and --chmod apply', async () => {
    expect((await plan(add([`${base}/files/hello.txt`], '/x', { checksum: digest, chown: { user: '1', group: '2' }, chmod: '644' }))).lines).toEqual([`file x 0644 1:2 ${h(body)}`]);
  });

  test('--checksum that does not match is ADD_CHECKSUM with expected and actual', async () => {
    const wrong = 'sha256:' + '0'.repeat(64);
    const e = await failure(add([`${base}/files/hello.txt`], '/x', { checksum: wrong }));
    expect(e.code).toBe('ADD_CHECKSUM');
    expect(e.message).toBe(`checksum mismatch for ${base}/files/hello.txt: expected ${wrong}, got ${digest}`);
  });

  test('an HTTP error status is ADD_DOWNLOAD', async () => {
    const e = await failure(add([`${base}/missing`], '/x'));
    expect(e.code).toBe('ADD_DOWNLOAD');
    expect(e.message).toBe(`cannot download ${base}/missing: HTTP status 404`);
  });

  test('a remote archive is not extracted unless --unpack', async () => {
    expect((await plan(add([`${base}/a.tar.gz`], '/d/'))).lines).toEqual(['directory d 0755 0:0', `file d/a.tar.gz 0600 0:0 ${h(tarGz)}`]);
    expect((await plan(add([`${base}/a.tar.gz`], '/d/', { unpack: true }))).lines).toEqual(['directory d 0755 0:0', `file d/f 0644 0:0 ${h('F')}`]);
  });

  test('checksum rules: not for COPY, not for several or local sources', async () => {
    makeTree(ctx, { a: 'a' });
    expect((await failure({ instruction: 'COPY', sources: ['a'], dest: '/a', checksum: digest })).message).toBe("--checksum can't be specified for COPY");
    expect((await failure(add(['a'], '/a', { checksum: digest }))).message).toBe("checksum can't be specified for non-HTTP(S) or git sources");
    expect((await failure(add([`${base}/`, `${base}/x`], '/a/', { checksum: digest }))).message).toBe("checksum can't be specified for multiple sources");
  });
});

describe('git references', () => {
  test.each([
    ['https://github.com/moby/buildkit.git#v0.14.1:docs', { remote: 'https://github.com/moby/buildkit.git', ref: 'v0.14.1', subdir: 'docs' }],
    ['git@github.com:moby/buildkit.git#main', { remote: 'git@github.com:moby/buildkit.git', ref: 'main' }],
    ['git@github.com:user/repo.git', { remote: 'git@github.com:user/repo.git' }],
    ['ssh://git@host/repo.git#:sub', { remote: 'ssh://git@host/repo.git', subdir: 'sub' }],
    ['git://host/repo#abc123', { remote: 'git://host/repo', ref: 'abc123' }],
  ])('%s is a git source', (src, want) => {
    expect(parseGitRef(src)).toEqual(want);
  });

  test.each(['https://example.com/file.tar.gz', 'https://example.com/repo', './x.git', 'dir/repo.git', 'host:path'])('%s is not a git source', (src) => {
    expect(parseGitRef(src)).toBeUndefined();
  });
});

describe('ADD git repositories', () => {
  let server: GitHttpServer;
  let base: string;
  let root: string;
  let commitV1: string;
  let commitTime: number;

  function git(cwd: string, ...args: string[]): string {
    return gitIn(cwd, root, ...args);
  }

  beforeAll(async () => {
    root = tempDir('ocibuild-git-test-');
    const work = path.join(root, 'work');
    makeTree(work, { 'README.md': 'v1 readme', 'docs/guide.md': 'guide v1', 'docs/run.sh': { data: '#!/bin/sh\n', mode: 0o755 }, 'docs/latest': { symlink: 'guide.md' } });
    git(work, 'init', '-q', '-b', 'main');
    git(work, 'add', '.');
    git(work, 'commit', '-q', '-m', 'v1');
    git(work, 'tag', 'v1');
    commitV1 = git(work, 'rev-parse', 'HEAD');
    commitTime = 1_400_000_000;
    fs.writeFileSync(path.join(work, 'docs/guide.md'), 'guide v2');
    git(work, 'commit', '-q', '-am', 'v2');
    git(path.join(root), 'clone', '-q', '--bare', work, 'repo.git');
    // git http-backend as CGI behind node:http (smart HTTP protocol)
    server = await startGitHttpServer(root);
    base = server.base;
  });
  afterAll(async () => {
    await server.close();
    removeTemp(root);
  });

  test('a ref and a subdirectory over smart HTTP: files 0644/0755, dirs 0755, links kept, mtime = commit time', async () => {
    const { lines, mtimes: m } = await plan(add([`${base}/repo.git#v1:docs`], '/docs'));
    expect(lines).toEqual([
      'directory docs 0755 0:0',
      `file docs/guide.md 0644 0:0 ${h('guide v1')}`,
      'symlink docs/latest 0777 0:0 -> guide.md',
      `file docs/run.sh 0755 0:0 ${h('#!/bin/sh\n')}`,
    ]);
    expect(m['docs/guide.md']).toBe(commitTime);
  });

  test('the default branch without .git; --keep-git-dir keeps it', async () => {
    const { lines } = await plan(add([`${base}/repo.git`], '/src/'));
    expect(lines).toEqual([
      'directory src 0755 0:0',
      `file src/README.md 0644 0:0 ${h('v1 readme')}`,
      'directory src/docs 0755 0:0',
      `file src/docs/guide.md 0644 0:0 ${h('guide v2')}`,
      'symlink src/docs/latest 0777 0:0 -> guide.md',
      `file src/docs/run.sh 0755 0:0 ${h('#!/bin/sh\n')}`,
    ]);
    const kept = (await plan(add([`${base}/repo.git#main`], '/src/', { keepGitDir: true }))).lines;
    expect(kept).toContain('directory src/.git 0755 0:0');
    expect(kept.some((l) => l.startsWith('file src/.git/HEAD '))).toBe(true);
  });

  test('a commit --checksum (prefix) is verified', async () => {
    expect((await plan(add([`${base}/repo.git#v1`], '/r/', { checksum: commitV1.slice(0, 7) }))).lines).toContain(`file r/docs/guide.md 0644 0:0 ${h('guide v1')}`);
    const e = await failure(add([`${base}/repo.git#main`], '/r/', { checksum: commitV1 }));
    expect(e.code).toBe('ADD_CHECKSUM');
    expect(e.message).toMatch(new RegExp(`^checksum mismatch for ${base}/repo.git: expected commit ${commitV1}, got [0-9a-f]{40}$`));
  });

  test('a full commit SHA as the ref', async () => {
    expect((await plan(add([`${base}/repo.git#${commitV1}:docs`], '/d/'))).lines).toContain(`file d/guide.md 0644 0:0 ${h('guide v1')}`);
  });

  test('a dumb HTTP server (no shallow fetch) falls back to a full fetch', async () => {
    git(path.join(root, 'repo.git'), 'update-server-info');
    const dumb = http.createServer((req, res) => {
      const file = path.join(root, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
        res.writeHead(404);
        res.end();
        return;
      }
      fs.createReadStream(file).pipe(res);
    });
    await new Promise<void>((r) => dumb.listen(0, '127.0.0.1', r));
    const dumbBase = `http://127.0.0.1:${(dumb.address() as AddressInfo).port}`;
    try {
      expect((await plan(add([`${dumbBase}/repo.git#v1:docs`], '/d/'))).lines).toContain(`file d/guide.md 0644 0:0 ${h('guide v1')}`);
      expect((await plan(add([`${dumbBase}/repo.git`], '/d/'))).lines).toContain(`file d/docs/guide.md 0644 0:0 ${h('guide v2')}`);
    } finally {
      await new Promise<void>((r) => dumb.close(() => r()));
    }
  });

  test('a missing ref or subdirectory is ADD_GIT', async () => {
    expect((await failure(add([`${base}/repo.git#nope`], '/r/'))).code).toBe('ADD_GIT');
    const e = await failure(add([`${base}/repo.git#v1:nodir`], '/r/'));
    expect(e.code).toBe('ADD_GIT');
    expect(e.message).toMatch(/^subdirectory "nodir" not found in/);
  });
});

describe('git reference safety', () => {
  test.each(['https://h/r.git#--upload-pack=touch /tmp/x', 'https://h/r.git#-x', 'git@-oProxy:r.git', 'https://h/r.git#a..b'])('%j is refused', (src) => {
    expect(() => parseGitRef(src)).toThrow(OcibuildError);
  });
});
