/**
 * zstd layers (OCI `tar+zstd`) read like gzip ones: detected by magic bytes,
 * streamed through Debian's `zstd`, diffId over the decompressed tar.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer } from './apply.js';
import { listLayer, readLayer } from './read.js';
import { byteByByte, dir, file, noise, tempDir, writeToBuffer } from './testing/helpers.js';
import type { LayerEntry } from './types.js';
import { createZstdDecompress } from './zstd.js';

function zstd(data: Buffer, args: string[] = []): Buffer {
  return execFileSync('zstd', ['-c', '-q', ...args], { input: data, maxBuffer: 1 << 30 });
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Live zstd children of this process (a leak would keep one). */
function zstdChildren(): number {
  const out = execFileSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() === 'zstd').length;
}

describe('zstd layers', () => {
  const entries = [dir('etc'), file('etc/hostname', 'box\n'), file('big', noise(3 * 1024 * 1024)), { path: 'etc/gone', type: 'whiteout', mode: 0, uid: 0, gid: 0 } as LayerEntry];

  it('lists a zstd layer and reports the diffId of the uncompressed tar', async () => {
    const { data } = await writeToBuffer(entries, { compression: 'none' });
    let info: { diffId: string; size: number } | undefined;
    const listed = await listLayer(Readable.from([zstd(data)]), { onEnd: (i) => (info = i) });
    expect(listed.map((e) => [e.path, e.type])).toEqual([
      ['big', 'file'],
      ['etc', 'directory'],
      ['etc/gone', 'whiteout'],
      ['etc/hostname', 'file'],
    ]);
    expect(info).toEqual({ diffId: sha(data), size: data.length });
  });

  it('reads several concatenated frames and a stream fed one byte at a time', async () => {
    const { data } = await writeToBuffer(entries, { compression: 'none' });
    const cut = 1024 * 1024 + 7;
    const twoFrames = Buffer.concat([zstd(data.subarray(0, cut), ['-19']), zstd(data.subarray(cut))]);
    let info: { diffId: string } | undefined;
    await listLayer(Readable.from([twoFrames]), { onEnd: (i) => (info = i) });
    expect(info?.diffId).toBe(sha(data));
    const small = (await writeToBuffer([dir('a'), file('a/b', 'hello\n')], { compression: 'none' })).data;
    const bodies: string[] = [];
    for await (const { header, body } of readLayer(byteByByte(zstd(small)))) {
      let s = '';
      for await (const c of body) s += c.toString();
      if (header.type === 'file') bodies.push(`${header.path}=${s}`);
    }
    expect(bodies).toEqual(['a/b=hello\n']);
  });

  it('applies a zstd layer with its diffId verified', async () => {
    const { data } = await writeToBuffer(entries.slice(0, 3), { compression: 'none' });
    const root = tempDir();
    try {
      const r = await applyLayer(Readable.from([zstd(data)]), root, { expectedDiffId: sha(data) as never });
      expect(r.diffId).toBe(sha(data));
      expect(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8')).toBe('box\n');
      expect(fs.readFileSync(path.join(root, 'big')).equals(noise(3 * 1024 * 1024))).toBe(true);
      const other = tempDir();
      await expect(applyLayer(Readable.from([zstd(data)]), other, { expectedDiffId: sha(Buffer.from('x')) as never })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
      fs.rmSync(other, { recursive: true, force: true });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('fails truncated and corrupt zstd as LAYER_INVALID with zstd\'s message', async () => {
    const { data } = await writeToBuffer(entries, { compression: 'none' });
    const z = zstd(data);
    await expect(listLayer(Readable.from([z.subarray(0, z.length - 100)]))).rejects.toMatchObject({ code: 'LAYER_INVALID', message: expect.stringMatching(/zstd/) });
    const bad = Buffer.from(z);
    for (let i = 200; i < 400; i++) bad[i] ^= 0x5a;
    await expect(listLayer(Readable.from([bad]))).rejects.toMatchObject({ code: 'LAYER_INVALID' });
  });

  it('kills zstd when the reader stops early (no process left behind)', async () => {
    const { data } = await writeToBuffer(entries, { compression: 'none' });
    const it = readLayer(Readable.from([zstd(data)]));
    const first = await it.next();
    expect(first.done).toBe(false);
    await it.return(undefined);
    for (let i = 0; i < 50 && zstdChildren() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(zstdChildren()).toBe(0);
  });

  it('decompresses as a stream with backpressure (createZstdDecompress)', async () => {
    const big = noise(8 * 1024 * 1024, 3);
    const d = createZstdDecompress();
    Readable.from([zstd(big)]).pipe(d);
    const hash = createHash('sha256');
    for await (const c of d) {
      hash.update(c as Buffer);
      await new Promise((r) => setImmediate(r)); // a slow consumer
    }
    expect(`sha256:${hash.digest('hex')}`).toBe(sha(big));
  });

  it('without the zstd program: UNSUPPORTED with the fix', async () => {
    const d = createZstdDecompress({ program: '/nonexistent/zstd' });
    Readable.from([zstd(Buffer.from('x'))]).pipe(d);
    await expect((async () => {
      for await (const _ of d) void _;
    })()).rejects.toMatchObject({ code: 'UNSUPPORTED', hint: expect.stringMatching(/install zstd/) });
  });
});
