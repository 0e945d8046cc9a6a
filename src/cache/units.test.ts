import { formatSize, parseDuration, parseSize } from './units.js';

describe('parseSize (go-units RAMInBytes, as docker --keep-storage)', () => {
  it.each([
    ['0', 0],
    ['512', 512],
    ['1k', 1024],
    ['1KB', 1024],
    ['1KiB', 1024],
    ['10GB', 10 * 1024 ** 3],
    ['10g', 10 * 1024 ** 3],
    ['1.5m', 1.5 * 1024 ** 2],
    ['2 MB', 2 * 1024 ** 2],
    ['1T', 1024 ** 4],
    ['100b', 100],
  ])('%s = %d', (text, bytes) => expect(parseSize(text)).toBe(bytes));
  it.each(['', 'GB', '-1GB', '10XB', '1e3', '10 G B', 'ten'])('rejects %j', (text) => {
    expect(() => parseSize(text)).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('parseDuration (Go time.ParseDuration, plus d and w)', () => {
  it.each([
    ['0', 0],
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['90s', 90_000],
    ['300ms', 300],
    ['2h45m10.5s', 9_910_500],
    ['7d', 604_800_000],
    ['1w', 604_800_000],
    ['1500us', 2],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '24', 'h', '-1h', '1 h', '1y', '3 days', '1h-30m'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0B'],
    [999, '999B'],
    [1000, '1kB'],
    [1234, '1.23kB'],
    [56_700_000, '56.7MB'],
    [123_456_789, '123MB'],
    [5_000_000_000, '5GB'],
  ])('%d → %s', (n, s) => expect(formatSize(n)).toBe(s));
});
