/**
 * ParallelGzip gives blocks back (`release`) only when nothing reads them any
 * more: a block released while its deflate or the next block's dictionary
 * still read it would corrupt the layer. The test scribbles over every
 * released block at once and holds the output to the one made without
 * release, and to the input once inflated.
 */
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { createGunzip, GUNZIP_CHUNK, GZIP_BLOCK_SIZE, ParallelGzip } from './gzip.js';

/** Text-like bytes with repeats across block boundaries (so dictionaries matter) and random stretches. */
function sample(blocks: number): Buffer {
  const words = ['layer', 'digest', 'manifest', 'config', 'registry', 'blob', 'tar', 'gzip', '\n'];
  const parts: Buffer[] = [];
  let n = 0;
  let i = 0;
  while (n < blocks * GZIP_BLOCK_SIZE) {
    const p = i % 97 === 0 ? randomBytes(20_000) : Buffer.from(`${words[(i * 7) % words.length]} ${i % 1000} `);
    parts.push(p);
    n += p.length;
    i++;
  }
  return Buffer.concat(parts).subarray(0, blocks * GZIP_BLOCK_SIZE - 1000);
}

async function compress(data: Buffer, maxInFlight: number, scribble: boolean): Promise<{ out: Buffer; released: number }> {
  const chunks: Buffer[] = [];
  let released = 0;
  const gz = new ParallelGzip({
    level: 4,
    maxInFlight,
    emit: (c) => void chunks.push(Buffer.from(c)),
    ...(scribble
      ? {
          release: (b: Buffer) => {
            released++;
            b.fill(0xaa);
          },
        }
      : {}),
  });
  for (let off = 0; off < data.length; off += GZIP_BLOCK_SIZE) {
    // A copy per block, as the tar sink hands over blocks it will fill again.
    await gz.push(Buffer.from(data.subarray(off, Math.min(off + GZIP_BLOCK_SIZE, data.length))));
  }
  await gz.end();
  return { out: Buffer.concat(chunks), released };
}

describe('ParallelGzip release', () => {
  it.each([1, 2, 8])('gives back only blocks nothing reads any more (scribbled at once, the output is unchanged; %i in flight)', async (inFlight) => {
    const data = sample(24);
    const plain = await compress(data, inFlight, false);
    const scribbled = await compress(data, inFlight, true);
    expect(scribbled.out.equals(plain.out)).toBe(true);
    expect(zlib.gunzipSync(scribbled.out).equals(data)).toBe(true);
    // Every block but the last (the shorter one may be kept by the caller's rule, and is the dictionary of none).
    expect(scribbled.released).toBeGreaterThanOrEqual(23);
  });
});

describe('createGunzip', () => {
  it('inflates in GUNZIP_CHUNK pieces (a threadpool round trip each: 16 KiB ones took 2.5x as long on the 104 MB layer)', async () => {
    const data = Buffer.alloc(4 * GUNZIP_CHUNK, 'ocibuild ');
    const chunks: number[] = [];
    const gunzip = createGunzip();
    gunzip.on('data', (c: Buffer) => chunks.push(c.length));
    const done = new Promise((resolve, reject) => gunzip.on('end', resolve).on('error', reject));
    gunzip.end(zlib.gzipSync(data));
    await done;
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(data.length);
    expect(chunks.length).toBeLessThanOrEqual(5);
  });
});

describe('createGunzip read-ahead', () => {
  it('inflates several chunks ahead of a reader that has not asked yet', async () => {
    const data = Buffer.alloc(8 * GUNZIP_CHUNK, 'ahead ');
    const gunzip = createGunzip();
    gunzip.end(zlib.gzipSync(data));
    // Nobody reads: the stream fills its buffer up to the high-water mark and stops there.
    for (let i = 0; i < 50 && gunzip.readableLength < 4 * GUNZIP_CHUNK; i++) await new Promise((r) => setTimeout(r, 10));
    expect(gunzip.readableLength).toBeGreaterThanOrEqual(4 * GUNZIP_CHUNK);
    expect(gunzip.readableLength).toBeLessThan(data.length);
    gunzip.destroy();
  });
});
