import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { sha256, type Digest } from '../oci/digest.js';
import { OciLayoutSource } from './oci-layout.js';

let dir: string;
const data = Buffer.from('hello, layout');
const digest = sha256(data);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-layout-'));
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  await writeFile(path.join(dir, 'blobs', 'sha256', 'b'.repeat(64)), 'corrupt');
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'x', digest, size: data.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
  );
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function read(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

test('open verifies, openRange slices, has', async () => {
  const src = new OciLayoutSource(dir);
  expect(await read(await src.open(digest, data.length))).toBe('hello, layout');
  expect(await read(await src.openRange(digest, 7, 13))).toBe('layout');
  expect(await read(await src.openRange(digest, 3, 3))).toBe('');
  expect(await src.has(digest)).toBe(true);
  expect(await src.has(`sha256:${'c'.repeat(64)}` as Digest)).toBe(false);
  await expect(read(await src.open(`sha256:${'b'.repeat(64)}` as Digest))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  await expect(src.open(`sha256:${'c'.repeat(64)}` as Digest)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
});

test('resolve by ref name, or the only entry', async () => {
  const src = new OciLayoutSource(dir);
  expect((await src.resolve('v1')).digest).toBe(digest);
  expect((await src.resolve()).digest).toBe(digest);
  await expect(src.resolve('v2')).rejects.toBeInstanceOf(OcibuildError);
  await expect(new OciLayoutSource(path.join(dir, 'missing')).resolve()).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
});
