import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer } from './apply.js';
import { parseWhiteout, validateLayerEntry } from './names.js';
import { decodeFsName } from '../fs-names.js';
import { entriesFromDirectory } from './walk.js';
import { BLOCK, encodeHeader, TypeFlag } from './tar-format.js';
import type { LayerEntry } from './types.js';
import { byteByByte, dir, file, snapshot, tempDir, writeToBuffer } from './testing/helpers.js';

/** A hand-made tar (no validation at all): how a malicious layer looks. */
function rawTar(items: { name: string; type?: number; linkname?: string; body?: string; mode?: number }[]): Buffer {
  const parts: Buffer[] = [];
  for (const it of items) {
    const body = Buffer.from(it.body ?? '');
    parts.push(encodeHeader({ path: it.name, typeflag: it.type ?? TypeFlag.file, mode: it.mode ?? 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, linkname: it.linkname ?? '', devmajor: 0, devminor: 0 }));
    parts.push(body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** A one-member tar (a whiteout) whose name is these bytes. */
function rawTarBytes(name: Buffer): Buffer {
  const h = encodeHeader({ path: 'x', typeflag: TypeFlag.file, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '', devmajor: 0, devminor: 0 });
  h.fill(0, 0, 100);
  name.copy(h, 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return Buffer.concat([h, Buffer.alloc(2 * BLOCK)]);
}

async function apply(layer: LayerEntry[] | Buffer, root: string, gzip = true) {
  const data = Buffer.isBuffer(layer) ? layer : (await writeToBuffer(layer, { compression: gzip ? 'gzip' : 'none' })).data;
  return applyLayer(Readable.from([data]), root);
}

let work: string;
beforeEach(() => {
  work = tempDir();
});
afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('applyLayer', () => {
  it('round-trips a directory: walk → write → apply gives the same tree (modes, owners, links, mtimes)', async () => {
    const src = path.join(work, 'src');
    fs.mkdirSync(path.join(src, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(src, 'ro'), { recursive: true });
    fs.writeFileSync(path.join(src, 'bin/tool'), 'tool');
    fs.chmodSync(path.join(src, 'bin/tool'), 0o4755);
    fs.linkSync(path.join(src, 'bin/tool'), path.join(src, 'bin/tool2'));
    fs.symlinkSync('bin/tool', path.join(src, 'link'));
    fs.writeFileSync(path.join(src, 'ro/file'), 'r');
    fs.chownSync(path.join(src, 'ro/file'), 1234, 5678);
    fs.chmodSync(path.join(src, 'ro'), 0o555);
    const entries = await entriesFromDirectory(src);
    const { result, data } = await writeToBuffer(entries, { sourceDateEpoch: 1_600_000_000 });
    const dst = path.join(work, 'dst');
    fs.mkdirSync(dst);
    const res = await applyLayer(byteByByte(data), dst, { expectedDiffId: result.diffId });
    expect(res).toEqual({ diffId: result.diffId, size: result.uncompressedSize, entries: entries.length, skipped: [] });
    expect(snapshot(dst)).toEqual(snapshot(src));
    expect(fs.statSync(path.join(dst, 'ro')).mtimeMs).toBe(1_600_000_000_000);
    expect(fs.lstatSync(path.join(dst, 'link')).mtimeMs).toBe(1_600_000_000_000);
    expect(fs.statSync(path.join(dst, 'bin/tool2')).ino).toBe(fs.statSync(path.join(dst, 'bin/tool')).ino);
  });

  it('whiteouts delete lower entries; opaque dirs clear lower contents but keep what the layer adds', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    await apply([dir('a'), file('a/keep', '1'), file('a/gone', '2'), dir('a/sub'), file('a/sub/x', '3'), dir('o'), file('o/old1', 'x'), dir('o/olddir'), file('o/olddir/f', 'y'), file('top', 't')], root);
    await apply(
      [
        { path: 'a/gone', type: 'whiteout', mode: 0, uid: 0, gid: 0 },
        { path: 'a/sub', type: 'whiteout', mode: 0, uid: 0, gid: 0 },
        { path: 'top', type: 'whiteout', mode: 0, uid: 0, gid: 0 },
        { path: 'never-existed', type: 'whiteout', mode: 0, uid: 0, gid: 0 },
        dir('o'),
        { path: 'o', type: 'opaque', mode: 0, uid: 0, gid: 0 },
        file('o/-sorts-before-the-marker', 'new'), // '-' < '.': written before .wh..wh..opq
        file('o/new', 'new'),
      ],
      root,
    );
    expect(Object.keys(snapshot(root)).sort()).toEqual(['a', 'a/keep', 'o', 'o/-sorts-before-the-marker', 'o/new']);
  });

  it('a whiteout does not remove what the same layer adds', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    const tar = rawTar([{ name: 'x', body: 'mine' }, { name: '.wh.x' }]);
    await applyLayer(Readable.from([tar]), root);
    expect(fs.readFileSync(path.join(root, 'x'), 'utf8')).toBe('mine');
  });

  it('in a directory the layer made, a later entry of the same name replaces the earlier (its lstat is skipped only for names not yet made)', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    const tar = rawTar([
      { name: 'd/', type: TypeFlag.directory, mode: 0o755 },
      { name: 'd/f', body: 'first', mode: 0o600 },
      { name: 'd/f', body: 'second', mode: 0o640 },
      { name: 'd/l', type: TypeFlag.symlink, linkname: 'f' },
      { name: 'd/l', body: 'a file now' },
      { name: 'd/g', body: 'g' },
      { name: 'd/g/', type: TypeFlag.directory, mode: 0o755 },
      { name: 'd/g/h', body: 'in the new directory' },
    ]);
    await applyLayer(Readable.from([tar]), root);
    expect(fs.readFileSync(path.join(root, 'd/f'), 'utf8')).toBe('second');
    expect(fs.statSync(path.join(root, 'd/f')).mode & 0o7777).toBe(0o640);
    expect(fs.lstatSync(path.join(root, 'd/l')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(root, 'd/g/h'), 'utf8')).toBe('in the new directory');
  });

  it('replaces files, symlinks and directories by type, never writing through an existing symlink', async () => {
    const outside = path.join(work, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret'), 'keep me');
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'evil'));
    fs.mkdirSync(path.join(root, 'was-dir/inner'), { recursive: true });
    fs.writeFileSync(path.join(root, 'was-file'), 'f');
    await apply([file('evil', 'overwritten?'), file('was-dir', 'now a file'), dir('was-file'), { path: 'was-file/l', type: 'symlink', linkname: '/etc/passwd', mode: 0o777, uid: 0, gid: 0 }], root);
    expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('keep me');
    expect(fs.lstatSync(path.join(root, 'evil')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(root, 'was-dir'), 'utf8')).toBe('now a file');
    expect(fs.lstatSync(path.join(root, 'was-file')).isDirectory()).toBe(true);
    expect(fs.readlinkSync(path.join(root, 'was-file/l'))).toBe('/etc/passwd');
  });

  it('follows symlinks that stay inside the root (lib -> usr/lib)', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
    fs.symlinkSync('usr/lib', path.join(root, 'lib'));
    fs.mkdirSync(path.join(root, 'x/y'), { recursive: true });
    fs.symlinkSync('../../usr', path.join(root, 'x/y/up'));
    await applyLayer(Readable.from([rawTar([{ name: 'lib/libc.so', body: 'c' }, { name: 'x/y/up/share', type: TypeFlag.directory }])]), root);
    expect(fs.readFileSync(path.join(root, 'usr/lib/libc.so'), 'utf8')).toBe('c');
    expect(fs.lstatSync(path.join(root, 'usr/share')).isDirectory()).toBe(true);
  });

  describe('refuses entries that escape the root', () => {
    const cases: [string, (root: string, outside: string) => Buffer][] = [
      ['a .. component', () => rawTar([{ name: '../escaped', body: 'x' }])],
      ['a .. inside the name', () => rawTar([{ name: 'a/../../escaped', body: 'x' }])],
      ['an absolute name', (_r, outside) => rawTar([{ name: `${outside}/escaped`, body: 'x' }])],
      ['a hardlink to a path outside', () => rawTar([{ name: 'hl', type: TypeFlag.hardlink, linkname: '../outside/secret' }])],
      ['a hardlink to an absolute path', (_r, outside) => rawTar([{ name: 'hl', type: TypeFlag.hardlink, linkname: `${outside}/secret` }])],
      ['a symlink loop', () => rawTar([{ name: 'a', type: TypeFlag.symlink, linkname: 'b' }, { name: 'b', type: TypeFlag.symlink, linkname: 'a' }, { name: 'a/x', body: 'x' }])],
    ];
    it.each(cases)('%s', async (_name, make) => {
      const outside = path.join(work, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'secret'), 'keep me');
      const root = path.join(work, 'root');
      fs.mkdirSync(root);
      const tar = make(root, outside);
      await expect(applyLayer(byteByByte(tar), root)).rejects.toMatchObject({ code: 'LAYER_ESCAPE', details: { path: expect.any(String) } });
      expect(fs.readdirSync(outside)).toEqual(['secret']);
      expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('keep me');
      expect(fs.existsSync(path.join(work, 'escaped'))).toBe(false);
    });
  });

  describe('issue 7: refuses whiteouts of ".", ".." or an empty name, wherever they sit', () => {
    const cases: [string, (outside: string) => Buffer][] = [
      ['.wh... (the parent of the root)', () => rawTar([{ name: '.wh...' }])],
      ['.wh.. (the root itself)', () => rawTar([{ name: '.wh..' }])],
      ['.wh. (an empty name)', () => rawTar([{ name: '.wh.' }])],
      ['./.wh...', () => rawTar([{ name: './.wh...' }])],
      ['sub/.wh... (the root, from a subdirectory)', () => rawTar([{ name: 'sub', type: TypeFlag.directory }, { name: 'sub/.wh...' }])],
      ['sub/.wh..', () => rawTar([{ name: 'sub', type: TypeFlag.directory }, { name: 'sub/.wh..' }])],
      ['sub/.wh.', () => rawTar([{ name: 'sub', type: TypeFlag.directory }, { name: 'sub/.wh.' }])],
      ['esc -> / then esc/.wh...', () => rawTar([{ name: 'esc', type: TypeFlag.symlink, linkname: '/' }, { name: 'esc/.wh...' }])],
      ['esc -> <outside> then esc/.wh..', (o) => rawTar([{ name: 'esc', type: TypeFlag.symlink, linkname: o }, { name: 'esc/.wh..' }])],
      ['up -> .. then up/.wh.', () => rawTar([{ name: 'up', type: TypeFlag.symlink, linkname: '..' }, { name: 'up/.wh.' }])],
      ['a whiteout of .. as a directory entry', () => rawTar([{ name: '.wh...', type: TypeFlag.directory }])],
    ];
    it.each(cases)('%s', async (_name, make) => {
      const outside = path.join(work, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'secret'), 'keep me');
      const root = path.join(work, 'root');
      fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
      fs.writeFileSync(path.join(root, 'sub/file'), 'lower');
      fs.writeFileSync(path.join(root, 'file'), 'lower');
      await expect(applyLayer(byteByByte(make(outside)), root)).rejects.toMatchObject({ code: 'LAYER_ESCAPE', message: expect.stringMatching(/whiteout/), details: { path: expect.any(String) } });
      expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('keep me');
      expect(fs.readFileSync(path.join(root, 'file'), 'utf8')).toBe('lower');
      expect(fs.readFileSync(path.join(root, 'sub/file'), 'utf8')).toBe('lower');
      // And with the hook, nothing is reported for them either.
      const seen: unknown[] = [];
      await expect(applyLayer(byteByByte(make(outside)), root, { onWhiteout: (w) => void seen.push(w) })).rejects.toMatchObject({ code: 'LAYER_ESCAPE' });
      expect(seen).toEqual([]);
    });

    it('the exported validator says the same (for readers that do not apply)', () => {
      for (const name of ['.wh...', 'a/.wh..', 'a/b/.wh.']) expect(() => validateLayerEntry({ path: name, type: 'file', linkname: '' })).toThrow(expect.objectContaining({ code: 'LAYER_ESCAPE' }));
      expect(parseWhiteout({ path: 'a/.wh.b', type: 'file' })).toEqual({ dir: ['a'], name: 'b' });
      expect(parseWhiteout({ path: './a/.wh..wh..opq', type: 'file' })).toEqual({ dir: ['a'] });
      expect(parseWhiteout({ path: 'a/.wh..wh.plnk', type: 'file' })).toBeNull();
      expect(parseWhiteout({ path: 'a/b', type: 'file' })).toBeNull();
    });
  });

  describe('issue 7: onWhiteout reports whiteouts (resolved inside the root) instead of deleting', () => {
    it('gives the resolved parent and the name, or no name for an opaque marker; deletes nothing', async () => {
      const outside = path.join(work, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'secret'), 'keep me');
      const root = path.join(work, 'root');
      fs.mkdirSync(path.join(root, 'real/d'), { recursive: true });
      fs.writeFileSync(path.join(root, 'gone'), 'lower');
      fs.writeFileSync(path.join(root, 'real/d/x'), 'lower');
      const seen: { dir: string; name?: string }[] = [];
      const tar = rawTar([
        { name: '.wh.gone' },
        { name: 'link', type: TypeFlag.symlink, linkname: '/real' },
        { name: 'link/d/.wh..wh..opq' },
        { name: 'esc', type: TypeFlag.symlink, linkname: outside },
        { name: 'esc/.wh.secret' },
        { name: 'new/deep/.wh.thing' },
        { name: 'new/kept', body: 'k' },
      ]);
      const res = await applyLayer(byteByByte(tar), root, {
        onWhiteout: async (w) => {
          await new Promise((r) => setImmediate(r));
          seen.push(w);
        },
      });
      expect(res.entries).toBe(7);
      expect(seen).toEqual([
        { dir: root },
        { dir: path.join(root, 'real/d') },
        { dir: path.join(root, outside.slice(1)) },
        { dir: path.join(root, 'new/deep') },
      ].map((w, i) => (i === 1 ? w : { ...w, name: ['gone', '', 'secret', 'thing'][i] })));
      expect(fs.readFileSync(path.join(root, 'gone'), 'utf8')).toBe('lower');
      expect(fs.readFileSync(path.join(root, 'real/d/x'), 'utf8')).toBe('lower');
      expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('keep me');
      expect(fs.statSync(path.join(root, 'new/deep')).isDirectory()).toBe(true);
      expect(fs.readdirSync(path.join(root, 'new/deep'))).toEqual([]);
      expect(fs.readFileSync(path.join(root, 'new/kept'), 'utf8')).toBe('k');
    });

    it('a hook that throws stops the apply (its error as the cause, the entry named)', async () => {
      const root = path.join(work, 'root');
      fs.mkdirSync(root);
      const boom = new Error('no');
      await expect(applyLayer(byteByByte(rawTar([{ name: '.wh.a' }])), root, { onWhiteout: () => { throw boom; } })).rejects.toMatchObject({ code: 'LAYER_INVALID', message: expect.stringContaining('".wh.a"'), cause: boom });
    });
  });

  it('issue 7: names are bytes: entries whose names are not valid UTF-8 land with exactly those bytes', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    const raw = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    const name = (b: Buffer) => decodeFsName(b);
    const d = raw('d', [0xe9]);
    const f = raw('d', [0xe9], '/f', [0xff]);
    const entries: LayerEntry[] = [
      dir(name(d)),
      file(name(f), 'bytes'),
      { path: name(raw('l', [0xfe])), type: 'symlink', linkname: name(raw('t', [0xfd])), mode: 0o777, uid: 0, gid: 0 },
      { path: name(raw('h', [0xfc])), type: 'hardlink', linkname: name(f), mode: 0o644, uid: 0, gid: 0 },
      { path: name(raw('p', [0xfb])), type: 'fifo', mode: 0o600, uid: 0, gid: 0 },
    ];
    await apply(entries, root);
    const rootB = Buffer.from(root + '/');
    const names = fs.readdirSync(root, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();
    expect(names).toEqual([d, raw('l', [0xfe]), raw('h', [0xfc]), raw('p', [0xfb])].map((b) => b.toString('hex')).sort());
    expect(fs.readFileSync(Buffer.concat([rootB, f]), 'utf8')).toBe('bytes');
    expect(fs.readlinkSync(Buffer.concat([rootB, raw('l', [0xfe])]), { encoding: 'buffer' }).equals(raw('t', [0xfd]))).toBe(true);
    expect(fs.statSync(Buffer.concat([rootB, raw('h', [0xfc])])).ino).toBe(fs.statSync(Buffer.concat([rootB, f])).ino);
    expect(fs.lstatSync(Buffer.concat([rootB, raw('p', [0xfb])])).isFIFO()).toBe(true);
    expect(fs.readdirSync(root).filter((n) => n.startsWith('.ocibuild-node'))).toEqual([]);
    // And a whiteout of such a name removes exactly it.
    await apply(Buffer.concat([Buffer.from(rawTarBytes(raw('.wh.h', [0xfc])))]), root);
    expect(fs.existsSync(Buffer.concat([rootB, raw('h', [0xfc])]))).toBe(false);
  });

  describe('resolves symlinks in parent paths inside the root (containerd RootPath), never outside', () => {
    // [name, layer, where the write lands relative to the root (or null: nothing written)]
    const cases: [string, (outside: string) => Buffer, (outside: string) => string | null][] = [
      ['a symlink to an absolute dir, then a file through it', (o) => rawTar([{ name: 'link', type: TypeFlag.symlink, linkname: o }, { name: 'link/escaped', body: 'x' }]), (o) => `${o}/escaped`],
      ['a symlink climbing out, then a file through it', () => rawTar([{ name: 'up', type: TypeFlag.symlink, linkname: '../../../../../../../../..' }, { name: 'up/escaped', body: 'x' }]), () => 'escaped'],
      ['a chain of symlinks leading out', (o) => rawTar([{ name: 'a', type: TypeFlag.symlink, linkname: 'b' }, { name: 'b', type: TypeFlag.symlink, linkname: o }, { name: 'a/escaped', body: 'x' }]), (o) => `${o}/escaped`],
      ['a whiteout through a symlink', (o) => rawTar([{ name: 'link', type: TypeFlag.symlink, linkname: o }, { name: 'link/.wh.secret' }]), () => null],
      ['an opaque marker through a symlink', () => rawTar([{ name: 'up', type: TypeFlag.symlink, linkname: '../..' }, { name: 'up/.wh..wh..opq' }]), () => null],
      ['var/run -> /run as in Debian images', () => rawTar([{ name: 'run', type: TypeFlag.directory }, { name: 'var/run', type: TypeFlag.symlink, linkname: '/run' }, { name: 'var/run/pid', body: 'x' }]), () => 'run/pid'],
    ];
    it.each(cases)('%s', async (_name, make, landing) => {
      const outside = path.join(work, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'secret'), 'keep me');
      const root = path.join(work, 'root');
      fs.mkdirSync(root);
      await applyLayer(byteByByte(make(outside)), root);
      expect(fs.readdirSync(outside)).toEqual(['secret']);
      expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('keep me');
      expect(fs.existsSync(path.join(work, 'escaped'))).toBe(false);
      const where = landing(outside);
      if (where !== null) expect(fs.readFileSync(path.join(root, where), 'utf8')).toBe('x');
    });

    it('a hardlink through a symlink looks for its target inside the root', async () => {
      const outside = path.join(work, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'secret'), 'keep me');
      const root = path.join(work, 'root');
      fs.mkdirSync(root);
      const tar = rawTar([{ name: 'link', type: TypeFlag.symlink, linkname: outside }, { name: 'hl', type: TypeFlag.hardlink, linkname: 'link/secret' }]);
      await expect(applyLayer(byteByByte(tar), root)).rejects.toMatchObject({ code: 'LAYER_INVALID', message: expect.stringMatching(/does not exist/) });
      expect(fs.existsSync(path.join(root, 'hl'))).toBe(false);
      expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('keep me');
    });
  });

  it('applies owners when asked (tests run as root) and not when told not to', async () => {
    const layer = [file('owned', 'x', { uid: 4321, gid: 8765 }), dir('d', { uid: 11, gid: 12, mode: 0o700 })];
    const a = path.join(work, 'a');
    fs.mkdirSync(a);
    const { data } = await writeToBuffer(layer);
    await applyLayer(Readable.from([data]), a, { owners: true });
    expect(fs.statSync(path.join(a, 'owned'))).toMatchObject({ uid: 4321, gid: 8765 });
    expect(fs.statSync(path.join(a, 'd'))).toMatchObject({ uid: 11, gid: 12 });
    expect(fs.statSync(path.join(a, 'd')).mode & 0o7777).toBe(0o700);
    const b = path.join(work, 'b');
    fs.mkdirSync(b);
    await applyLayer(Readable.from([data]), b, { owners: false });
    expect(fs.statSync(path.join(b, 'owned')).uid).toBe(process.getuid!());
  });

  it('fails on a diffId mismatch and on a missing hardlink target', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    const { data } = await writeToBuffer([file('a', 'x')]);
    await expect(applyLayer(Readable.from([data]), root, { expectedDiffId: `sha256:${'0'.repeat(64)}` as never })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(applyLayer(Readable.from([rawTar([{ name: 'hl', type: TypeFlag.hardlink, linkname: 'nothing' }])]), root)).rejects.toMatchObject({
      code: 'LAYER_INVALID',
      message: expect.stringMatching(/"hl".*does not exist/),
    });
  });

  it('releases (destroys) its input stream when it refuses a layer', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    const tarFile = path.join(work, 'bad.tar');
    fs.writeFileSync(tarFile, Buffer.concat([rawTar([{ name: '../x', body: 'x' }]), Buffer.alloc(1 << 20)]));
    const input = fs.createReadStream(tarFile, { highWaterMark: 1024 });
    await expect(applyLayer(input, root)).rejects.toMatchObject({ code: 'LAYER_ESCAPE' });
    expect(input.destroyed).toBe(true);
  });

  it('creates fifos and (as root) device nodes', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    const res = await apply([{ path: 'p', type: 'fifo', mode: 0o640, uid: 0, gid: 0 }, { path: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, uid: 0, gid: 0 }], root);
    expect(fs.lstatSync(path.join(root, 'p')).isFIFO()).toBe(true);
    expect(fs.lstatSync(path.join(root, 'p')).mode & 0o777).toBe(0o640);
    if (process.getuid!() === 0) {
      const st = fs.lstatSync(path.join(root, 'null'));
      expect(st.isCharacterDevice()).toBe(true);
      expect(st.rdev).toBe(fs.statSync('/dev/null').rdev);
    } else {
      expect(res.skipped).toEqual([{ path: 'null', reason: 'char device 1:3 needs root' }]);
    }
  });
});
