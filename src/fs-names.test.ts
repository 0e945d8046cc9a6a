import { randomBytes } from 'node:crypto';
import { decodeFsName, encodeFsName, fsPath, hasEscapedBytes } from './fs-names.js';

describe('fs-names (issue 7: file names are bytes)', () => {
  it('decodes valid UTF-8 as usual and round-trips every byte string', () => {
    expect(decodeFsName(Buffer.from('héllo/wörld 🎉'))).toBe('héllo/wörld 🎉');
    expect(hasEscapedBytes('héllo 🎉')).toBe(false);
    for (const b of [Buffer.from([0xff]), Buffer.from([0x61, 0xc3]), Buffer.from([0xed, 0xb2, 0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xf4, 0x90, 0x80, 0x80])]) {
      const s = decodeFsName(b);
      expect(hasEscapedBytes(s)).toBe(true);
      expect(encodeFsName(s).equals(b)).toBe(true);
    }
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(1 + (i % 12));
      expect(encodeFsName(decodeFsName(b)).equals(b)).toBe(true);
    }
  });

  it('keeps different invalid names different, and gives fs the bytes', () => {
    expect(decodeFsName(Buffer.from([0x61, 0xff]))).not.toBe(decodeFsName(Buffer.from([0x61, 0xfe])));
    expect(fsPath('/plain/path')).toBe('/plain/path');
    expect(fsPath(decodeFsName(Buffer.from([0x2f, 0x61, 0xff])))).toEqual(Buffer.from([0x2f, 0x61, 0xff]));
  });
});
