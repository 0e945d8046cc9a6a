// Part of `npm run build` (and of the tests' ensureDist): bundles the compiled CLI
// (dist/cli/main.js and the ~180 modules it imports) into one ES module,
// dist/cli/main.bundle-<stamp>.mjs, with esbuild. Loading one file instead of
// resolving and linking ~230 takes ~0.13 s off every command that builds
// (issue 8: a warm rebuild is mostly start-up). <stamp> is main.js's mtime in
// nanoseconds: bin/ocibuild runs the bundle only when it was made from the
// main.js that is there now, so a dist/ recompiled without bundling runs as
// compiled, never stale (src/cli/entry.ts).
//
// Left out of the bundle, loaded from node_modules when a command needs them:
// undici (ADD <url> only: an external imported statically anywhere would be
// hoisted to the bundle's top and load at start-up); nearley and moo are
// required at run time by the parser already.
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli');
const main = path.join(dist, 'main.js');
const stamp = statSync(main, { bigint: true }).mtimeNs.toString();
const out = `main.bundle-${stamp}.mjs`;

for (const f of readdirSync(dist)) if (/^main\.bundle-\d+\.mjs(\.map)?$/.test(f) && !f.startsWith(out)) rmSync(path.join(dist, f), { force: true });

const result = await build({
  entryPoints: [main],
  outfile: path.join(dist, out),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['undici'],
  // Bundled CommonJS (yargs' helpers) may call require: give the module one.
  banner: { js: "import { createRequire as __ocibuildCreateRequire } from 'node:module';\nconst require = __ocibuildCreateRequire(import.meta.url);" },
  // Whitespace and syntax only (names kept, so messages and stack frames still read): ~30% less
  // source to decode and compile at every start (measured: the import 124 ms against 140 ms).
  minifyWhitespace: true,
  minifySyntax: true,
  // `node --enable-source-maps` maps stack frames back to dist/ (OCIBUILD_DEBUG=1 shows them).
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
});
if (result.errors.length > 0 || result.warnings.length > 0) {
  rmSync(path.join(dist, out), { force: true });
  rmSync(path.join(dist, `${out}.map`), { force: true });
  console.error('bundle: esbuild reported problems; the CLI runs unbundled');
  process.exit(1);
}
