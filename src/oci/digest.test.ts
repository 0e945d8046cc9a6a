import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { DigestStream, VerifyStream, parseDigest, sha256 } from './digest.js';
import { OcibuildError } from '../errors.js';

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

describe('digest', () => {
  it('hashes what streams through, equal to sha256() of the bytes', async () => {
    const d = new DigestStream();
    await pipeline(Readable.from([Buffer.from('hello '), Buffer.from('world')]), d, sink());
    expect(d.digest).toBe(sha256('hello world'));
    expect(d.digest).toBe('sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9');
    expect(d.size).toBe(11);
  });

  it('rejects malformed digests', () => {
    expect(() => parseDigest('sha256:abc')).toThrow(OcibuildError);
    expect(() => parseDigest('SHA256:' + 'a'.repeat(64))).toThrow(/invalid digest/);
  });

  it('VerifyStream fails on a wrong digest and on a wrong size', async () => {
    const good = sha256('abc');
    await pipeline(Readable.from([Buffer.from('abc')]), new VerifyStream(good, 3), sink());
    await expect(pipeline(Readable.from([Buffer.from('abd')]), new VerifyStream(good, 3), sink())).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(pipeline(Readable.from([Buffer.from('abcd')]), new VerifyStream(good, 3), sink())).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    await expect(pipeline(Readable.from([Buffer.from('ab')]), new VerifyStream(good, 3), sink())).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
  });
});
