import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { statIdentity } from '../stat-identity.js';
import { hashFiles, type FileReadFailure, type FileToHash } from './hash-files.js';
import { READ_RANGE } from './read-ahead.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const fail = (p: string, r: FileReadFailure) => new Error(`${p}: ${r.kind} ${r.kind === 'size' ? r.got : r.code}`);

describe('hashFiles', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-hash-files-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function file(name: string, bytes: Buffer | string): FileToHash {
    const p = path.join(dir, name);
    fs.writeFileSync(p, bytes);
    return { path: p, size: fs.statSync(p).size };
  }

  it.each([
    ['a few small files, read inline', 5, 1000],
    ['many files and a big one, on the reader threads', 500, 2 * READ_RANGE + 12345],
  ])('%s: digests in order, empty and multi-range files, identities of files read whole', async (_what, n, bigSize) => {
    const big = Buffer.alloc(bigSize);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    const files = [file(`big-${n}`, big), file(`empty-${n}`, '')];
    for (let i = 0; i < n; i++) files.push(file(`f${i}-${n}`, `file ${i}\n`.repeat(1 + (i % 13))));
    const got = await hashFiles(files, { fail });
    expect(got.map((h) => h.digest)).toEqual(files.map((f) => sha(fs.readFileSync(f.path))));
    // Read in one range: the identity of the file read (as a stat gives it); in several, or not opened: none.
    if (bigSize > READ_RANGE) expect(got[0]!.identity).toBeUndefined();
    else expect(got[0]!.identity).toBe(statIdentity(fs.statSync(files[0]!.path, { bigint: true })));
    expect(got[1]!.identity).toBeUndefined();
    for (let i = 2; i < files.length; i++) expect(got[i]!.identity).toBe(statIdentity(fs.statSync(files[i]!.path, { bigint: true })));
  });

  it('a file missing, or not of its planned size, fails the whole through fail()', async () => {
    const ok = file('ok', 'ok');
    await expect(hashFiles([ok, { path: path.join(dir, 'missing'), size: 3 }], { fail })).rejects.toThrow(/missing: io ENOENT/);
    const grown = file('grown', 'four');
    await expect(hashFiles([ok, { ...grown, size: 3 }], { fail })).rejects.toThrow(/grown: size it grew/);
    await expect(hashFiles([ok, { ...grown, size: 5 }], { fail })).rejects.toThrow(/grown: size got 4/);
    const many = Array.from({ length: 200 }, (_, i) => file(`m${i}`, `${i}`));
    await expect(hashFiles([...many, { path: path.join(dir, 'missing'), size: 3 }], { fail })).rejects.toThrow(/missing: io ENOENT/);
  });

  it('stops when the signal is aborted', async () => {
    const files = Array.from({ length: 300 }, (_, i) => file(`s${i}`, `${i}`));
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(hashFiles(files, { fail, signal: ac.signal })).rejects.toThrow('stop');
  });
});
