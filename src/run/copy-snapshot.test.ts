import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { opaqueXattrName, writeOverlayWhiteouts } from '../rootfs/unpacked.js';
import { copyLowerTrees, diffSnapshots, diffTree, statTree, type StatRecord } from './copy-snapshot.js';
import type { LayerEntry } from '../layers/types.js';

const xattr = opaqueXattrName();
const root = process.getuid?.() === 0;
const OLD = new Date('2001-01-01T00:00:00Z');

const names = (entries: LayerEntry[]) => entries.map((e) => `${e.type} ${e.path}${e.linkname !== undefined ? ` -> ${e.linkname}` : ''}`);

describe('copy snapshot: lower trees copied, diffed by stat', () => {
  let tmp: string;
  let lower0: string;
  let lower1: string;
  let merged: string;
  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-copysnap-'));
    lower0 = path.join(tmp, 'l0');
    lower1 = path.join(tmp, 'l1');
    merged = path.join(tmp, 'merged');
    for (const d of ['l0/etc', 'l0/bin', 'l0/data/sub', 'l0/keep/deep', 'l0/opq/old', 'l0/tmp', 'l1/opq', 'merged']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
    fs.writeFileSync(path.join(lower0, 'etc/group'), 'root:x:0:\n');
    fs.writeFileSync(path.join(lower0, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    fs.writeFileSync(path.join(lower0, 'bin/busybox'), 'BUSYBOX');
    fs.chmodSync(path.join(lower0, 'bin/busybox'), 0o4755);
    fs.linkSync(path.join(lower0, 'bin/busybox'), path.join(lower0, 'bin/sh'));
    fs.symlinkSync('busybox', path.join(lower0, 'bin/ls'));
    fs.writeFileSync(path.join(lower0, 'data/a'), 'a');
    fs.writeFileSync(path.join(lower0, 'data/sub/b'), 'b');
    fs.writeFileSync(path.join(lower0, 'keep/deep/file'), 'unchanged');
    fs.writeFileSync(path.join(lower0, 'opq/old/x'), 'x');
    fs.writeFileSync(path.join(lower0, 'gone'), 'deleted by the upper layer');
    fs.chmodSync(path.join(lower0, 'tmp'), 0o1777);
    if (root) fs.chownSync(path.join(lower0, 'data/a'), 1000, 1001);
    // The upper layer: a file, a whiteout of `gone`, an opaque `opq` holding only `new`.
    fs.writeFileSync(path.join(lower1, 'opq/new'), 'n');
    fs.writeFileSync(path.join(lower1, 'top'), 't');
    await writeOverlayWhiteouts(lower1, [path.join(lower1, 'gone')], [path.join(lower1, 'opq')], xattr);
    // Old timestamps: a write after the snapshot always moves mtime, however coarse the clock.
    for (const t of [lower0, lower1]) {
      const walk = (d: string) => {
        for (const n of fs.readdirSync(d)) {
          const p = path.join(d, n);
          const st = fs.lstatSync(p);
          if (st.isDirectory()) walk(p);
          if (!st.isCharacterDevice()) fs.lutimesSync(p, OLD, OLD);
        }
        fs.utimesSync(d, OLD, OLD);
      };
      walk(t);
    }
    await copyLowerTrees([lower0, lower1], merged, { opaqueXattrs: [xattr] });
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('merges the trees as overlay shows them: whiteouts and opaque dirs applied; owners, modes, hardlinks, symlinks, times kept', async () => {
    const snap = await statTree(merged);
    expect([...snap.keys()].sort()).toEqual(
      ['bin', 'bin/busybox', 'bin/ls', 'bin/sh', 'data', 'data/a', 'data/sub', 'data/sub/b', 'etc', 'etc/group', 'etc/passwd', 'keep', 'keep/deep', 'keep/deep/file', 'opq', 'opq/new', 'tmp', 'top'].sort(),
    );
    expect(snap.get('bin/busybox')!.mode).toBe(0o4755);
    expect(snap.get('bin/sh')!.ino).toBe(snap.get('bin/busybox')!.ino);
    expect(snap.get('bin/ls')!.linkname).toBe('busybox');
    expect(snap.get('tmp')!.mode).toBe(0o1777);
    expect(snap.get('keep/deep/file')!.mtimeNs).toBe(BigInt(OLD.getTime()) * 1_000_000n);
    expect(snap.get('keep')!.mtimeNs).toBe(BigInt(OLD.getTime()) * 1_000_000n);
    if (root) expect([snap.get('data/a')!.uid, snap.get('data/a')!.gid]).toEqual([1000, 1001]);
  });

  it('an untouched tree diffs to nothing', async () => {
    const before = await statTree(merged);
    expect(await diffTree(merged, before)).toEqual([]);
  });

  it('new, changed content, mode only, owner only, deleted file, deleted dir, replaced dir, retargeted symlink, hardlinks', async () => {
    const before = await statTree(merged);
    // Birth times come from the kernel's coarse clock (a tick of a few ms): a command starts later than that.
    await new Promise((r) => setTimeout(r, 50));
    const m = (p: string) => path.join(merged, p);
    fs.writeFileSync(m('hello'), 'hi\n'); // new
    fs.writeFileSync(m('etc/passwd'), 'root:x:0:0::/root:/bin/ash\n'); // changed content, same size
    fs.chmodSync(m('etc/group'), 0o600); // mode only
    if (root) fs.chownSync(m('top'), 5, 6); // owner only
    fs.rmSync(m('data/sub'), { recursive: true }); // deleted dir: one whiteout
    fs.rmSync(m('data/a')); // deleted file
    fs.rmSync(m('opq'), { recursive: true }); // replaced dir: opaque, no whiteouts below it
    fs.mkdirSync(m('opq'));
    fs.writeFileSync(m('opq/fresh'), 'f');
    fs.rmSync(m('bin/ls'));
    fs.symlinkSync('/bin/busybox', m('bin/ls')); // retargeted
    fs.linkSync(m('bin/busybox'), m('bin/cat')); // a hardlink to an unchanged file: both are in the layer
    const entries = await diffTree(merged, before);
    expect(names(entries)).toEqual([
      'directory bin',
      'file bin/busybox',
      'hardlink bin/cat -> bin/busybox',
      'symlink bin/ls -> /bin/busybox',
      'hardlink bin/sh -> bin/busybox',
      'directory data',
      'whiteout data/a',
      'whiteout data/sub',
      'directory etc',
      'file etc/group',
      'file etc/passwd',
      'file hello',
      'directory opq',
      'opaque opq',
      'file opq/fresh',
      ...(root ? ['file top'] : []),
    ]);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get('etc/group')!.mode).toBe(0o600);
    expect(byPath.get('etc/passwd')!.source).toEqual({ kind: 'path', path: m('etc/passwd') });
    expect(byPath.get('bin/busybox')!.mode).toBe(0o4755);
    if (root) expect([byPath.get('top')!.uid, byPath.get('top')!.gid]).toEqual([5, 6]);
    // Nothing of the untouched subtree, not even its directories.
    expect(entries.some((e) => e.path.startsWith('keep'))).toBe(false);
  });

  it("drops the sandbox's empty mount stubs and the directories that only held them; keeps a stub the command wrote to; maps owners", async () => {
    const before = await statTree(merged);
    for (const d of ['proc', 'dev']) fs.mkdirSync(path.join(merged, d));
    fs.writeFileSync(path.join(merged, 'etc/hosts'), '');
    fs.writeFileSync(path.join(merged, 'etc/hostname'), 'written');
    fs.mkdirSync(path.join(merged, 'tmp/x'));
    const uid = process.getuid!();
    const entries = await diffTree(merged, before, {
      stubs: ['proc', 'dev', 'etc/hosts', 'etc/hostname'],
      stubParents: ['etc'],
      mapOwner: (u, g) => ({ uid: u === uid ? 0 : 65534, gid: g === process.getgid!() ? 0 : 65534 }),
    });
    expect(names(entries)).toEqual(['directory etc', 'file etc/hostname', 'directory tmp', 'directory tmp/x']);
    expect(entries.every((e) => e.uid === 0 && e.gid === 0)).toBe(true);
    fs.rmSync(path.join(merged, 'etc/hostname'));
    fs.rmSync(path.join(merged, 'tmp/x'), { recursive: true });
    // A directory whose child was made and removed is in the layer, as overlay copies it up.
    expect(names(await diffTree(merged, before, { stubs: ['proc', 'dev', 'etc/hosts', 'etc/hostname'], stubParents: ['etc'] }))).toEqual(['directory tmp']);
  });

  it('a directory made again on its old inode (ext4 reuses freed inodes at once) is opaque by its birth time', () => {
    const rec = (kind: StatRecord['kind'], ino: number, birth: number): StatRecord => ({
      kind, dev: 1n, ino: BigInt(ino), ctimeNs: BigInt(birth), mtimeNs: BigInt(birth), birthtimeNs: BigInt(birth), size: 0n, mode: 0o755, uid: 0, gid: 0, rdev: 0n, nlink: 1n,
    });
    const before = new Map([['d', rec('directory', 5, 1)], ['d/old', rec('file', 6, 1)]]);
    const after = new Map([['d', rec('directory', 5, 2)], ['d/new', rec('file', 6, 2)]]);
    expect(names(diffSnapshots(tmp, before, after))).toEqual(['directory d', 'opaque d', 'file d/new']);
  });
});
