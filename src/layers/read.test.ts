import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { applyPax, decodeRawHeader, encodeHeader, paxRecord, parsePax, TypeFlag, BLOCK } from './tar-format.js';
import { listLayer, readLayer } from './read.js';
import { byteByByte, dir, file, noise, sh, tempDir, writeToBuffer } from './testing/helpers.js';

const EIGHT_GIB = 8 * 1024 * 1024 * 1024;

function decodeAll(buf: Buffer) {
  // pax header + ustar header as the writer emits them
  const first = decodeRawHeader(buf, 0);
  if (first.typeflag !== TypeFlag.paxLocal) return { raw: first, xattrs: {} };
  const padded = Math.ceil(first.size / BLOCK) * BLOCK;
  const raw = decodeRawHeader(buf, BLOCK + padded);
  const xattrs: Record<string, Buffer> = {};
  applyPax(raw, parsePax(buf.subarray(BLOCK, BLOCK + first.size)), xattrs);
  return { raw, xattrs };
}

const fields = { typeflag: TypeFlag.file, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '', devmajor: 0, devminor: 0 };

describe('tar header encoding', () => {
  it('uses plain ustar when everything fits', () => {
    const h = encodeHeader({ ...fields, path: 'a/b', size: 1234, mtime: 1_700_000_000 });
    expect(h.length).toBe(BLOCK);
    expect(h.toString('latin1', 124, 136)).toBe('00000002322\0');
    expect(h.toString('latin1', 257, 265)).toBe('ustar\x0000');
    expect(h.toString('latin1', 265, 297)).toBe('\0'.repeat(32)); // empty uname
    expect(decodeAll(h).raw).toMatchObject({ name: 'a/b', size: 1234, mtime: 1_700_000_000, uname: '', gname: '' });
  });

  it('encodes sizes of 8 GiB and more with a pax size record and a base-256 field', () => {
    const size = EIGHT_GIB + 12345;
    const h = encodeHeader({ ...fields, path: 'huge', size });
    const { raw } = decodeAll(h);
    expect(raw.size).toBe(size);
    const ustar = h.subarray(h.length - BLOCK);
    expect(ustar[124]).toBe(0x80); // GNU base-256 marker
    expect(decodeRawHeader(ustar, 0).size).toBe(size); // the field alone is exact too
    expect(h.toString('latin1', BLOCK, h.length - BLOCK)).toContain(`size=${size}\n`);
    // exactly 8 GiB - 1 still fits octal
    expect(encodeHeader({ ...fields, path: 'edge', size: EIGHT_GIB - 1 }).length).toBe(BLOCK);
  });

  it('GNU tar reads our 8 GiB+ header (listing of a truncated archive)', () => {
    const h = encodeHeader({ ...fields, path: 'huge', size: EIGHT_GIB + 1, mtime: 1_700_000_000 });
    let out = '';
    try {
      sh('tar', ['-tvf', '-'], Buffer.concat([h, Buffer.alloc(BLOCK)]));
    } catch (e) {
      out = String((e as { stdout: Buffer }).stdout);
    }
    expect(out).toContain('8589934593 2023-11-14 22:13 huge');
  });

  it('puts long names, long link names, big ids and xattrs in sorted pax records', () => {
    const name = 'n'.repeat(300);
    const h = encodeHeader({ ...fields, path: name, typeflag: TypeFlag.symlink, linkname: 'l'.repeat(200), uid: 2_097_152, gid: 7, xattrs: { 'user.b': Buffer.from([0, 10, 255]), 'user.a': Buffer.from('x') } });
    const body = h.toString('latin1', BLOCK, h.length - BLOCK);
    const keys = [...body.matchAll(/\d+ ([^=]+)=/g)].map((m) => m[1]);
    expect(keys).toEqual(['SCHILY.xattr.user.a', 'SCHILY.xattr.user.b', 'linkpath', 'path', 'uid']);
    const { raw, xattrs } = decodeAll(h);
    expect(raw).toMatchObject({ name, linkname: 'l'.repeat(200), uid: 2_097_152, gid: 7 });
    expect(xattrs['user.b']).toEqual(Buffer.from([0, 10, 255]));
  });

  it('computes pax record lengths across digit boundaries', () => {
    for (let n = 0; n < 1100; n++) {
      const r = paxRecord('path', 'x'.repeat(n));
      expect(Number(r.toString('latin1').split(' ')[0])).toBe(r.length);
      expect(parsePax(r).get('path')!.length).toBe(n);
    }
  });

  it('rejects a corrupt checksum', () => {
    const h = encodeHeader({ ...fields, path: 'x' });
    h[0] = 0x79;
    expect(() => decodeRawHeader(h, 0)).toThrow(expect.objectContaining({ code: 'LAYER_INVALID', message: expect.stringMatching(/checksum/) }));
  });
});

describe('readLayer', () => {
  const entries = [dir('d'), file('d/a', noise(5000)), file(`d/${'long'.repeat(40)}`, 'L'), { path: 'd/s', type: 'symlink' as const, linkname: 'a', mode: 0o777, uid: 0, gid: 0 }];

  it('gives the same entries and diffId when fed one byte at a time (plain and gzip)', async () => {
    for (const compression of ['none', 'gzip'] as const) {
      const { result, data } = await writeToBuffer(entries, { compression });
      const whole: unknown[] = [];
      let endWhole: unknown;
      for await (const { header, body } of readLayer(Readable.from([data]), { onEnd: (i) => (endWhole = i) })) {
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c);
        whole.push({ header, body: Buffer.concat(chunks).toString('hex') });
      }
      const slow: unknown[] = [];
      let endSlow: unknown;
      for await (const { header, body } of readLayer(byteByByte(data), { onEnd: (i) => (endSlow = i) })) {
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c);
        slow.push({ header, body: Buffer.concat(chunks).toString('hex') });
      }
      expect(slow).toEqual(whole);
      expect(whole).toHaveLength(4);
      expect(endWhole).toEqual({ diffId: result.diffId, size: result.uncompressedSize });
      expect(endSlow).toEqual(endWhole);
    }
  });

  it('skips bodies the caller does not read', async () => {
    const { data } = await writeToBuffer(entries, { compression: 'none' });
    const names: string[] = [];
    for await (const { header } of readLayer(Readable.from([data]))) names.push(header.path);
    expect(names).toEqual(['d', 'd/a', `d/${'long'.repeat(40)}`, 'd/s']);
  });

  it('reads GNU-format (long name records) and pax archives made by GNU tar', async () => {
    const src = tempDir();
    const deep = path.join(src, 'x'.repeat(90), 'y'.repeat(90));
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'z'.repeat(120)), 'content');
    fs.symlinkSync('t'.repeat(150), path.join(src, 'sl'));
    for (const format of ['gnu', 'posix']) {
      const tar = Buffer.from(sh('sh', ['-c', `tar --format=${format} -C ${src} -cf - . | od -An -tx1 -v | tr -d ' \\n'`]), 'hex');
      const listed = await listLayer(byteByByte(tar));
      expect(listed.map((e) => e.path).sort()).toEqual(['.', 'sl', 'x'.repeat(90), `${'x'.repeat(90)}/${'y'.repeat(90)}`, `${'x'.repeat(90)}/${'y'.repeat(90)}/${'z'.repeat(120)}`].sort());
      expect(listed.find((e) => e.path === 'sl')).toMatchObject({ type: 'symlink', linkname: 't'.repeat(150) });
    }
    fs.rmSync(src, { recursive: true, force: true });
  });

  it('refuses truncated, corrupt and unsupported streams', async () => {
    const { data } = await writeToBuffer(entries, { compression: 'none' });
    await expect(listLayer(Readable.from([data.subarray(0, 700)]))).rejects.toMatchObject({ code: 'LAYER_INVALID', message: expect.stringMatching(/unexpected end/) });
    const bad = Buffer.from(data);
    bad[5] ^= 0xff;
    await expect(listLayer(Readable.from([bad]))).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    const gz = zlib.gzipSync(data);
    await expect(listLayer(Readable.from([gz.subarray(0, gz.length - 20)]))).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    // zstd is read (src/layers/zstd.test.ts); a broken zstd frame is invalid, xz is refused.
    await expect(listLayer(Readable.from([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0])]))).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    await expect(listLayer(Readable.from([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0])]))).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await expect(listLayer(Readable.from([Buffer.from('not a tar at all, clearly'.repeat(30))]))).rejects.toMatchObject({ code: 'LAYER_INVALID' });
  });

  it('hashes trailing padding into the diffId (the whole uncompressed stream)', async () => {
    const { data } = await writeToBuffer(entries, { compression: 'none' });
    const padded = Buffer.concat([data, Buffer.alloc(10240)]);
    let info: { diffId: string; size: number } | undefined;
    await listLayer(Readable.from([padded]), { onEnd: (i) => (info = i) });
    expect(info).toEqual({ diffId: `sha256:${createHash('sha256').update(padded).digest('hex')}`, size: padded.length });
  });

  it('issue 7: refuses (LAYER_ESCAPE) whiteouts of ".", ".." or "", names leaving the tree and hardlinks out of it', async () => {
    const one = (name: string, typeflag: number = TypeFlag.file, linkname = '') => Buffer.concat([encodeHeader({ ...fields, path: name, typeflag, linkname }), Buffer.alloc(2 * BLOCK)]);
    for (const tar of [one('.wh...'), one('.wh..'), one('.wh.'), one('sub/.wh...'), one('a/b/.wh..'), one('../x'), one('/abs'), one('hl', TypeFlag.hardlink, '../x'), one('hl', TypeFlag.hardlink, '/etc/passwd')]) {
      await expect(listLayer(byteByByte(tar))).rejects.toMatchObject({ code: 'LAYER_ESCAPE' });
      const it = readLayer(Readable.from([tar]));
      await expect(it.next()).rejects.toMatchObject({ code: 'LAYER_ESCAPE' });
    }
    expect(await listLayer(Readable.from([one('sub/.wh.x')]))).toMatchObject([{ path: 'sub/x', type: 'whiteout' }]);
  });
});
