import { execFile as execFileCb } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { archiveStream, type ArchiveEntry } from './tar.js';

const execFile = promisify(execFileCb);
let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-tar-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('archiveStream', () => {
  it('writes ustar that GNU tar lists and extracts, long names via PAX', async () => {
    const long = `blobs/sha512/${'ab'.repeat(64)}`;
    const prefixed = `${'d'.repeat(120)}/${'f'.repeat(90)}`;
    const body = Buffer.alloc(70_000, 9);
    const entries: ArchiveEntry[] = [
      { name: 'oci-layout', type: 'file', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      { name: 'blobs', type: 'directory' },
      { name: 'blobs/sha512', type: 'directory' },
      { name: long, type: 'file', size: body.length, open: async () => Readable.from([body.subarray(0, 1000), body.subarray(1000)]) },
      { name: prefixed, type: 'file', data: Buffer.from('x') },
      { name: 'empty', type: 'file', data: Buffer.alloc(0) },
    ];
    const file = path.join(tmp, 'a.tar');
    await pipeline(archiveStream(entries, { mtime: 1_700_000_000 }), createWriteStream(file));
    const bytes = await fs.readFile(file);
    expect(bytes.length % 512).toBe(0);
    const listing = (await execFile('tar', ['--full-time', '-tvf', file])).stdout.trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/).at(-1))).toEqual(['oci-layout', 'blobs/', 'blobs/sha512/', long, prefixed, 'empty']);
    expect(listing[0]).toMatch(/^-rw-r--r-- 0\/0 +30 2023-11-14 22:13:20 oci-layout$/);
    expect(listing[1]).toMatch(/^drwxr-xr-x 0\/0/);
    const out = path.join(tmp, 'x');
    await fs.mkdir(out);
    await execFile('tar', ['-xf', file, '-C', out]);
    expect((await fs.readFile(path.join(out, long))).equals(body)).toBe(true);
    expect(await fs.readFile(path.join(out, prefixed), 'utf8')).toBe('x');
    // Same input, same bytes.
    expect((await collect(archiveStream(entries, { mtime: 1_700_000_000 }))).equals(bytes)).toBe(true);
  });

  it('fails when a body is shorter or longer than its size', async () => {
    const short: ArchiveEntry[] = [{ name: 'f', type: 'file', size: 10, open: async () => Readable.from([Buffer.from('abc')]) }];
    await expect(collect(archiveStream(short))).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    const longer: ArchiveEntry[] = [{ name: 'f', type: 'file', size: 2, open: async () => Readable.from([Buffer.from('abc')]) }];
    await expect(collect(archiveStream(longer))).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    await expect(collect(archiveStream([{ name: 'f', type: 'file' }]))).rejects.toMatchObject({ code: 'OUTPUT_INVALID' });
  });

  it('encodes sizes of 8 GiB and more in base-256', async () => {
    // Only the header is produced before the body is requested: take the first block.
    const huge = 9 * 1024 ** 3;
    const s = archiveStream([{ name: 'huge', type: 'file', size: huge, open: async () => new Readable({ read() { /* never yields */ } }) }]);
    const first = await new Promise<Buffer>((resolve) => s.once('data', (c: Buffer) => resolve(c)));
    s.destroy();
    const field = first.subarray(124, 136);
    expect(field[0]).toBe(0x80);
    expect(Number(field.subarray(1).reduce((acc, b) => acc * 256n + BigInt(b), 0n))).toBe(huge);
  });
});
