/**
 * The bundle's string-width (scripts/bundle-shims/string-width.mjs) against the package it stands
 * in for, on the kinds of text a terminal shows: the same widths.
 */
import { readFileSync } from 'node:fs';
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

  it('string-width builds its Unicode property classes on the first string that is not plain ASCII, not when it loads', () => {
    // A `v`-flag literal with \p{RGI_Emoji} costs ~14 ms of every start where the module body runs
    // (issue 8); made with `new RegExp` next to the segmenter, it is paid only by such a string.
    const source = readFileSync(path.join(repoRoot, 'scripts/bundle-shims/string-width.mjs'), 'utf8');
    const code = source.replace(/^\s*\/\/.*$/gm, '');
    expect(code.match(/\/[^/\n]*\\p\{[^/\n]*\/[a-z]*v[a-z]*/g) ?? []).toEqual([]);
    expect(code).toMatch(/new RegExp\('\^\\\\p\{RGI_Emoji\}\$', 'v'\)/);
  });

  it("assert: yargs' strictEqual and notStrictEqual throw where node:assert's do (ERR_ASSERTION, with the message given)", async () => {
    type Check = (a: unknown, b: unknown, message?: string) => void;
    const shim = (await import(pathToFileURL(path.join(repoRoot, 'scripts/bundle-shims/assert.mjs')).href)) as { strictEqual: Check; notStrictEqual: Check };
    const real = (await import('node:assert')) as unknown as { strictEqual: Check; notStrictEqual: Check };
    const outcome = (f: () => void) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return `${(e as { code?: string }).code} ${(e as Error).message.startsWith('why') ? 'why' : ''}`;
      }
    };
    const pairs: [unknown, unknown][] = [[1, 1], [1, '1'], [undefined, undefined], [NaN, NaN], [0, -0], [null, undefined], ['package.json', undefined], [true, true]];
    for (const [a, b] of pairs) {
      for (const k of ['strictEqual', 'notStrictEqual'] as const) {
        expect([k, a, b, outcome(() => shim[k](a, b, 'why'))]).toEqual([k, a, b, outcome(() => real[k](a, b, 'why'))]);
      }
    }
  });
});
