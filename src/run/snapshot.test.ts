import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Store } from '../cache/store.js';
import { writeLayer } from '../layers/write.js';
import { ensureLayerUnpacked, opaqueXattrName, writeOverlayWhiteouts } from '../rootfs/unpacked.js';
import { existsInLowers, listOpaqueDirs, snapshotUpper } from './snapshot.js';

const xattr = opaqueXattrName();

describe('snapshotUpper: overlay upper dir -> layer entries', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-snap-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('0/0 character devices become whiteouts, opaque xattrs opaque markers; unchanged files are not there to read', async () => {
    const up = path.join(tmp, 'upper');
    fs.mkdirSync(path.join(up, 'etc'), { recursive: true });
    fs.mkdirSync(path.join(up, 'data'));
    fs.writeFileSync(path.join(up, 'data/new'), 'x');
    fs.writeFileSync(path.join(up, 'hello'), 'hi\n');
    await writeOverlayWhiteouts(up, [path.join(up, 'etc/group'), path.join(up, 'gone dir')], [path.join(up, 'data')], xattr);
    const entries = await snapshotUpper(up, { opaqueXattrs: [xattr] });
    expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual(['directory data', 'opaque data', 'file data/new', 'directory etc', 'whiteout etc/group', 'whiteout gone dir', 'file hello']);
    // The writer turns them into OCI whiteouts.
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await writeLayer(entries, out, { compression: 'none', sourceDateEpoch: 0 });
    const names = execFileSync('tar', ['-t'], { input: Buffer.concat(chunks) }).toString().trim().split('\n');
    expect(names).toEqual(['.wh.gone dir', 'data/', 'data/.wh..wh..opq', 'data/new', 'etc/', 'etc/.wh.group', 'hello']);
  });

  it("reads fuse-overlayfs's file forms, drops the sandbox's mount stubs and the directories that only held them, maps owners back", async () => {
    const up = path.join(tmp, 'upper');
    for (const d of ['proc', 'sys', 'dev', 'etc', 'var/lib']) fs.mkdirSync(path.join(up, d), { recursive: true });
    for (const f of ['etc/hosts', 'etc/resolv.conf', 'etc/hostname']) fs.writeFileSync(path.join(up, f), '');
    fs.writeFileSync(path.join(up, 'var/.wh.cache'), '');
    fs.writeFileSync(path.join(up, 'var/lib/.wh..wh..opq'), '');
    await writeOverlayWhiteouts(up, [path.join(up, 'var/lib/.wh..opq')], [path.join(up, 'var/lib')], xattr);
    const uid = process.getuid!();
    const entries = await snapshotUpper(up, {
      stubs: ['proc', 'sys', 'dev', 'etc/hosts', 'etc/resolv.conf', 'etc/hostname'],
      stubParents: ['etc'],
      mapOwner: (u, g) => ({ uid: u === uid ? 0 : 65534, gid: g === process.getgid!() ? 0 : 65534 }),
    });
    expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual(['directory var', 'whiteout var/cache', 'directory var/lib', 'opaque var/lib']);
    expect(entries.every((e) => e.uid === 0 && e.gid === 0)).toBe(true);
  });

  it('keeps a stub the command wrote to, and a stub parent with other changes', async () => {
    const up = path.join(tmp, 'upper');
    fs.mkdirSync(path.join(up, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(up, 'etc/hosts'), '');
    fs.writeFileSync(path.join(up, 'etc/motd'), 'hi');
    fs.mkdirSync(path.join(up, 'proc'));
    fs.writeFileSync(path.join(up, 'proc/x'), '');
    const entries = await snapshotUpper(up, { stubs: ['etc/hosts', 'proc'], stubParents: ['etc'] });
    expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual(['directory etc', 'file etc/motd', 'directory proc', 'file proc/x']);
  });

  it('dangling and absolute symlinks in the upper dir are no error (h10b: npm ci wrote /etc/alternatives links)', async () => {
    const d = path.join(tmp, 'opq');
    fs.mkdirSync(d);
    fs.symlinkSync('/nonexistent/target', path.join(tmp, 'dangling'));
    fs.symlinkSync('/etc/alternatives/x', path.join(d, 'abs'));
    await writeOverlayWhiteouts(tmp, [], [d], xattr);
    expect([...(await listOpaqueDirs(tmp, [xattr]))]).toEqual(['opq']);
  });

  it('getfattr output with odd names decodes', async () => {
    const d = path.join(tmp, 'a b\nc');
    fs.mkdirSync(d);
    await writeOverlayWhiteouts(tmp, [], [d], xattr);
    expect([...(await listOpaqueDirs(tmp, [xattr]))]).toEqual(['a b\nc']);
  });

  it('existsInLowers: top layer first, a whiteout hides what is below', async () => {
    const low = path.join(tmp, 'low');
    const top = path.join(tmp, 'top');
    fs.mkdirSync(path.join(low, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(low, 'etc/hosts'), '');
    fs.mkdirSync(path.join(top, 'etc'), { recursive: true });
    expect(existsInLowers([top, low], 'etc/hosts')).toBe(true);
    await writeOverlayWhiteouts(top, [path.join(top, 'etc/hosts')], []);
    expect(existsInLowers([top, low], 'etc/hosts')).toBe(false);
    expect(existsInLowers([top, low], 'proc')).toBe(false);
  });
});

describe('ensureLayerUnpacked keeps whiteouts in overlay form', () => {
  it('`.wh.name` -> 0/0 character device, `.wh..wh..opq` -> opaque xattr; measured', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-unp-'));
    try {
      const store = await Store.open(path.join(tmp, 'store'));
      const writer = await store.createWriter();
      const entries = [
        { path: 'etc', type: 'directory' as const, mode: 0o755, uid: 0, gid: 0 },
        { path: 'etc/passwd', type: 'whiteout' as const, mode: 0, uid: 0, gid: 0 },
        { path: 'var', type: 'directory' as const, mode: 0o755, uid: 0, gid: 0 },
        { path: 'var', type: 'opaque' as const, mode: 0, uid: 0, gid: 0 },
        { path: 'var/keep', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 1, source: { kind: 'buffer' as const, data: Buffer.from('k') } },
        ...Array.from({ length: 100 }, (_, i) => ({ path: `many/w${i}`, type: 'whiteout' as const, mode: 0, uid: 0, gid: 0 })),
      ];
      const r = await writeLayer(entries, writer.stream, { sourceDateEpoch: 0 });
      const info = await writer.commit(r.digest);
      const t0 = performance.now();
      const dir = await ensureLayerUnpacked(store, { digest: info.digest, size: info.size, mediaType: r.mediaType, diffId: r.diffId });
      const ms = performance.now() - t0;
      console.log(`unpacked a layer with 101 whiteouts and 1 opaque directory in ${ms.toFixed(1)} ms`);
      const st = fs.lstatSync(path.join(dir, 'etc/passwd'));
      expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
      expect(fs.lstatSync(path.join(dir, 'many/w99')).isCharacterDevice()).toBe(true);
      expect([...(await listOpaqueDirs(dir, [xattr]))]).toEqual(['var']);
      expect(fs.readFileSync(path.join(dir, 'var/keep'), 'utf8')).toBe('k');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
