import { jest } from '@jest/globals';
import { execFile as execFileCb, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { OcibuildError } from '../errors.js';
import { sha256, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageConfig } from '../oci/types.js';
import { createConfigBlob, createIndex, createManifest } from '../image/manifest.js';
import { acquireLock, processOwner } from './lock.js';
import { touchTempInUse } from './temp.js';
import { defaultStoreRoot } from './paths.js';
import { Store, type StepRecord } from './store.js';
import { listImages, pruneStore, removeImages } from './commands.js';
import { writeLayer } from '../layers/write.js';

const execFile = promisify(execFileCb);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-store-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<OcibuildError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(OcibuildError);
    expect((e as OcibuildError).code).toBe(code);
    return e as OcibuildError;
  }
  throw new Error(`expected ${code}, it succeeded`);
}

/** A small image: one layer blob (any bytes: the store does not read layers), its config and manifest. */
async function putImage(store: Store, seed: string, created = '2024-01-01T00:00:00Z', arch = 'amd64') {
  const layerBytes = Buffer.from(`layer ${seed}`);
  const layer = await store.writeBlob(layerBytes);
  const config: ImageConfig = { created, architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(`diff ${seed}`)] } };
  const cfg = createConfigBlob(config);
  await store.writeBlob(cfg.bytes);
  const m = createManifest(cfg.descriptor, [{ mediaType: MediaType.ociLayerGzip, ...layer }], undefined, { platform: { os: 'linux', architecture: arch } });
  await store.writeBlob(m.bytes);
  return { manifest: m.descriptor, layer, config: cfg.descriptor, diffId: config.rootfs.diff_ids[0]! };
}

async function tmpFiles(store: Store): Promise<string[]> {
  return fs.readdir(path.join(store.root, 'tmp'));
}

describe('defaultStoreRoot', () => {
  it('prefers OCIBUILD_HOME, then XDG_CACHE_HOME, then HOME', () => {
    expect(defaultStoreRoot({ OCIBUILD_HOME: '/x/y', XDG_CACHE_HOME: '/c', HOME: '/h' })).toBe('/x/y');
    expect(defaultStoreRoot({ XDG_CACHE_HOME: '/c', HOME: '/h' })).toBe('/c/ocibuild');
    expect(defaultStoreRoot({ XDG_CACHE_HOME: 'relative', HOME: '/h' })).toBe('/h/.cache/ocibuild');
    expect(defaultStoreRoot({}, '/home/u')).toBe('/home/u/.cache/ocibuild');
    expect(() => defaultStoreRoot({})).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('Store blobs', () => {
  it('creates an OCI layout', async () => {
    const store = await Store.open(path.join(tmp, 's'));
    expect(JSON.parse(await fs.readFile(path.join(store.root, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(await fs.readFile(path.join(store.root, 'index.json'), 'utf8'))).toEqual({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    await Store.open(store.root); // reopening is fine
    await fs.writeFile(path.join(store.root, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await expectCode(Store.open(store.root), 'STORE_CORRUPT');
    await fs.writeFile(path.join(tmp, 'file'), 'x');
    const e = await expectCode(Store.open(path.join(tmp, 'file')), 'STORE_IO');
    expect(e.message).toContain(path.join(tmp, 'file'));
  });

  it('flushes a big blob to disk while it is written, through the stream and through writeSync (issue 8)', async () => {
    // The commit's fsync then waits for the last part only: the big set's 220 MB layer (stream)
    // and a pulled 213 MB image's layers (writeSync, one chunk per socket read).
    const store = await Store.open(tmp);
    const probe = await fs.open(path.join(tmp, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const want = sha256(Buffer.concat(Array.from({ length: 72 }, () => chunk)));
    for (const via of ['stream', 'writeSync'] as const) {
      const original = proto.datasync;
      const flushes: Array<Promise<void>> = [];
      const spy = jest.spyOn(proto, 'datasync').mockImplementation(function (this: unknown) {
        const p = original.call(this);
        flushes.push(p);
        return p;
      });
      try {
        const w = await store.createWriter();
        for (let i = 0; i < 72; i++) {
          if (via === 'writeSync') w.writeSync(chunk);
          else if (!w.stream.write(chunk)) await new Promise((r) => w.stream.once('drain', r));
          // A turn of the event loop now and then, as a download gives it.
          if (via === 'writeSync' && i % 8 === 7) await new Promise((r) => setImmediate(r));
          // The flush at 32 MiB is over before 64 MiB (one runs at a time; a slow disk must not skip the second).
          if (i === 40) await Promise.all(flushes);
        }
        const calls = spy.mock.calls.length;
        expect(await w.commit()).toEqual({ digest: want, size: 72 * 1024 * 1024 });
        expect([via, calls]).toEqual([via, 2]); // at 32 and at 64 MiB, before the commit
      } finally {
        spy.mockRestore();
      }
    }
  });

  it('writeBlob / readBlob / open / stat round trip', async () => {
    const store = await Store.open(tmp);
    const info = await store.writeBlob('hello world');
    expect(info).toEqual({ digest: sha256('hello world'), size: 11 });
    expect(await store.has(info.digest)).toBe(true);
    expect(await store.stat(info.digest)).toEqual(info);
    expect((await store.readBlob(info.digest)).toString()).toBe('hello world');
    expect((await readAll(await store.open(info.digest, 11))).toString()).toBe('hello world');
    expect(await store.writeBlob('hello world')).toEqual(info);
    expect(await store.has(sha256('other'))).toBe(false);
    await expectCode(store.open(sha256('other')), 'BLOB_NOT_FOUND');
    await expectCode(store.readBlob(sha256('other')), 'BLOB_NOT_FOUND');
    await expectCode(store.has('sha256:nope' as Digest), 'DIGEST_INVALID');
    expect(await tmpFiles(store)).toEqual([]);
  });

  it('open with a size that disagrees with an intact blob is SIZE_MISMATCH (blob kept)', async () => {
    const store = await Store.open(tmp);
    const info = await store.writeBlob('abc');
    await expectCode(store.open(info.digest, 4), 'SIZE_MISMATCH');
    expect(await store.has(info.digest)).toBe(true);
  });

  it('openChunks hands a blob out in two reused buffers, verified like open; a corrupt one fails at its end and is removed', async () => {
    const store = await Store.open(tmp);
    // 2.5 MiB: three chunks of at most 1 MiB, the first and third in the same buffer.
    const bytes = Buffer.alloc(2.5 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 11)) & 0xff;
    const info = await store.writeBlob(bytes);
    const copies: Buffer[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for await (const c of await store.openChunks(info.digest, info.size)) {
      copies.push(Buffer.from(c));
      buffers.add(c.buffer);
    }
    expect(Buffer.concat(copies).equals(bytes)).toBe(true);
    expect(copies.length).toBe(3);
    expect(buffers.size).toBe(2);
    await expectCode(store.openChunks(sha256('other')), 'BLOB_NOT_FOUND');
    await expectCode(store.openChunks(info.digest, info.size + 1), 'SIZE_MISMATCH');
    // Closed unread: the file is released, and the chunks are not read twice.
    const unread = await store.openChunks(info.digest);
    await unread.close();
    await expectCode((async () => { for await (const c of unread) void c; })(), 'STORE_IO');
    // Same size, other content: the last chunk is held back until the whole blob verified, so the
    // blob never leaves complete; the end fails and the blob is gone.
    const bad = Buffer.from(bytes);
    bad[bad.length - 1] ^= 1;
    await fs.writeFile(store.blobPath(info.digest), bad);
    let handed = 0;
    const err = await expectCode(
      (async () => {
        for await (const c of await store.openChunks(info.digest, info.size)) handed += c.length;
      })(),
      'STORE_CORRUPT',
    );
    expect(handed).toBe(2 * 1024 * 1024);
    expect(err.message).toContain(info.digest);
    expect(await store.has(info.digest)).toBe(false);
  });

  it('detects a corrupt blob on streaming read, reports STORE_CORRUPT and removes it', async () => {
    const store = await Store.open(tmp);
    const info = await store.writeBlob('the real content');
    await fs.writeFile(store.blobPath(info.digest), 'the fake content');
    const err = await expectCode(readAll(await store.open(info.digest)), 'STORE_CORRUPT');
    expect(err.message).toContain(info.digest);
    expect(await store.has(info.digest)).toBe(false);
    // It can be written again.
    expect(await store.writeBlob('the real content')).toEqual(info);
  });

  it('detects truncation (size given), and corruption in readBlob', async () => {
    const store = await Store.open(tmp);
    const a = await store.writeBlob('0123456789');
    await fs.writeFile(store.blobPath(a.digest), '01234');
    await expectCode(store.open(a.digest, 10), 'STORE_CORRUPT');
    expect(await store.has(a.digest)).toBe(false);
    const b = await store.writeBlob('{"a":1}');
    await fs.writeFile(store.blobPath(b.digest), '{"a":2}');
    await expectCode(store.readBlob(b.digest), 'STORE_CORRUPT');
    expect(await store.has(b.digest)).toBe(false);
  });

  it('ingest streams, verifies, and never publishes a mismatching or failed write', async () => {
    const store = await Store.open(tmp);
    const data = Buffer.alloc(3 * 1024 * 1024 + 7, 7);
    const chunks = () => Readable.from((function* () {
      for (let i = 0; i < data.length; i += 65536) yield data.subarray(i, i + 65536);
    })());
    const good = await store.ingest(chunks(), { digest: sha256(data), size: data.length });
    expect(good).toEqual({ digest: sha256(data), size: data.length });
    expect((await store.readBlob(good.digest)).equals(data)).toBe(true);

    // One byte at a time.
    const small = Buffer.from('fed one byte at a time');
    expect(await store.ingest(Readable.from([...small].map((b) => Buffer.from([b]))), { digest: sha256(small), size: small.length })).toEqual({ digest: sha256(small), size: small.length });

    const other = Buffer.from('other bytes');
    await expectCode(store.ingest(Readable.from([other]), { digest: sha256('not these'), size: other.length }), 'DIGEST_MISMATCH');
    await expectCode(store.ingest(Readable.from([other]), { digest: sha256(other), size: 3 }), 'SIZE_MISMATCH');
    expect(await store.has(sha256(other))).toBe(false);

    const failing = new Readable({
      read() {
        this.push(Buffer.from('partial'));
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(store.ingest(failing)).rejects.toThrow(/connection reset/);
    expect(await store.has(sha256('partial'))).toBe(false);
    expect(await tmpFiles(store)).toEqual([]);

    // sha512 digests are verified with sha512.
    const { createHash } = await import('node:crypto');
    const d512 = `sha512:${createHash('sha512').update(other).digest('hex')}` as Digest;
    expect(await store.ingest(Readable.from([other]), { digest: d512, size: other.length })).toEqual({ digest: d512, size: other.length });
    expect((await store.readBlob(d512)).equals(other)).toBe(true);
    expect(store.blobPath(d512)).toBe(path.join(store.root, 'blobs', 'sha512', d512.slice(7)));

    // Already present: the source is not read.
    const unread = new Readable({ read() { throw new Error('must not be read'); } });
    expect(await store.ingest(unread, good)).toEqual(good);
    expect(unread.destroyed).toBe(true);
  });

  it('createWriter: commit with and without expectation, abort leaves nothing', async () => {
    const store = await Store.open(tmp);
    const w = await store.createWriter();
    await pipeline(Readable.from([Buffer.from('a'), Buffer.from('bc')]), w.stream);
    expect(await w.commit(sha256('abc'))).toEqual({ digest: sha256('abc'), size: 3 });
    await expectCode(w.commit(), 'STORE_CORRUPT');

    const w2 = await store.createWriter();
    w2.stream.write('xyz');
    expect(await w2.commit()).toEqual({ digest: sha256('xyz'), size: 3 });

    const w3 = await store.createWriter();
    w3.stream.write('half');
    await w3.abort();
    await w3.abort();
    expect(await store.has(sha256('half'))).toBe(false);

    const w4 = await store.createWriter();
    w4.stream.end('wrong');
    await expectCode(w4.commit({ digest: sha256('right'), size: 5 }), 'DIGEST_MISMATCH');
    expect(await tmpFiles(store)).toEqual([]);
  });

  it('follow: reads a blob as it is written, each write once it is in the file, to the end; then the commit (issue 8)', async () => {
    const store = await Store.open(tmp);
    const w = await store.createWriter();
    const blob = await w.follow();
    const MiB = 1024 * 1024;
    const part = (n: number, fill: number) => Buffer.alloc(n, fill);
    const write = (b: Buffer) => new Promise<void>((resolve, reject) => w.stream.write(b, (e) => (e ? reject(e) : resolve())));
    await write(part(MiB + 10, 1));
    expect(blob.written).toBe(MiB + 10);
    expect(await blob.reached(MiB)).toBe(true);
    const it = blob.chunks()[Symbol.asyncIterator]();
    // A whole chunk is there: read at once, before anything else is written.
    const first = await it.next();
    expect(first.value!.length).toBe(MiB);
    expect(first.value!.every((b: number) => b === 1)).toBe(true);
    // The rest waits for more bytes or the end.
    const second = it.next();
    let settled = false;
    void second.then(() => (settled = true));
    await write(part(100, 2));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    w.stream.end(part(MiB, 3));
    // (Chunks live in one reused buffer: copied as they come.)
    const all = [Buffer.from(first.value!)];
    for (let r = await second; !r.done; r = await it.next()) all.push(Buffer.from(r.value));
    const whole = Buffer.concat([part(MiB + 10, 1), part(100, 2), part(MiB, 3)]);
    expect(Buffer.concat(all).equals(whole)).toBe(true);
    expect(await blob.reached(10 * MiB)).toBe(false);
    const info = await w.commit();
    expect(await blob.committed).toEqual(info);
    expect(info).toEqual({ digest: sha256(whole), size: whole.length });
    // A reading from the start again works after the commit renamed the file.
    let again = 0;
    for await (const c of blob.chunks()) again += c.length;
    expect(again).toBe(whole.length);
    await blob.close();
    await blob.close();

    // An aborted writer fails its followers' readings and their commit.
    const w2 = await store.createWriter();
    const b2 = await w2.follow();
    const reading = (async () => {
      let n = 0;
      for await (const c of b2.chunks()) n += c.length;
      return n;
    })();
    reading.catch(() => undefined); // awaited below
    const reached = b2.reached(5 * MiB);
    w2.stream.write(part(1000, 4));
    await w2.abort();
    await expectCode(reading, 'STORE_IO');
    expect(await reached).toBe(false);
    await expectCode(b2.committed, 'STORE_IO');
    await b2.close();
    await expectCode(w2.follow(), 'STORE_IO');

    // A closed follower ends its waits (a build that stops following before the writer ends).
    const w3 = await store.createWriter();
    const b3 = await w3.follow();
    const waiting = b3.reached(MiB);
    const r3 = (async () => {
      for await (const c of b3.chunks()) void c;
    })();
    r3.catch(() => undefined); // awaited below
    await b3.close();
    expect(await waiting).toBe(false);
    await expectCode(r3, 'STORE_IO');
    await w3.abort();
    expect(await tmpFiles(store)).toEqual([]);
  });
});

describe('issue 7: temp dirs of killed processes', () => {
  it('are removed when the store is next opened; those of live processes stay', async () => {
    const store = await Store.open(path.join(tmp, 's'));
    const build = await store.tempDir('build');
    await fs.mkdir(path.join(build, 'copy-abc'));
    await fs.writeFile(path.join(build, 'copy-abc', 'f'), 'x');
    // A process that has exited: its pid names a dead owner.
    const child = spawn(process.execPath, ['-e', '0']);
    const dead = child.pid!;
    await new Promise((r) => child.on('exit', r));
    const orphan = path.join(store.root, 'tmp', `build-${dead}-0123456789abcdef`);
    await fs.mkdir(path.join(orphan, 'copy-x'), { recursive: true });
    await fs.writeFile(path.join(orphan, 'copy-x', 'f'), 'x');
    await fs.chmod(path.join(orphan, 'copy-x'), 0o555);
    const orphanFile = path.join(store.root, 'tmp', `blob-${dead}-fedcba9876543210`);
    await fs.writeFile(orphanFile, 'partial');
    const other = path.join(store.root, 'tmp', 'not-ours');
    await fs.writeFile(other, 'x');
    await Store.open(store.root);
    await expect(fs.access(orphan)).rejects.toThrow();
    await expect(fs.access(orphanFile)).rejects.toThrow();
    expect(await fs.readFile(path.join(build, 'copy-abc', 'f'), 'utf8')).toBe('x'); // this process is alive
    expect(await fs.readFile(other, 'utf8')).toBe('x');
  });
});

/**
 * A zombie: `sleep 0` started by a shell that then becomes `sleep 30`, which never reaps it (as a
 * container's init that does not reap). Its pid answers signal 0, but it holds no file.
 */
async function withZombie(fn: (pid: number) => Promise<void>): Promise<void> {
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(String(d).trim()))));
    const state = async () => (await fs.readFile(`/proc/${pid}/stat`, 'latin1').catch(() => '')).replace(/^.*\) /s, '').charAt(0);
    for (let i = 0; (await state()) !== 'Z'; i++) {
      if (i > 500) throw new Error(`process ${pid} did not become a zombie (state ${await state()})`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(() => process.kill(pid, 0)).not.toThrow(); // what the old check took for a live owner
    await fn(pid);
  } finally {
    parent.kill('SIGKILL');
  }
}

describe('owners that are zombies (killed, never reaped) are dead', () => {
  it('their temp entries are removed when the store is opened', async () => {
    const store = await Store.open(path.join(tmp, 's'));
    await withZombie(async (pid) => {
      const orphan = path.join(store.root, 'tmp', `blob-${pid}-0123456789abcdef`);
      await fs.writeFile(orphan, 'a partial layer');
      await Store.open(store.root);
      await expect(fs.access(orphan)).rejects.toThrow();
    });
  });

  it('their locks are broken at once, not after staleMs', async () => {
    const lockFile = path.join(tmp, 'z.lock');
    await withZombie(async (pid) => {
      await fs.writeFile(lockFile, JSON.stringify({ pid, host: os.hostname(), nonce: 'zombie', time: Date.now() }));
      const lock = await acquireLock(lockFile, { timeoutMs: 2000, staleMs: 60_000 });
      await lock.release();
    });
  });
});

describe('temp entries of another host or pid namespace (a store shared by containers)', () => {
  it('are not judged by a pid that is not theirs: only prune removes them, after its grace period', async () => {
    const store = await Store.open(path.join(tmp, 's'));
    const mine = await store.tempDir('build');
    expect(path.basename(mine)).toMatch(new RegExp(`^build-${processOwner()}-${process.pid}-[0-9a-f]{16}$`));
    const child = spawn(process.execPath, ['-e', '0']);
    const dead = child.pid!;
    await new Promise((r) => child.on('exit', r));
    // The same dead pid under this owner, under another owner, and in the older name without one.
    const other = processOwner() === '00000000' ? 'ffffffff' : '00000000';
    const names = { ours: `blob-${processOwner()}-${dead}-0123456789abcdef`, theirs: `blob-${other}-${dead}-0123456789abcdef`, legacy: `blob-${dead}-fedcba9876543210` };
    for (const n of Object.values(names)) await fs.writeFile(path.join(store.root, 'tmp', n), 'partial');
    await Store.open(store.root);
    expect((await tmpFiles(store)).sort()).toEqual([path.basename(mine), names.theirs].sort());
  });
});

describe('Store and the layer writer', () => {
  it('a layer from writeLayer streams into createWriter with the same digest and size', async () => {
    const store = await Store.open(tmp);
    const entries = [
      { path: 'etc', type: 'directory' as const, mode: 0o755, uid: 0, gid: 0 },
      { path: 'etc/big', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 5_000_000, source: { kind: 'buffer' as const, data: Buffer.alloc(5_000_000, 1) } },
    ];
    const w = await store.createWriter();
    const result = await writeLayer(entries, w.stream, { compression: 'gzip', sourceDateEpoch: 0 });
    const info = await w.commit({ digest: result.digest, size: result.size });
    expect(info).toEqual({ digest: result.digest, size: result.size });
    const again = await store.createWriter();
    const r2 = await writeLayer(entries, again.stream, { compression: 'gzip', sourceDateEpoch: 0 });
    expect(await again.commit()).toEqual(info);
    expect(r2.digest).toBe(result.digest);
    expect(await tmpFiles(store)).toEqual([]);
  });
});

describe('Store tags', () => {
  it('tag, resolve under any spelling, re-tag replaces, untag', async () => {
    const store = await Store.open(tmp);
    const a = await putImage(store, 'a');
    const b = await putImage(store, 'b');
    const t = await store.tag('app', a.manifest);
    expect(t.fullName).toBe('docker.io/library/app:latest');
    for (const n of ['app', 'app:latest', 'docker.io/library/app:latest', 'index.docker.io/library/app']) {
      expect((await store.resolve(n))?.digest).toBe(a.manifest.digest);
    }
    expect((await store.resolve(a.manifest.digest))?.digest).toBe(a.manifest.digest);
    expect(await store.resolve('other')).toBeUndefined();

    await store.tag('app:latest', b.manifest);
    await fs.writeFile(path.join(store.root, 'index.json'), '{"schemaVersion":2,"manifests":{}}');
    await expectCode(store.listTags(), 'STORE_CORRUPT');
    await fs.writeFile(path.join(store.root, 'index.json'), `{"schemaVersion":2,"mediaType":"${MediaType.ociIndex}","manifests":[]}`);
    await store.tag('app:latest', b.manifest);
    const idx = JSON.parse(await fs.readFile(path.join(store.root, 'index.json'), 'utf8'));
    expect(idx.manifests).toHaveLength(1);
    expect(idx.manifests[0].digest).toBe(b.manifest.digest);
    expect(idx.manifests[0].annotations).toEqual({
      'io.containerd.image.name': 'docker.io/library/app:latest',
      'org.opencontainers.image.ref.name': 'app:latest',
    });
    expect(idx.manifests[0].platform).toEqual({ architecture: 'amd64', os: 'linux' });
    // Without a platform on the descriptor, the entry gets the config's.
    await store.tag('noplat', { mediaType: b.manifest.mediaType, digest: b.manifest.digest, size: b.manifest.size });
    expect((await store.resolve('noplat'))?.platform).toEqual({ architecture: 'amd64', os: 'linux' });
    await store.untag('noplat');

    await store.tag('localhost:5000/team/app:v1', a.manifest);
    expect((await store.listTags()).map((x) => x.name).sort()).toEqual(['app:latest', 'localhost:5000/team/app:v1']);
    expect((await store.untag('app'))?.digest).toBe(b.manifest.digest);
    expect(await store.untag('app')).toBeUndefined();
    expect((await store.listTags()).map((x) => x.name)).toEqual(['localhost:5000/team/app:v1']);
  });

  it('keeps the index in byte order of the names, whatever the locale (no collator)', async () => {
    const store = await Store.open(tmp);
    const a = await putImage(store, 'a');
    // A locale's collation puts `app:a` first; bytes put `B` (66) before `a` (97).
    for (const n of ['app:a', 'app:B', 'app:_', 'app:9']) await store.tag(n, a.manifest);
    const idx = JSON.parse(await fs.readFile(path.join(store.root, 'index.json'), 'utf8'));
    expect(idx.manifests.map((d: { annotations: Record<string, string> }) => d.annotations['org.opencontainers.image.ref.name'])).toEqual(['app:9', 'app:B', 'app:_', 'app:a']);
  });

  it('refuses tags pointing at missing content, bad names and non-manifests', async () => {
    const store = await Store.open(tmp);
    const a = await putImage(store, 'a');
    await fs.rm(store.blobPath(a.layer.digest));
    const e = await expectCode(store.tag('app', a.manifest), 'BLOB_NOT_FOUND');
    expect(e.message).toContain(a.layer.digest);
    await expectCode(store.tag('app', { ...a.config }), 'MANIFEST_INVALID');
    await expectCode(store.tag('Bad:Name!', a.manifest), 'REFERENCE_INVALID');
    await expectCode(store.tag(`app@${a.manifest.digest}`, a.manifest), 'REFERENCE_INVALID');
    await expectCode(store.tag('app', { ...a.manifest, digest: sha256('absent') }), 'BLOB_NOT_FOUND');
    expect(await store.listTags()).toEqual([]);
  });

  it('lists images with size, created and platforms; indexes count each blob once', async () => {
    const store = await Store.open(tmp);
    const a = await putImage(store, 'a', '2024-01-01T00:00:00Z', 'amd64');
    const b = await putImage(store, 'b', '2024-02-01T00:00:00Z', 'arm64');
    const index = createIndex([a.manifest, b.manifest]);
    await store.writeBlob(index.bytes);
    await store.tag('single', a.manifest);
    await store.tag('multi:1', index.descriptor);
    const rows = await listImages(store);
    expect(rows.map((r) => r.name)).toEqual(['multi:1', 'single']);
    const sizeA = a.manifest.size + a.config.size + a.layer.size;
    const sizeB = b.manifest.size + b.config.size + b.layer.size;
    expect(rows[0]).toMatchObject({ digest: index.descriptor.digest, size: index.descriptor.size + sizeA + sizeB, created: '2024-02-01T00:00:00Z', platforms: ['linux/amd64', 'linux/arm64'] });
    expect(rows[1]).toMatchObject({ digest: a.manifest.digest, size: sizeA, created: '2024-01-01T00:00:00Z', platforms: ['linux/amd64'], fullName: 'docker.io/library/single:latest' });
  });

  it('is readable by skopeo and umoci', async () => {
    const store = await Store.open(tmp);
    const a = await putImage(store, 'a');
    await store.tag('app:1.0', a.manifest);
    await store.tag('localhost:5000/x/y:z', a.manifest);
    const { stdout } = await execFile('skopeo', ['inspect', '--raw', `oci:${store.root}:app:1.0`]);
    expect(sha256(stdout)).toBe(a.manifest.digest);
    const cfg = JSON.parse((await execFile('skopeo', ['inspect', '--config', `oci:${store.root}:localhost:5000/x/y:z`])).stdout);
    expect(cfg.rootfs.diff_ids).toEqual([a.diffId]);
    const ls = (await execFile('umoci', ['ls', '--layout', store.root])).stdout.trim().split('\n').sort();
    expect(ls).toEqual(['app:1.0', 'localhost:5000/x/y:z']);
  });
});

describe('step cache', () => {
  it('put/get round trip; a partial or dangling entry is a miss', async () => {
    const store = await Store.open(tmp);
    const key = sha256('step 1');
    expect(await store.getStep(key)).toBeUndefined();
    const layer = await store.writeBlob('layer bytes');
    const record: StepRecord<{ env: string[] }> = {
      layer: { mediaType: MediaType.ociLayerGzip, ...layer, diffId: sha256('diff') },
      configChange: { env: ['A=1'] },
      created: '2024-01-01T00:00:00Z',
    };
    await store.putStep(key, record);
    expect(await store.getStep(key)).toEqual(record);
    expect(await store.getStep(key.slice(7))).toEqual(record);
    await store.putStep(sha256('meta'), { configChange: { cmd: ['x'] }, created: '2024-01-01T00:00:00Z' });
    expect(await store.getStep(sha256('meta'))).toEqual({ configChange: { cmd: ['x'] }, created: '2024-01-01T00:00:00Z' });

    await expectCode(store.putStep(sha256('s2'), { ...record, layer: { ...record.layer!, digest: sha256('missing') } }), 'BLOB_NOT_FOUND');
    await expectCode(store.getStep('not-a-key'), 'DIGEST_INVALID');

    // Truncated entry: a miss, and removed.
    const file = path.join(store.root, 'steps', `${key.slice(7)}.json`);
    const text = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, text.slice(0, 20));
    expect(await store.getStep(key)).toBeUndefined();
    await expect(fs.access(file)).rejects.toThrow();

    // Layer gone: a miss.
    await store.putStep(key, record);
    await fs.rm(store.blobPath(layer.digest));
    expect(await store.getStep(key)).toBeUndefined();
  });

  it('ensureUnpacked fills a tree once, atomically', async () => {
    const store = await Store.open(tmp);
    const id = sha256('tree');
    let calls = 0;
    const fill = async (dir: string) => {
      calls++;
      await fs.writeFile(path.join(dir, 'f'), 'content');
    };
    const [a, b] = await Promise.all([store.ensureUnpacked(id, fill), store.ensureUnpacked(id, fill)]);
    expect(a).toBe(store.unpackedDir(id));
    expect(b).toBe(a);
    expect(await fs.readdir(a)).toEqual(['f']);
    await store.ensureUnpacked(id, fill);
    expect(calls).toBeLessThanOrEqual(2);
    // A failing fill leaves neither a tree nor a temp directory.
    const other = sha256('other tree');
    await expect(store.ensureUnpacked(other, async (dir) => {
      await fs.writeFile(path.join(dir, 'half'), 'x');
      throw new Error('extraction failed');
    })).rejects.toThrow('extraction failed');
    await expect(fs.access(store.unpackedDir(other))).rejects.toThrow();
    expect(await tmpFiles(store)).toEqual([]);
  });

  it('unpackedDir is keyed by diffId inside the store', async () => {
    const store = await Store.open(tmp);
    expect(store.unpackedDir(sha256('x'))).toBe(path.join(store.root, 'unpacked', 'sha256', sha256('x').slice(7)));
    const t = await store.tempDir('unpack');
    expect(path.dirname(t)).toBe(path.join(store.root, 'tmp'));
  });
});

describe('prune', () => {
  /** A store whose clock we control; files get mtimes relative to it. */
  async function clockStore() {
    let now = Date.now();
    const store = await Store.open(tmp, { now: () => now });
    return { store, advance: (ms: number) => (now += ms), at: () => now };
  }
  async function age(file: string, ms: number, now: number) {
    const t = new Date(now - ms);
    await fs.utimes(file, t, t);
  }

  it('removes a layer header index with its blob, and keeps the index of a kept blob', async () => {
    const { store, at } = await clockStore();
    const tagged = await putImage(store, 'tagged');
    await store.tag('keep', tagged.manifest);
    const orphan = await putImage(store, 'orphan');
    const entries = [['a', 'file', 420, 0, 0, 0, null, 1]];
    await store.writeLayerIndex(tagged.layer.digest, sha256('t diff'), entries);
    await store.writeLayerIndex(orphan.layer.digest, sha256('o diff'), entries);
    await store.writeLayerIndex(sha256('no such blob'), sha256('n diff'), entries);
    for (const d of [tagged, orphan]) for (const b of [d.manifest, d.config, d.layer]) await age(store.blobPath(b.digest), 3_600_000, at());
    await store.prune();
    expect(await store.readLayerIndex(tagged.layer.digest, sha256('t diff'))).toEqual(entries);
    expect(await store.readLayerIndex(orphan.layer.digest, sha256('o diff'))).toBeUndefined();
    expect(await store.readLayerIndex(sha256('no such blob'), sha256('n diff'))).toBeUndefined();
    // An index answers only for the diffId it was recorded with.
    expect(await store.readLayerIndex(tagged.layer.digest, sha256('o diff'))).toBeUndefined();
  });

  it('never removes a temp entry its process still uses, however long it has not changed (a long RUN beside a prune)', async () => {
    const store = await Store.open(tmp);
    const work = await store.tempDir('run'); // a step's sandbox: nothing is added to it for an hour
    const writer = await store.createWriter(); // a blob waiting on its source for an hour
    writer.stream.write('the first bytes');
    const dropped = path.join(store.root, 'tmp', `run-${processOwner()}-999999-0123456789abcdef`); // nobody keeps it
    await fs.mkdir(dropped);
    const names = await tmpFiles(store);
    expect(names).toHaveLength(3);
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const n of names) await fs.utimes(path.join(store.root, 'tmp', n), hourAgo, hourAgo);
    await touchTempInUse(); // what the heartbeat does every TEMP_HEARTBEAT_MS
    const r = await store.prune();
    expect(r.removedTemp).toBe(1);
    expect((await tmpFiles(store)).sort()).toEqual(names.filter((n) => path.join(store.root, 'tmp', n) !== dropped).sort());
    const info = await writer.commit();
    expect((await store.readBlob(info.digest)).toString()).toBe('the first bytes');
    // Moved into place or removed, an entry is forgotten (the heartbeat stops once none is left).
    await fs.rm(work, { recursive: true });
    await touchTempInUse();
    expect(await tmpFiles(store)).toEqual([]);
    // A tree of the store a RUN has as its lower dir: held by two steps, fresh until both let go.
    const tree = store.unpackedDir(sha256('a lower dir'));
    await fs.mkdir(tree, { recursive: true });
    const releases = [store.holdFresh(tree), store.holdFresh(tree)];
    const prunedAfter = async (release?: () => void) => {
      release?.();
      await fs.utimes(tree, hourAgo, hourAgo);
      await touchTempInUse();
      return (await store.prune()).removedUnpacked;
    };
    expect(await prunedAfter()).toBe(0);
    expect(await prunedAfter(releases[0])).toBe(0);
    releases[0]!(); // a second call of one release changes nothing
    expect(await prunedAfter()).toBe(0);
    expect(await prunedAfter(releases[1])).toBe(1);
  });

  it('keeps tagged content and referenced steps, removes the rest after the grace period', async () => {
    const { store, at } = await clockStore();
    const tagged = await putImage(store, 'tagged');
    await store.tag('keep', tagged.manifest);
    const orphan = await putImage(store, 'orphan');
    const stepLayer = await store.writeBlob('step layer');
    const diffId = sha256('step diff');
    await store.putStep(sha256('k1'), { layer: { mediaType: MediaType.ociLayerGzip, ...stepLayer, diffId }, configChange: null, created: 'x' });
    await fs.mkdir(store.unpackedDir(diffId), { recursive: true });
    await fs.mkdir(store.unpackedDir(sha256('orphan tree')), { recursive: true });
    await fs.writeFile(path.join(store.unpackedDir(sha256('orphan tree')), 'f'), 'data');
    await fs.writeFile(path.join(store.root, 'tmp', 'blob-dead'), 'partial');

    // Everything is fresh: nothing goes.
    let r = await store.prune();
    expect(r).toMatchObject({ removedBlobs: 0, removedSteps: 0, removedUnpacked: 0, removedTemp: 0 });

    // Age everything beyond the grace period.
    for (const d of [tagged, orphan]) for (const b of [d.manifest, d.config, d.layer]) await age(store.blobPath(b.digest), 3_600_000, at());
    await age(store.blobPath(stepLayer.digest), 3_600_000, at());
    await age(store.unpackedDir(sha256('orphan tree')), 3_600_000, at());
    await age(path.join(store.root, 'tmp', 'blob-dead'), 3_600_000, at());
    r = await store.prune();
    expect(r).toMatchObject({ removedBlobs: 3, removedSteps: 0, removedUnpacked: 1, removedTemp: 1 });
    expect(r.freedBytes).toBe(orphan.manifest.size + orphan.config.size + orphan.layer.size + 4 + 'partial'.length);
    for (const b of [tagged.manifest, tagged.config, tagged.layer, stepLayer]) expect(await store.has(b.digest)).toBe(true);
    expect(await store.getStep(sha256('k1'))).toBeDefined();
    await expect(fs.access(store.unpackedDir(diffId))).resolves.toBeUndefined();

    // --all drops the step cache, and with it the step layer (once old enough).
    await age(store.blobPath(stepLayer.digest), 3_600_000, at());
    await age(store.unpackedDir(diffId), 3_600_000, at());
    r = await pruneStore(store, { all: true });
    expect(r).toMatchObject({ removedBlobs: 1, removedSteps: 1, removedUnpacked: 1 });
    expect(await store.has(tagged.layer.digest)).toBe(true);
    expect((await store.resolve('keep'))?.digest).toBe(tagged.manifest.digest);
  });

  it('--older-than drops steps unused for that long; --keep-storage drops least recently used first', async () => {
    const { store, at } = await clockStore();
    const layers: Descriptor[] = [];
    for (let i = 0; i < 4; i++) {
      const l = await store.writeBlob(Buffer.alloc(1000, i));
      layers.push({ mediaType: MediaType.ociLayerGzip, ...l });
      await store.putStep(sha256(`k${i}`), { layer: { ...layers[i]!, diffId: sha256(`d${i}`) }, configChange: i, created: 'x' });
      await age(store.blobPath(l.digest), 3_600_000, at());
      // k0 used 4 days ago ... k3 used 1 day ago
      await age(path.join(store.root, 'steps', `${sha256(`k${i}`).slice(7)}.json`), (4 - i) * 86_400_000, at());
    }
    let r = await pruneStore(store, { olderThan: '60h' });
    expect(r).toMatchObject({ removedSteps: 2, removedBlobs: 2, freedBytes: 2000, remainingBytes: 2000 });
    expect(await store.getStep(sha256('k1'))).toBeUndefined();
    // k2 is now the least recently used (getStep on k3 refreshes it).
    expect(await store.getStep(sha256('k3'))).toBeDefined();
    await age(store.blobPath(layers[3]!.digest), 3_600_000, at());
    r = await pruneStore(store, { keepStorage: '1500' });
    expect(r).toMatchObject({ removedSteps: 1, removedBlobs: 1, remainingBytes: 1000 });
    expect(await store.getStep(sha256('k3'))).toBeDefined();
    expect(await store.has(layers[2]!.digest)).toBe(false);
    await expectCode(pruneStore(store, { olderThan: '3 days' }), 'USAGE');
  });

  it('rmi untags (all names of a digest) and collects what became unreferenced', async () => {
    const store = await Store.open(tmp);
    const a = await putImage(store, 'a');
    await store.tag('one', a.manifest);
    await store.tag('two', a.manifest);
    await expectCode(removeImages(store, ['one', 'nope']), 'IMAGE_NOT_FOUND');
    expect(await store.listTags()).toHaveLength(2);
    const r = await removeImages(store, [a.manifest.digest], { gracePeriodMs: 0 });
    expect(r.untagged.map((u) => u.name).sort()).toEqual(['one', 'two']);
    expect(r.pruned).toMatchObject({ removedBlobs: 3 });
    expect(await store.has(a.manifest.digest)).toBe(false);
  });
});

describe('locking', () => {
  it('breaks a lock left by a dead process, times out on a live one', async () => {
    const lockFile = path.join(tmp, 'l.lock');
    // A pid that cannot be running: spawn and wait for a process to exit.
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.on('exit', r));
    await fs.writeFile(lockFile, JSON.stringify({ pid: child.pid, host: os.hostname(), nonce: 'dead', time: 0 }));
    const lock = await acquireLock(lockFile, { timeoutMs: 2000 });
    const err = await expectCode(acquireLock(lockFile, { timeoutMs: 200 }), 'STORE_LOCKED');
    expect(err.message).toContain(lockFile);
    await lock.release();
    const again = await acquireLock(lockFile, { timeoutMs: 200 });
    await again.release();
    await expect(fs.access(lockFile)).rejects.toThrow();
  });

  it('does not break a lock of another pid namespace by its pid, only when it goes stale', async () => {
    // A container sharing the store: the same host name (--network host), a pid that is dead here.
    const lockFile = path.join(tmp, 'o.lock');
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.on('exit', r));
    const other = processOwner() === '00000000' ? 'ffffffff' : '00000000';
    await fs.writeFile(lockFile, JSON.stringify({ pid: child.pid, host: os.hostname(), owner: other, nonce: 'theirs', time: Date.now() }));
    await expectCode(acquireLock(lockFile, { timeoutMs: 300, staleMs: 60_000 }), 'STORE_LOCKED');
    // Not refreshed for staleMs: broken as any stale lock.
    const past = new Date(Date.now() - 120_000);
    await fs.utimes(lockFile, past, past);
    const lock = await acquireLock(lockFile, { timeoutMs: 1000, staleMs: 60_000 });
    expect(JSON.parse(await fs.readFile(lockFile, 'utf8'))).toMatchObject({ pid: process.pid, owner: processOwner() });
    await lock.release();
  });

  it('breaks a lock whose file was not refreshed within staleMs', async () => {
    const lockFile = path.join(tmp, 'l.lock');
    await fs.writeFile(lockFile, JSON.stringify({ pid: process.pid, host: 'another-host', nonce: 'old', time: 0 }));
    const past = new Date(Date.now() - 60_000);
    await fs.utimes(lockFile, past, past);
    const lock = await acquireLock(lockFile, { timeoutMs: 1000, staleMs: 5000 });
    await lock.release();
  });
});

/** Transpile the modules the child process needs into plain ESM (no loader needed in the child). */
async function transpileForChild(dir: string): Promise<string> {
  // store.ts and everything it imports, found by following relative imports (a list by hand goes stale)
  const files: string[] = [];
  const queue = ['src/cache/store.ts', 'src/image/manifest.ts']; // the store no longer imports src/image; the child does
  while (queue.length > 0) {
    const f = queue.shift()!;
    if (files.includes(f)) continue;
    files.push(f);
    const src = await fs.readFile(path.join(repoRoot, f), 'utf8');
    for (const m of src.matchAll(/(?:from|import)\s+'(\.{1,2}\/[^']+)\.js'/g)) {
      queue.push(path.posix.join(path.posix.dirname(f), `${m[1]}.ts`));
    }
    const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText;
    const dest = path.join(dir, f.replace(/\.ts$/, '.js'));
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.writeFile(dest, out);
  }
  await fs.writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
  await fs.writeFile(path.join(dir, 'child.js'), `
import { Store } from './src/cache/store.js';
import { createConfigBlob, createManifest } from './src/image/manifest.js';
const [root, who, count] = process.argv.slice(2);
const store = await Store.open(root, { lock: { timeoutMs: 60000 } });
for (let i = 0; i < Number(count); i++) {
  const layer = await store.writeBlob('layer ' + who + ' ' + i + ' ' + 'x'.repeat(i * 100));
  const cfg = createConfigBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } });
  await store.writeBlob(cfg.bytes);
  const m = createManifest(cfg.descriptor, [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }]);
  await store.writeBlob(m.bytes);
  await store.tag('img-' + who + ':' + i, m.descriptor);
  await store.tag('shared:' + (i % 5), m.descriptor);
}
`);
  return path.join(dir, 'child.js');
}

describe('two processes sharing a store', () => {
  it('keep index.json valid and complete', async () => {
    const child = await transpileForChild(path.join(tmp, 'child'));
    const root = path.join(tmp, 'store');
    await Store.open(root);
    const N = 40;
    const run = (who: string) =>
      new Promise<void>((resolve, reject) => {
        const p = spawn(process.execPath, [child, root, who, String(N)], { stdio: ['ignore', 'inherit', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child ${who} exited ${code}: ${err}`))));
      });
    await Promise.all([run('a'), run('b')]);
    const store = await Store.open(root);
    const tags = await store.listTags();
    const names = tags.map((t) => t.name).sort();
    const expected = [...['a', 'b'].flatMap((w) => Array.from({ length: N }, (_, i) => `img-${w}:${i}`)), ...Array.from({ length: 5 }, (_, i) => `shared:${i}`)].sort();
    expect(names).toEqual(expected);
    // Every tag points at complete content.
    for (const t of tags) expect(await store.has(t.descriptor.digest)).toBe(true);
    expect(await fs.readdir(path.join(root, 'tmp'))).toEqual([]);
    expect(await fs.readdir(path.join(root, 'locks'))).toEqual([]);
    const { stdout } = await execFile('umoci', ['ls', '--layout', root]);
    expect(stdout.trim().split('\n')).toHaveLength(expected.length);
  });

  it('a process in another pid namespace (a container sharing the store) leaves this one\'s temp entries alone', async () => {
    // Needs user namespaces (unshare -Urp): skipped loudly without them, fails on CI.
    const probe = await execFile('unshare', ['-Urp', '--fork', 'true']).then(
      () => undefined,
      (e: Error) => e.message.split('\n')[0],
    );
    if (probe !== undefined) {
      if (process.env.CI === 'true') throw new Error(`user and pid namespaces are needed on CI: ${probe}`);
      console.warn(`SKIPPED: a store opened from another pid namespace: unshare -Urp failed (${probe})`);
      return;
    }
    const child = await transpileForChild(path.join(tmp, 'child'));
    const root = path.join(tmp, 'store');
    const store = await Store.open(root);
    // This process runs; in the child's pid namespace its pid names nothing (or another process).
    const mine = await store.tempDir('build');
    await fs.writeFile(path.join(mine, 'work'), 'in progress');
    await execFile('unshare', ['-Urp', '--fork', process.execPath, child, root, 'ns', '1']);
    expect(await fs.readFile(path.join(mine, 'work'), 'utf8')).toBe('in progress');
    expect(await store.resolve('img-ns:0')).toBeDefined(); // the child did open the store and write
  });

  it('a prune running beside a build never removes what the build just wrote', async () => {
    const child = await transpileForChild(path.join(tmp, 'child'));
    const root = path.join(tmp, 'store');
    const store = await Store.open(root);
    // Old garbage the prunes may collect.
    const junk = await store.writeBlob('old junk');
    const past = new Date(Date.now() - 3_600_000);
    await fs.utimes(store.blobPath(junk.digest), past, past);
    const N = 30;
    const build = new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, [child, root, 'p', String(N)], { stdio: ['ignore', 'inherit', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}: ${err}`))));
    });
    let done = false;
    let prunes = 0;
    void build.finally(() => (done = true)).catch(() => undefined);
    while (!done) {
      await store.prune({ all: true, gracePeriodMs: 60_000 });
      prunes++;
      await new Promise((r) => setTimeout(r, 30)); // let the builder take the lock
    }
    await build;
    expect(prunes).toBeGreaterThan(1);
    expect(await store.has(junk.digest)).toBe(false);
    const tags = await store.listTags();
    expect(tags).toHaveLength(N + 5);
    for (const t of tags) {
      const m = JSON.parse((await store.readBlob(t.descriptor.digest)).toString()) as { config: Descriptor; layers: Descriptor[] };
      for (const d of [m.config, ...m.layers]) expect(await store.has(d.digest)).toBe(true);
    }
  });
});

describe('blob writes', () => {
  it('a blob streamed in many small chunks is written byte-exact in a few system calls (chunks queued meanwhile go in one writev)', async () => {
    const store = await Store.open(tmp);
    const chunks = Array.from({ length: 512 }, (_, i) => Buffer.alloc(32 * 1024, i % 251));
    const probe = await fs.open(path.join(tmp, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown>; writev: (...a: unknown[]) => Promise<unknown> };
    await probe.close();
    const calls = { write: 0, writev: 0 };
    const { write, writev } = proto;
    proto.write = function (this: unknown, ...a: unknown[]) {
      calls.write++;
      return write.apply(this, a);
    };
    proto.writev = function (this: unknown, ...a: unknown[]) {
      calls.writev++;
      return writev.apply(this, a);
    };
    let info;
    try {
      const w = await store.createWriter();
      for (const c of chunks) w.stream.write(c);
      info = await w.commit(sha256(Buffer.concat(chunks)));
    } finally {
      proto.write = write;
      proto.writev = writev;
    }
    expect(info.size).toBe(512 * 32 * 1024);
    expect((await store.readBlob(info.digest, 64 * 1024 * 1024)).equals(Buffer.concat(chunks))).toBe(true);
    // 16 MiB arrive faster than they are written: far fewer calls than the 512 chunks.
    expect(calls.write + calls.writev).toBeLessThan(32);
  });
});
