/** One line of Go encoding/csv (comma separated, `"` quoting with `""` escapes). */

/** A CSV syntax error (Go's message text). */
export class CsvError extends Error {}

/** Split one CSV record into fields, as Go's csv.Reader.Read does for a single line. */
export function parseCsvLine(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  const col = (n: number) => n + 1;
  for (;;) {
    if (line[i] === '"') {
      // quoted field
      let j = i + 1;
      let value = '';
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) throw new CsvError(`parse error on line 1, column ${col(line.length)}: extraneous or missing " in quoted-field`);
        value += line.slice(j, q);
        if (line[q + 1] === '"') {
          value += '"';
          j = q + 2;
          continue;
        }
        if (q + 1 === line.length || line[q + 1] === ',') {
          fields.push(value);
          i = q + 1;
          break;
        }
        throw new CsvError(`parse error on line 1, column ${col(q + 1)}: extraneous or missing " in quoted-field`);
      }
    } else {
      const c = line.indexOf(',', i);
      const end = c < 0 ? line.length : c;
      const value = line.slice(i, end);
      const bare = value.indexOf('"');
      if (bare >= 0) throw new CsvError(`parse error on line 1, column ${col(i + bare)}: bare " in non-quoted-field`);
      fields.push(value);
      i = end;
    }
    if (i >= line.length) break;
    i++; // skip the comma
    if (i === line.length) {
      fields.push('');
      break;
    }
  }
  return fields;
}
