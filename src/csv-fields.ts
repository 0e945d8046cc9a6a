/**
 * The field lists of buildx-style flag values (`--output type=oci,dest=out`,
 * `--cache-to type=registry,ref=...`): split at commas, double quotes group,
 * `""` is a quote. A shared leaf (it imports nothing), so the output and the
 * cache flag parsers split alike.
 */

/** The fields of `text`, or undefined when a quote is left open. */
export function splitFields(text: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) return undefined;
  out.push(cur);
  return out;
}
