// `string-width` as the bundled CLI sees it (scripts/bundle.mjs): the columns a string takes in a
// terminal. The package makes an Intl.Segmenter when its module loads (~20 ms of ICU data at every
// start, and yargs and cliui each import a copy); here it is made on the first string that is not
// plain ASCII. The bundle's yargs renders no help (main.js answers --help), so this only measures
// the odd message; the same rules: ANSI codes do not count, zero-width clusters are 0, RGI emoji 2,
// else the East Asian width of the cluster's first code point.
import { stripVTControlCharacters } from 'node:util';
import { eastAsianWidth } from 'get-east-asian-width';

// The Unicode property classes are made with the segmenter too: V8 builds a `v`-flag literal's
// sets of strings (\p{RGI_Emoji}) when the module body runs, ~14 ms of every start (issue 8).
let segmenter;
let ZERO_WIDTH;
let RGI_EMOJI;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

export default function stringWidth(input, options = {}) {
  if (typeof input !== 'string' || input.length === 0) return 0;
  const { ambiguousIsNarrow = true, countAnsiEscapeCodes = false } = options;
  const text = countAnsiEscapeCodes ? input : stripVTControlCharacters(input);
  if (PRINTABLE_ASCII.test(text)) return text.length;
  if (segmenter === undefined) {
    segmenter = new Intl.Segmenter();
    ZERO_WIDTH = new RegExp('^[\\p{Default_Ignorable_Code_Point}\\p{Control}\\p{Format}\\p{Mark}\\p{Surrogate}]+$', 'v');
    RGI_EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');
  }
  let width = 0;
  for (const { segment } of segmenter.segment(text)) {
    if (ZERO_WIDTH.test(segment)) continue;
    if (RGI_EMOJI.test(segment)) {
      width += 2;
      continue;
    }
    width += eastAsianWidth(segment.codePointAt(0), { ambiguousAsWide: !ambiguousIsNarrow });
  }
  return width;
}
