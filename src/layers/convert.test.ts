/**
 * Layer conversion (issue 12, zstd and uncompressed outputs): one streaming
 * pass per blob, diffId verified, reproducible bytes at any concurrency.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { convertLayer, compressionOfMediaType, createCompressor, layerMediaType, type CompressionSpec, type Compression } from './convert.js';
import { MemorySink, byteByByte, dir, file, noise, writeToBuffer } from './testing/helpers.js';
import type { LayerEntry } from './types.js';
import { createZstdCompress } from './zstd.js';
import { pipeline } from 'node:stream/promises';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function convert(data: Buffer, from: Compression, to: CompressionSpec, options: { concurrency?: number; expected?: { diffId?: string } } = {}) {
  const sink = new MemorySink();
  const r = await convertLayer(Readable.from([data]), from, to, sink, options as never);
  return { r, data: sink.data };
}

async function compress(data: Buffer, spec: CompressionSpec, concurrency: number, source: Readable = Readable.from([data])): Promise<Buffer> {
  const sink = new MemorySink();
  await pipeline(source, createCompressor(spec, { concurrency }), sink);
  return sink.data;
}

describe('convertLayer', () => {
  // Some text that compresses, 5 MiB of noise that does not, more than one gzip block and one zstd job.
  const entries: LayerEntry[] = [dir('etc'), file('etc/hostname', 'box\n'), file('big', noise(5 * 1024 * 1024)), file('text', Buffer.from('layer '.repeat(400_000)))];

  it('gzip -> zstd -> uncompressed -> gzip gives back the very bytes the layer writer wrote', async () => {
    const { result, data: gz } = await writeToBuffer(entries);
    const z = await convert(gz, 'gzip', { compression: 'zstd' }, { expected: { diffId: result.diffId } });
    expect(z.r).toEqual({ digest: sha(z.data), size: z.data.length, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', diffId: result.diffId, uncompressedSize: result.uncompressedSize });
    expect(z.data.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    // Debian's zstd reads it back to the same tar.
    expect(sha(execFileSync('zstd', ['-d', '-c', '-q'], { input: z.data, maxBuffer: 1 << 30 }))).toBe(result.diffId);
    const t = await convert(z.data, 'zstd', { compression: 'uncompressed' });
    expect(t.r.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    expect(t.r.digest).toBe(result.diffId);
    expect(t.r.diffId).toBe(result.diffId);
    const g = await convert(t.data, 'uncompressed', { compression: 'gzip' });
    expect(g.r.digest).toBe(result.digest);
    expect(g.data.equals(gz)).toBe(true);
  }, 60_000);

  it('writes the same bytes at any concurrency (gzip blocks in flight, zstd worker threads)', async () => {
    const { data: tar } = await writeToBuffer(entries, { compression: 'none' });
    for (const spec of [{ compression: 'zstd' }, { compression: 'zstd', level: 12 }, { compression: 'gzip', level: 1 }] as CompressionSpec[]) {
      const digests = new Set<string>();
      for (const c of [1, 2, 4]) digests.add(sha(await compress(tar, spec, c)));
      // Fed one byte at a time for the small part, in odd chunks for the rest: the framing does not depend on chunking.
      const odd = Readable.from((function* () {
        for (let i = 0; i < tar.length; i += 77_777) yield tar.subarray(i, i + 77_777);
      })());
      digests.add(sha(await compress(tar, spec, 3, odd)));
      expect([spec, digests.size]).toEqual([spec, 1]);
    }
    // The zstd program's single-thread mode would frame differently: we never use it, whatever the thread count.
    const one = await compress(tar, { compression: 'zstd' }, 1);
    const st = execFileSync('zstd', ['-c', '-q', '-3', '--single-thread'], { input: tar, maxBuffer: 1 << 30 });
    const mt = execFileSync('zstd', ['-c', '-q', '-3', '-T1'], { input: tar, maxBuffer: 1 << 30 });
    expect(one.equals(mt)).toBe(true);
    expect(sha(st)).not.toBe(sha(one)); // why -T is always given
  }, 60_000);

  it('a higher zstd level is smaller on text', async () => {
    const { data: tar } = await writeToBuffer([file('text', Buffer.from(Array.from({ length: 50_000 }, (_, i) => `line ${i % 977} of the layer\n`).join('')))], { compression: 'none' });
    const fast = await compress(tar, { compression: 'zstd', level: 1 }, 2);
    const small = await compress(tar, { compression: 'zstd', level: 19 }, 2);
    expect(small.length).toBeLessThan(fast.length);
  }, 60_000);

  it('refuses a blob whose tar is not the expected diffId, and corrupt input, with OcibuildErrors', async () => {
    const { data: gz } = await writeToBuffer(entries.slice(0, 2));
    await expect(convert(gz, 'gzip', { compression: 'zstd' }, { expected: { diffId: `sha256:${'0'.repeat(64)}` } })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(convert(Buffer.from('not gzip at all'), 'gzip', { compression: 'zstd' })).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    await expect(convert(Buffer.from('not zstd at all'), 'zstd', { compression: 'gzip' })).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    expect(() => createCompressor({ compression: 'zstd', level: 20 })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => createCompressor({ compression: 'uncompressed', level: 1 })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => createZstdCompress({ level: 0 })).toThrow(/from 1 to 19/);
  });

  it('reads input fed one byte at a time', async () => {
    const { result, data: gz } = await writeToBuffer(entries.slice(0, 2));
    const sink = new MemorySink();
    const r = await convertLayer(byteByByte(gz), 'gzip', { compression: 'zstd' }, sink);
    expect(r.diffId).toBe(result.diffId);
  });

  it('names media types both ways', () => {
    for (const c of ['gzip', 'zstd', 'uncompressed'] as const) expect(compressionOfMediaType(layerMediaType(c))).toBe(c);
    expect(compressionOfMediaType('application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe('gzip');
    expect(compressionOfMediaType('application/vnd.oci.image.config.v1+json')).toBeUndefined();
  });
});
