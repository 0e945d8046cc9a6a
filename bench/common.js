// Shared by the bench modules: the aligned table every module prints, and
// `--name value` options for a module run on its own.

/** The rows (arrays of cells, the first the header) as aligned lines. */
export function tableLines(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  '));
}

/** `--name value` from `argv` (default `def`). */
export function option(argv, name, def) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
}
