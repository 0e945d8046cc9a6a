import { randomBytes } from 'node:crypto';
import { compareFsNames, decodeFsName, encodeFsName, fsPath, hasEscapedBytes } from './fs-names.js';

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

  it('compareFsNames orders names as the bytes of their encodings (issue 8: sorts without encoding)', () => {
    const pieces = ['a', 'b', '/', '-', '.', 'é', 'ü', '🎉', '\uffff', '\ue000', 'z'];
    const names: string[] = [];
    for (let i = 0; i < 400; i++) {
      const bytes = randomBytes(1 + (i % 6));
      // Mix: decoded random bytes (escapes, valid multi-byte), and strings of common pieces.
      names.push(decodeFsName(bytes), pieces[i % pieces.length]! + decodeFsName(bytes), pieces.slice(0, i % pieces.length).join(''));
    }
    const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);
    for (let i = 0; i < names.length; i++) {
      for (let j = i; j < Math.min(names.length, i + 40); j++) {
        const a = names[i]!;
        const b = names[j]!;
        expect([a, b, sign(compareFsNames(a, b))]).toEqual([a, b, sign(Buffer.compare(encodeFsName(a), encodeFsName(b)))]);
      }
    }
  });
});

