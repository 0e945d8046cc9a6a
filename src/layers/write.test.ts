import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { writeLayer } from './write.js';
import { listLayer } from './read.js';
import { entriesFromDirectory } from './walk.js';
import { defaultGzipInFlight, GZIP_BLOCK_SIZE } from './gzip.js';
import { createLayerLimit } from './limit.js';
import type { LayerEntry } from './types.js';
import { byteByByte, dir, file, MemorySink, noise, sh, snapshot, tempDir, writeToBuffer } from './testing/helpers.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const long101 = `${'d'.repeat(60)}/${'f'.repeat(40)}`; // 101 bytes
const long300 = `${'a'.repeat(120)}/${'b'.repeat(120)}/${'c'.repeat(58)}`; // 300 bytes

function sample(): LayerEntry[] {
  return [
    dir('etc'),
    file('etc/hosts', '127.0.0.1 localhost\n', { mtime: 1_600_000_000 }),
    file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n', { mode: 0o600, uid: 0, gid: 42 }),
    dir('usr', { mode: 0o755 }),
    dir('usr/bin'),
    file('usr/bin/tool', noise(70_000), { mode: 0o4755, uid: 1000, gid: 1000 }),
    { path: 'usr/bin/alias', type: 'hardlink', linkname: 'usr/bin/tool', mode: 0o4755, uid: 1000, gid: 1000 },
    { path: 'bin', type: 'symlink', linkname: 'usr/bin', mode: 0o777, uid: 0, gid: 0 },
    { path: 'dev-null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, uid: 0, gid: 0 },
    { path: 'pipe', type: 'fifo', mode: 0o644, uid: 0, gid: 0 },
    dir(path.posix.dirname(long101)),
    file(long101, 'long name'),
    dir('a'.repeat(120)),
    dir(`${'a'.repeat(120)}/${'b'.repeat(120)}`),
    file(long300, 'very long name'),
    { path: `${'a'.repeat(120)}/link`, type: 'symlink', linkname: `../${'t'.repeat(150)}`, mode: 0o777, uid: 0, gid: 0 },
    file('big-ids', 'x', { uid: 3_000_000, gid: 4_000_000 }),
    file('attrs', 'x', { xattrs: { 'user.comment': Buffer.from('hello\nworld=1'), 'security.capability': Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) } }),
    file('ünïcødé-名前', 'utf8 name'),
    { path: 'var/lib/gone', type: 'whiteout', mode: 0, uid: 0, gid: 0 },
    dir('var'),
    { path: 'var/cache', type: 'opaque', mode: 0, uid: 0, gid: 0 },
    dir('var/cache'),
    file('var/cache/new', 'new'),
    file('empty', ''),
  ];
}

describe('writeLayer', () => {
  it('round-trips every entry kind through listLayer', async () => {
    const { result, data } = await writeToBuffer(sample(), { compression: 'none', sourceDateEpoch: 1_700_000_000 });
    expect(result.digest).toBe(result.diffId);
    expect(result.diffId).toBe(sha(data));
    expect(result.size).toBe(data.length);
    expect(result.uncompressedSize).toBe(data.length);
    expect(result.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    const listed = await listLayer(Readable.from([data]));
    const byPath = new Map(listed.map((e) => [`${e.type}:${e.path}`, e]));
    // sorted by path bytes (the whiteout sorts by its .wh. name)
    const names = listed.map((e) => e.path);
    expect(listed).toHaveLength(sample().length);
    expect(byPath.get('file:etc/hosts')).toMatchObject({ mode: 0o644, uid: 0, gid: 0, size: 20, mtime: 1_600_000_000, uname: '', gname: '' });
    expect(byPath.get('file:etc/passwd')).toMatchObject({ mode: 0o600, gid: 42, mtime: 1_700_000_000 });
    // 'alias' sorts first, so it carries the data and 'tool' links to it
    expect(byPath.get('hardlink:usr/bin/tool')).toMatchObject({ linkname: 'usr/bin/alias', mode: 0o4755, uid: 1000 });
    expect(byPath.get('file:usr/bin/alias')).toMatchObject({ mode: 0o4755, uid: 1000, size: 70_000 });
    expect(byPath.get('symlink:bin')).toMatchObject({ linkname: 'usr/bin' });
    expect(byPath.get('char:dev-null')).toMatchObject({ devmajor: 1, devminor: 3, mode: 0o666 });
    expect(byPath.get('fifo:pipe')).toBeDefined();
    expect(byPath.get(`file:${long101}`)).toBeDefined();
    expect(byPath.get(`file:${long300}`)).toMatchObject({ size: 14 });
    expect(byPath.get(`symlink:${'a'.repeat(120)}/link`)).toMatchObject({ linkname: `../${'t'.repeat(150)}` });
    expect(byPath.get('file:big-ids')).toMatchObject({ uid: 3_000_000, gid: 4_000_000 });
    expect(byPath.get('file:attrs')!.xattrs).toEqual({
      'security.capability': Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      'user.comment': Buffer.from('hello\nworld=1'),
    });
    expect(byPath.get('file:ünïcødé-名前')).toBeDefined();
    expect(byPath.get('whiteout:var/lib/gone')).toBeDefined();
    expect(byPath.get('opaque:var/cache')).toBeDefined();
    expect(byPath.get('file:empty')).toMatchObject({ size: 0 });
    expect(names[0]).toBe('a'.repeat(120));
  });

  it('writes tars GNU tar lists and extracts identically (names, modes, numeric owners, links)', async () => {
    const entries = sample().filter((e) => e.type !== 'whiteout' && e.type !== 'opaque');
    const { data } = await writeToBuffer(entries, { compression: 'none', sourceDateEpoch: 1_700_000_000 });
    const listing = sh('tar', ['-tvf', '-', '--numeric-owner'], data);
    expect(listing).toContain('-rwsr-xr-x 1000/1000     70000 2023-11-14 22:13 usr/bin/alias');
    expect(listing).toContain('hrwsr-xr-x 1000/1000         0 2023-11-14 22:13 usr/bin/tool link to usr/bin/alias');
    expect(listing).toContain('-rw-r--r-- 0/0              20 2020-09-13 12:26 etc/hosts');
    expect(listing).toContain('crw-rw-rw- 0/0             1,3 2023-11-14 22:13 dev-null');
    expect(listing).toContain('lrwxrwxrwx 0/0               0 2023-11-14 22:13 bin -> usr/bin');
    expect(listing).toContain('crw-rw-rw- 0/0             1,3 2023-11-14 22:13 dev-null');
    expect(listing).toContain('-rw-r--r-- 3000000/4000000   1 2023-11-14 22:13 big-ids');
    expect(listing).toContain(long300);
    expect(listing).toContain('ünïcødé-名前');
    expect(listing).toContain('-rw------- 0/42 ');
    const withXattrs = sh('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', '-'], data);
    expect(withXattrs).toMatch(/attrs\n {2}x: 13 user\.comment\n {2}x: 20 security\.capability\n|attrs\n {2}x: 20 security\.capability\n {2}x: 13 user\.comment\n/);
    const out = tempDir();
    sh('tar', ['-xf', '-', '--numeric-owner', '-p', '-C', out], data);
    const snap = snapshot(out);
    expect(snap['usr/bin/alias']).toBe(`file 4755 1000:1000 70000 ${noise(70_000).subarray(0, 32).toString('hex')}`);
    expect(snap['usr/bin/tool']).toMatch(/link=usr\/bin\/alias$/);
    expect(snap['bin']).toBe('symlink -> usr/bin 0:0');
    expect(snap['pipe']).toBe('fifo 644 0:0');
    expect(snap['etc/passwd']).toMatch(/^file 600 0:42 /);
    expect(snap[long300]).toMatch(/^file 644 0:0 14 /);
    expect(snap['big-ids']).toMatch(/^file 644 3000000:4000000 1 /);
    expect(fs.statSync(path.join(out, 'etc/hosts')).mtimeMs).toBe(1_600_000_000_000);
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('queues twice as many gzip blocks as the libuv threadpool has threads, whatever the core count', () => {
    // As many blocks as threads leaves the cores idle between rounds (issue 8: 6.32 s against 5.53 s).
    const saved = process.env.UV_THREADPOOL_SIZE;
    try {
      delete process.env.UV_THREADPOOL_SIZE;
      expect(defaultGzipInFlight()).toBe(8);
      process.env.UV_THREADPOOL_SIZE = '6';
      expect(defaultGzipInFlight()).toBe(12);
      for (const bad of ['0', '-3', 'two', '1.5', '']) {
        process.env.UV_THREADPOOL_SIZE = bad;
        expect(defaultGzipInFlight()).toBe(8);
      }
    } finally {
      if (saved === undefined) delete process.env.UV_THREADPOOL_SIZE;
      else process.env.UV_THREADPOOL_SIZE = saved;
    }
  });

  it('is deterministic: same entries in any order give the same bytes, with any gzip concurrency', async () => {
    const entries = sample();
    const a = await writeToBuffer(entries, { sourceDateEpoch: 1_700_000_000 });
    const shuffled = [...entries].reverse();
    shuffled.push(shuffled.shift()!);
    const b = await writeToBuffer(shuffled, { sourceDateEpoch: 1_700_000_000, concurrency: 1 });
    const c = await writeToBuffer(entries, { sourceDateEpoch: 1_700_000_000, concurrency: 16 });
    expect(b.data.equals(a.data)).toBe(true);
    expect(c.data.equals(a.data)).toBe(true);
    expect(b.result).toEqual(a.result);
    expect(a.result.digest).toBe(sha(a.data));
  });

  it('pins the format: golden diffId, and golden gzip digest for the zlib this was recorded with', async () => {
    const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(20000));
    const entries: LayerEntry[] = [
      dir('a', { mtime: 1 }),
      file('a/text', text, { mtime: 2 }),
      file('a/noise', noise(400000, 3), { mode: 0o600, uid: 1, gid: 2, mtime: 3 }),
    ];
    const { result } = await writeToBuffer(entries);
    expect(result.diffId).toBe('sha256:63a3e5d6bcef368fd2f101b2248229f419d83239f170d977e3c5caf2fc4dec8c');
    expect(result.uncompressedSize).toBe(1283072);
    const six = (await writeToBuffer(entries, { level: 6 })).result;
    expect(six.diffId).toBe(result.diffId);
    // The gzip bytes depend on the zlib build; node bundles its own (process.versions.zlib).
    if (process.versions.zlib === '1.3.1-e00f703') {
      // The default level (4)...
      expect(result.digest).toBe('sha256:4f68a07fca778605d7329cca36e202440932b41b3d1baa2cf126d2d39d57b955');
      expect(result.size).toBe(403457);
      // ...and level 6, the default until issue 8 (the bytes of every layer built before it).
      expect(six.digest).toBe('sha256:c5f5eb3181873dd4437c79710e0feb0dc9478c2b8fd8f5a4f48f55400238610a');
      expect(six.size).toBe(403448);
    }
  });

  it('an empty layer is 1024 zero bytes: the well-known empty diffId', async () => {
    const { result, data } = await writeToBuffer([]);
    expect(result.diffId).toBe('sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
    expect(result.uncompressedSize).toBe(1024);
    sh('gzip', ['-t'], data);
  });

  it('clamps mtimes to sourceDateEpoch and keeps older ones', async () => {
    const entries = [file('new', 'x', { mtime: 2_000_000_000 }), file('old', 'y', { mtime: 1_000_000_000 }), file('none', 'z')];
    const { data } = await writeToBuffer(entries, { compression: 'none', sourceDateEpoch: 1_500_000_000 });
    const listed = await listLayer(Readable.from([data]));
    expect(Object.fromEntries(listed.map((e) => [e.path, e.mtime]))).toEqual({ new: 1_500_000_000, old: 1_000_000_000, none: 1_500_000_000 });
    const other = await writeToBuffer(entries, { compression: 'none', sourceDateEpoch: 1_600_000_000 });
    expect(other.result.diffId).not.toBe(sha(data));
  });

  it('gzip output: fixed header, gzip -t, gzip -d and pigz -d give the diffId', async () => {
    const big = Buffer.concat([noise(300_000, 7), Buffer.alloc(400_000, 'text text text '), noise(GZIP_BLOCK_SIZE * 3 + 17, 9)]);
    const entries = [...sample(), file('blob', big)];
    const { result, data } = await writeToBuffer(entries);
    expect(result.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect([...data.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    expect(result.digest).toBe(sha(data));
    expect(result.size).toBe(data.length);
    sh('gzip', ['-t'], data);
    const plain = Buffer.from(sh('sh', ['-c', 'gzip -dc | od -An -tx1 -v | tr -d " \\n"'], data), 'hex');
    expect(sha(plain)).toBe(result.diffId);
    expect(plain.length).toBe(result.uncompressedSize);
    const viaPigz = Buffer.from(sh('sh', ['-c', 'pigz -dc | od -An -tx1 -v | tr -d " \\n"'], data), 'hex');
    expect(sha(viaPigz)).toBe(result.diffId);
    // and the reader takes the gzip stream fed one byte at a time
    const listed = await listLayer(byteByByte(data));
    expect(listed.find((e) => e.path === 'blob')).toMatchObject({ size: big.length });
  });

  it('elects the first path of a hardlink group as the file, whatever the input says', async () => {
    const entries: LayerEntry[] = [
      file('z/target', 'shared', { mode: 0o640 }),
      { path: 'a/link', type: 'hardlink', linkname: 'z/target', mode: 0, uid: 0, gid: 0 },
      { path: 'm/link2', type: 'hardlink', linkname: 'a/link', mode: 0, uid: 0, gid: 0 },
      dir('a'),
      dir('m'),
      dir('z'),
    ];
    const { data } = await writeToBuffer(entries, { compression: 'none' });
    const listed = await listLayer(Readable.from([data]));
    expect(listed.map((e) => [e.path, e.type, e.linkname ?? '', e.mode])).toEqual([
      ['a', 'directory', '', 0o755],
      ['a/link', 'file', '', 0o640],
      ['m', 'directory', '', 0o755],
      ['m/link2', 'hardlink', 'a/link', 0o640],
      ['z', 'directory', '', 0o755],
      ['z/target', 'hardlink', 'a/link', 0o640],
    ]);
    const out = tempDir();
    sh('tar', ['-xf', '-', '-C', out], data);
    expect(fs.statSync(path.join(out, 'z/target')).ino).toBe(fs.statSync(path.join(out, 'a/link')).ino);
    expect(fs.readFileSync(path.join(out, 'm/link2'), 'utf8')).toBe('shared');
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('issue 7: hardlinks to a symlink, a fifo or a device: the first path carries the kind, the others link to it', async () => {
    const entries: LayerEntry[] = [
      { path: 'z-sl', type: 'symlink', linkname: 'target', mode: 0o777, uid: 0, gid: 0 },
      { path: 'a-hl-sl', type: 'hardlink', linkname: 'z-sl', mode: 0, uid: 0, gid: 0 },
      { path: 'p', type: 'fifo', mode: 0o600, uid: 0, gid: 0 },
      { path: 'q-hl-p', type: 'hardlink', linkname: 'p', mode: 0, uid: 0, gid: 0 },
      { path: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, uid: 0, gid: 0 },
      { path: 'null2', type: 'hardlink', linkname: 'null', mode: 0, uid: 0, gid: 0 },
    ];
    const { data } = await writeToBuffer(entries);
    const listed = await listLayer(Readable.from([data]));
    expect(listed.map((e) => [e.path, e.type, e.linkname ?? null, e.devmajor ?? null])).toEqual([
      ['a-hl-sl', 'symlink', 'target', null],
      ['null', 'char', null, 1],
      ['null2', 'hardlink', 'null', null],
      ['p', 'fifo', null, null],
      ['q-hl-p', 'hardlink', 'p', null],
      ['z-sl', 'hardlink', 'a-hl-sl', null],
    ]);
    await expect(writeToBuffer([dir('d'), { path: 'hl', type: 'hardlink', linkname: 'd', mode: 0, uid: 0, gid: 0 }])).rejects.toMatchObject({ code: 'LAYER_INVALID' });
  });

  it('reads files from disk: small ones on the read-ahead worker, big ones streamed, same bytes as buffers', async () => {
    const src = tempDir();
    const entries: LayerEntry[] = [];
    const asBuffers: LayerEntry[] = [];
    for (let i = 0; i < 150; i++) {
      const data = noise(1 + ((i * 977) % 9000), i + 1);
      const name = `f${String(i).padStart(3, '0')}`;
      fs.writeFileSync(path.join(src, name), data);
      entries.push({ path: name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: data.length, source: { kind: 'path', path: path.join(src, name) } });
      asBuffers.push(file(name, data));
    }
    const big = noise(3 * 1024 * 1024 + 5, 99);
    fs.writeFileSync(path.join(src, 'big'), big);
    entries.push({ path: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, size: big.length, source: { kind: 'path', path: path.join(src, 'big') } });
    asBuffers.push(file('big', big));
    const streamed = noise(500_000, 5);
    const streamEntry: LayerEntry = { path: 'streamed', type: 'file', mode: 0o644, uid: 0, gid: 0, size: streamed.length, source: { kind: 'stream', open: async () => Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]) } };
    entries.push(streamEntry);
    asBuffers.push(file('streamed', streamed));
    const a = await writeToBuffer(entries);
    const b = await writeToBuffer(asBuffers);
    expect(a.result).toEqual(b.result);
    expect(a.data.equals(b.data)).toBe(true);
    fs.rmSync(src, { recursive: true, force: true });
  });

  it('refuses bad entries with LAYER_INVALID naming the entry', async () => {
    const bad: [LayerEntry[], RegExp][] = [
      [[file('a', 'x'), file('a', 'y')], /"a": appears twice/],
      [[file('../etc/passwd', 'x')], /must not contain empty, '\.' or '\.\.'/],
      [[file('/abs', 'x')], /must be relative/],
      [[file('dir/', 'x')], /no trailing/],
      [[file('x', 'abc', { size: 5 })], /does not match the buffer/],
      [[{ path: 'l', type: 'hardlink', linkname: 'missing', mode: 0, uid: 0, gid: 0 }], /hardlink target "missing" is not a regular file/],
      [[{ path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3 }], /needs a source/],
      [[file('f', 'x', { mode: 0o17777 })], /mode must be an integer/],
      [[file('f', 'x', { uid: -1 })], /uid must be/],
      [[{ path: 'a/b', type: 'whiteout', mode: 0, uid: 0, gid: 0 }, file('a/b', 'x')], /is both a/],
      [[file('.wh.sneaky', 'x')], /reserved for whiteouts/],
      [[{ path: 's', type: 'symlink', mode: 0o777, uid: 0, gid: 0 }], /needs a non-empty linkname/],
    ];
    for (const [entries, msg] of bad) {
      await expect(writeToBuffer(entries)).rejects.toMatchObject({ code: 'LAYER_INVALID', message: expect.stringMatching(msg) });
    }
  });

  it('with fileDigests, checks each file read whole against its planned identity, from the file it read (read-ahead and single reads)', async () => {
    const src = tempDir();
    const identity = (f: string) => {
      const st = fs.statSync(f, { bigint: true });
      return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
    };
    const entry = (name: string, size: number, planned?: string): LayerEntry => ({ path: name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, source: { kind: 'path', path: path.join(src, name), ...(planned !== undefined ? { identity: planned } : {}) } });
    // 100 small files (the read-ahead workers), one of 2.5 MiB (three ranges), one empty (not read).
    const entries: LayerEntry[] = [];
    for (let i = 0; i < 100; i++) {
      fs.writeFileSync(path.join(src, `f${i}`), `file ${i}\n`);
      entries.push(entry(`f${i}`, fs.statSync(path.join(src, `f${i}`)).size, identity(path.join(src, `f${i}`))));
    }
    fs.writeFileSync(path.join(src, 'big'), noise(2_500_000));
    entries.push(entry('big', 2_500_000, identity(path.join(src, 'big'))));
    fs.writeFileSync(path.join(src, 'empty'), '');
    entries.push(entry('empty', 0, identity(path.join(src, 'empty'))));
    // One planned with a stale identity, one with none: both "changed".
    entries[7] = entry('f7', entries[7]!.size!, '1:2:3:4:5');
    entries[8] = entry('f8', entries[8]!.size!);
    const many = await writeLayer(entries, new MemorySink(), { fileDigests: true });
    expect(many.fileDigests!.size).toBe(101);
    expect(many.readCheck!.changed).toEqual(new Set([path.join(src, 'f7'), path.join(src, 'f8')]));
    expect(many.readCheck!.unchecked).toEqual(new Set([path.join(src, 'big'), path.join(src, 'empty')]));
    // A path replaced after it was planned: the identity checked is the replacement's (what was read).
    const one = entry('f0', entries[0]!.size!, identity(path.join(src, 'f0')));
    fs.writeFileSync(path.join(src, 'f0.new'), 'file 0\n');
    fs.renameSync(path.join(src, 'f0.new'), path.join(src, 'f0'));
    expect((await writeLayer([one], new MemorySink(), { fileDigests: true })).readCheck!.changed).toEqual(new Set([path.join(src, 'f0')]));
    const replanned = entry('f0', entries[0]!.size!, identity(path.join(src, 'f0')));
    expect((await writeLayer([replanned], new MemorySink(), { fileDigests: true })).readCheck!.changed.size).toBe(0);
    // Without fileDigests, nothing is checked.
    expect((await writeLayer(entries.slice(0, 3), new MemorySink())).readCheck).toBeUndefined();
    fs.rmSync(src, { recursive: true, force: true });
  });

  it('fails when a file changed size since it was listed, and destroys the output', async () => {
    const src = tempDir();
    fs.writeFileSync(path.join(src, 'f'), 'grown content');
    const sink = new MemorySink();
    sink.on('error', () => undefined);
    await expect(writeLayer([{ path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 4, source: { kind: 'path', path: path.join(src, 'f') } }], sink)).rejects.toMatchObject({
      code: 'LAYER_INVALID',
      message: expect.stringMatching(/changed while the layer was written/),
    });
    expect(sink.destroyed).toBe(true);
    await expect(writeToBuffer([{ path: 'g', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 4, source: { kind: 'path', path: path.join(src, 'nope') } }])).rejects.toMatchObject({
      code: 'LAYER_INVALID',
      message: expect.stringMatching(/cannot read .*nope: ENOENT/),
    });
    fs.rmSync(src, { recursive: true, force: true });
  });

  it('fails when a big (streamed) file shrank, without leaking the in-flight read', async () => {
    const src = tempDir();
    fs.writeFileSync(path.join(src, 'big'), noise(300_000));
    await expect(writeToBuffer([{ path: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 2_000_000, source: { kind: 'path', path: path.join(src, 'big') } }])).rejects.toMatchObject({
      code: 'LAYER_INVALID',
      message: expect.stringMatching(/changed while the layer was written \(expected 2000000 bytes, got 300000\)/),
    });
    const streamed: LayerEntry = { path: 's', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10, source: { kind: 'stream', open: async () => Readable.from([Buffer.alloc(11)]) } };
    await expect(writeToBuffer([streamed])).rejects.toMatchObject({ code: 'LAYER_INVALID', message: expect.stringMatching(/gave more/) });
    fs.rmSync(src, { recursive: true, force: true });
  });

  it('refuses a FIFO given as a file source instead of hanging (inline, read-ahead and big-file paths)', async () => {
    const src = tempDir();
    sh('mkfifo', [path.join(src, 'fifo')]);
    const fifo = (size: number): LayerEntry => ({ path: 'zz-fifo', type: 'file', mode: 0o644, uid: 0, gid: 0, size, source: { kind: 'path', path: path.join(src, 'fifo') } });
    const viaWorkers = Array.from({ length: 100 }, (_, i) => ({ ...fifo(1), path: `p${i}` }));
    for (const entries of [[fifo(10)], viaWorkers, [fifo(5_000_000)]]) {
      await expect(writeToBuffer(entries)).rejects.toMatchObject({ code: 'LAYER_INVALID', message: expect.stringMatching(/ENOTREG/) });
    }
    fs.rmSync(src, { recursive: true, force: true });
  });

  it('refuses bad options', async () => {
    await expect(writeToBuffer([file('a', 'x')], { level: 11 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(writeToBuffer([file('a', 'x')], { concurrency: 0 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(writeToBuffer([file('a', 'x')], { compression: 'zstd' as never })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(writeToBuffer([file('a', 'x')], { sourceDateEpoch: -5 })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(writeToBuffer([file('a', 'x')], { signal: ac.signal })).rejects.toThrow(/abort/i);
  });
});

describe('createLayerLimit', () => {
  it('bounds how many layers are written at once, and they stay deterministic', async () => {
    const limit = createLayerLimit(2);
    let active = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        limit(async () => {
          active++;
          peak = Math.max(peak, active);
          try {
            return (await writeToBuffer([file('same', noise(200_000))])).result.digest;
          } finally {
            active--;
          }
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(new Set(results).size).toBe(1);
  });
});

describe('entriesFromDirectory', () => {
  it('lists a tree lstat-based with hardlinks, symlinks, fifos, and overrides', async () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'sub/deep'), { recursive: true });
    fs.writeFileSync(path.join(root, 'a'), 'hello');
    fs.chmodSync(path.join(root, 'a'), 0o751);
    fs.linkSync(path.join(root, 'a'), path.join(root, 'sub/hard'));
    fs.symlinkSync('../a', path.join(root, 'sub/soft'));
    sh('mkfifo', [path.join(root, 'sub/fifo')]);
    fs.writeFileSync(path.join(root, 'sub/deep/skip.log'), 'x');
    const entries = await entriesFromDirectory(root, { prefix: 'app', includeRoot: true, uid: 10, gid: 20, filter: (rel) => !rel.endsWith('.log') });
    const by = Object.fromEntries(entries.map((e) => [e.path, e]));
    expect(Object.keys(by).sort()).toEqual(['app', 'app/a', 'app/sub', 'app/sub/deep', 'app/sub/fifo', 'app/sub/hard', 'app/sub/soft']);
    expect(by['app/sub/soft']).toMatchObject({ type: 'symlink', linkname: '../a', uid: 10, gid: 20 });
    expect(by['app/sub/fifo']).toMatchObject({ type: 'fifo' });
    const link = [by['app/a']!, by['app/sub/hard']!].find((e) => e.type === 'hardlink')!;
    const target = [by['app/a']!, by['app/sub/hard']!].find((e) => e.type === 'file')!;
    expect(link.linkname).toBe(target.path);
    expect(target).toMatchObject({ mode: 0o751, size: 5 });
    const modes = await entriesFromDirectory(root, { mode: (p, type) => (type === 'directory' ? 0o700 : 0o600) });
    expect(modes.find((e) => e.path === 'sub')!.mode).toBe(0o700);
    expect(modes.find((e) => e.path === 'sub/soft')!.mode).toBe(0o600);
    // and it writes a layer GNU tar extracts to the same tree
    const { data } = await writeToBuffer(await entriesFromDirectory(root), { compression: 'none' });
    const out = tempDir();
    sh('tar', ['-xf', '-', '-p', '--numeric-owner', '-C', out], data);
    expect(snapshot(out)).toEqual(snapshot(root));
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('walks a few thousand entries to the same byte-sorted result every time; the filter prunes before listing', async () => {
    const root = tempDir();
    const expected: string[] = [];
    for (let d = 0; d < 40; d++) {
      const dn = `d${String(d).padStart(2, '0')}`;
      fs.mkdirSync(path.join(root, dn, 'inner'), { recursive: true });
      expected.push(dn, `${dn}/inner`);
      for (let f = 0; f < 60; f++) {
        fs.writeFileSync(path.join(root, dn, `f${f}`), String(f));
        expected.push(`${dn}/f${f}`);
      }
      fs.symlinkSync(`../d00/f${d}`, path.join(root, dn, 'inner', 'link'));
      expected.push(`${dn}/inner/link`);
    }
    fs.linkSync(path.join(root, 'd39/f7'), path.join(root, 'd05/inner/zz-hard'));
    expected.push('d05/inner/zz-hard');
    fs.mkdirSync(path.join(root, 'node_modules/deep'), { recursive: true });
    fs.writeFileSync(path.join(root, 'node_modules/deep/x'), 'x');
    let filterCalls = 0;
    const walk = () =>
      entriesFromDirectory(root, {
        filter: (rel, st) => {
          filterCalls++;
          expect(typeof st.isDirectory()).toBe('boolean');
          return rel !== 'node_modules';
        },
      });
    const a = await walk();
    const callsOnce = filterCalls;
    const b = await walk();
    expect(a).toEqual(b);
    const byteSorted = [...expected].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(a.map((e) => e.path)).toEqual(byteSorted);
    expect(callsOnce).toBe(expected.length + 1); // node_modules asked once, never listed
    expect(a.find((e) => e.path === 'd05/inner/zz-hard')).toMatchObject({ type: 'file', size: 1 });
    expect(a.find((e) => e.path === 'd39/f7')).toMatchObject({ type: 'hardlink', linkname: 'd05/inner/zz-hard' });
    expect(a.find((e) => e.path === 'd12/inner/link')).toMatchObject({ type: 'symlink', linkname: '../d00/f12' });
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('refuses a missing root and a bad prefix', async () => {
    await expect(entriesFromDirectory('/nonexistent/ocibuild')).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    await expect(entriesFromDirectory('/tmp', { prefix: '../x' })).rejects.toMatchObject({ code: 'USAGE' });
  });
});
