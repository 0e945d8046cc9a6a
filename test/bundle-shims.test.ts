/**
 * The bundle's string-width (scripts/bundle-shims/string-width.mjs) against the package it stands
 * in for, on the kinds of text a terminal shows: the same widths.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './dist.js';

const SAMPLES = [
  '',
  'ocibuild build [PATH]',
  '  --no-cache  Do not use the cache when building the image  [boolean]',
  '\u001b[31mred\u001b[39m and plain',
  'tab\there',
  '日本語のテキスト',
  'café, naïve, Ωmega',
  'emoji 👍🏽 and 👨‍👩‍👧 family',
  'e\u0301 combining',
  '\u200bzero\u200dwidth',
  'ｆｕｌｌｗｉｄｔｈ',
];

describe('bundle shims', () => {
  it('string-width: the same widths as the package, ANSI codes not counted unless asked', async () => {
    const shim = ((await import(pathToFileURL(path.join(repoRoot, 'scripts/bundle-shims/string-width.mjs')).href)) as { default: (s: string, o?: object) => number }).default;
    const real = ((await import('string-width')) as { default: (s: string, o?: object) => number }).default;
    for (const s of SAMPLES) {
      expect([s, shim(s)]).toEqual([s, real(s)]);
      expect([s, shim(s, { countAnsiEscapeCodes: true })]).toEqual([s, real(s, { countAnsiEscapeCodes: true })]);
      expect([s, shim(s, { ambiguousIsNarrow: false })]).toEqual([s, real(s, { ambiguousIsNarrow: false })]);
    }
  });
});
