import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveInContext } from './resolve.js';

/** Entries to create: a directory (no target) or a symlink to `target`. */
type Entry = { path: string; target?: string };

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-resolve-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function makeFs(entries: Entry[]): Promise<void> {
  for (const e of entries) {
    const p = path.join(tmp, e.path);
    if (e.target === undefined) {
      // Like the upstream helper, ignore failures (e.g. a path through a dangling link).
      await mkdir(p, { recursive: true }).catch(() => undefined);
      continue;
    }
    await mkdir(path.dirname(p), { recursive: true });
    await symlink(e.target, p).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

/** Resolve `rel` inside scope `scope` (both relative to tmp) and compare with tmp/expected. */
async function check(scope: string, rel: string, expected: string): Promise<void> {
  const got = await resolveInContext(path.join(tmp, scope), rel);
  expect(got).toBe(path.join(tmp, expected));
}

// Behaviour of Docker's FollowSymlinkInScope (moby/sys symlink tests), restated with our API.
describe('resolveInContext', () => {
  it('re-roots an absolute link target at the context root', async () => {
    await makeFs([{ path: 'testdata/fs/a/d', target: '/b' }]);
    await check('testdata', 'fs/a/d/c/data', 'testdata/b/c/data');
    await check('testdata', 'fs/a/d', 'testdata/b');
  });

  it('follows relative links', async () => {
    await makeFs([{ path: 'testdata/fs/i', target: 'a' }]);
    await check('testdata', 'fs/i', 'testdata/fs/a');
    await makeFs([{ path: 'bar/foo', target: 'baz/target' }]);
    await check('', 'bar/foo', 'bar/baz/target');
  });

  it('does not evaluate symlinks in the root itself', async () => {
    await makeFs([{ path: 'linkdir', target: 'realdir' }, { path: 'linkdir/foo/bar' }]);
    await check('linkdir/foo', 'bar', 'linkdir/foo/bar');
    await makeFs([{ path: 'root2' }, { path: 'root', target: 'root2' }, { path: 'root2/foo', target: '../bar' }]);
    await check('root', 'foo', 'root/bar');
  });

  it('stops `..` in link targets at the root', async () => {
    await makeFs([{ path: 'testdata/fs/a/e', target: '../b' }]);
    await check('testdata', 'fs/a/e/c/data', 'testdata/fs/b/c/data');
    await check('testdata/fs/a', 'e', 'testdata/fs/a/b');
    await makeFs([{ path: 'testdata/fs/a/f', target: '../../../../test' }]);
    await check('testdata', 'fs/a/f', 'testdata/test');
    await check('testdata/fs', 'a/f', 'testdata/fs/test');
    await makeFs([
      { path: 'testdata/fs/b/h', target: '../g' },
      { path: 'testdata/fs/g', target: '../../../../../../../../../../../../root' },
    ]);
    await check('testdata', 'fs/b/h', 'testdata/root');
    await makeFs([{ path: 'testdata/fs/j/k', target: '../i/a' }]);
    await check('testdata/fs/j', 'k', 'testdata/fs/j/i/a');
  });

  it('never escapes to / or above the root', async () => {
    const sub = 'dir/subdir';
    await makeFs([{ path: `${sub}/foo`, target: '/' }, { path: `${sub}/bar`, target: '/../../' }, { path: `${sub}/baz`, target: '../../' }]);
    await check(sub, 'foo', sub);
    await check(sub, 'bar', sub);
    await check(sub, 'baz', sub);
    // `..` in the requested path itself is clamped too.
    await check(sub, '../../../etc/passwd', `${sub}/etc/passwd`);
    await check(sub, '/', sub);
    await check(sub, '', sub);
  });

  it('resolves long chains whose targets contain links', async () => {
    await makeFs([
      { path: 'root2' },
      { path: 'root', target: 'root2' },
      { path: 'root/a', target: 'r/s' },
      { path: 'root/r', target: '../root/t' },
      { path: 'root/root/t/s/b', target: '/../u' },
      { path: 'root/u/c', target: '.' },
      { path: 'root/u/x/y', target: '../v' },
      { path: 'root/u/v', target: '/../w' },
    ]);
    await check('root', 'a/b/c/x/y/z', 'root/w/z');
  });

  it('keeps non-existent components and does not clean link targets lexically', async () => {
    await makeFs([{ path: 'root/slash', target: '/' }, { path: 'root/sym', target: '/idontexist/../slash' }]);
    await check('root', 'sym/file', 'root/file');
    await makeFs([{ path: 'root/sym2', target: '/foo/bar' }, { path: 'root/hello', target: '/sym2/../baz' }]);
    await check('root', 'hello', 'root/foo/baz');
  });

  it('fails on a symlink loop with CONTEXT_ESCAPE (Docker: too many links)', async () => {
    await makeFs([{ path: 'root/foo', target: 'foo' }]);
    await expect(resolveInContext(path.join(tmp, 'root'), 'foo')).rejects.toMatchObject({ code: 'CONTEXT_ESCAPE' });
    await makeFs([
      { path: 'root/bar', target: 'baz' },
      { path: 'root/baz', target: '../bak' },
      { path: 'root/bak', target: '/bar' },
    ]);
    await expect(resolveInContext(path.join(tmp, 'root'), 'bar')).rejects.toThrow(/too many links/);
  });

  it('fails when a path goes through a regular file', async () => {
    await mkdir(path.join(tmp, 'root'));
    await writeFile(path.join(tmp, 'root', 'file'), '');
    await expect(resolveInContext(path.join(tmp, 'root'), 'file/x')).rejects.toMatchObject({ code: 'CONTEXT_NOT_FOUND' });
  });
});
