// Part of `npm run build` (and of the tests' ensureDist): bundles the compiled CLI
// (dist/cli/main.js and the ~180 modules it imports) into one CommonJS file,
// dist/cli/main.bundle-<stamp>.cjs, with esbuild, and makes its V8 code cache
// (`.cache`) by running a warm build with it once. Compiling one file from its
// code cache instead of resolving, linking and compiling ~230 modules takes
// ~0.15 s off every command that builds (issue 8: a warm rebuild is mostly
// start-up). <stamp> is main.js's mtime in nanoseconds: bin/ocibuild runs the
// bundle only when it was made from the main.js that is there now, so a dist/
// recompiled without bundling runs as compiled, never stale (src/cli/entry.ts).
//
// Left out of the bundle, loaded from node_modules when a command needs it:
// undici (ADD <url> only); nearley and moo are required at run time by the
// parser already.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '../dist/cli');
const main = path.join(dist, 'main.js');
const stamp = statSync(main, { bigint: true }).mtimeNs.toString();
const out = `main.bundle-${stamp}.cjs`;

for (const f of readdirSync(dist)) if (/^main\.bundle-\d+\.(mjs|cjs)(\.map|\.cache)?$/.test(f) && !f.startsWith(out)) rmSync(path.join(dist, f), { force: true });

const result = await build({
  entryPoints: [main],
  outfile: path.join(dist, out),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['undici'],
  // CommonJS has no import.meta: the four uses (package.json, the help snapshot, require of
  // nearley and moo) resolve from dist/cli/, where the bundle sits beside main.js.
  define: { 'import.meta.url': '__ocibuildImportMetaUrl' },
  banner: { js: "var __ocibuildImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  // import('undici') as a require (a vm.Script has no ES module loader).
  supported: { 'dynamic-import': false },
  // Whitespace and syntax only (names kept, so messages and stack frames still read).
  minifyWhitespace: true,
  minifySyntax: true,
  // `node --enable-source-maps` maps stack frames back to dist/.
  sourcemap: 'linked',
  // string-width without its Intl.Segmenter at load (scripts/bundle-shims/string-width.mjs).
  plugins: [
    {
      name: 'ocibuild-shims',
      setup(b) {
        b.onResolve({ filter: /^string-width$/ }, () => ({ path: path.join(here, 'bundle-shims/string-width.mjs') }));
      },
    },
  ],
  logLevel: 'warning',
  legalComments: 'none',
});
const bundle = path.join(dist, out);
const fail = (why) => {
  for (const f of [bundle, `${bundle}.map`, `${bundle}.cache`]) rmSync(f, { force: true });
  console.error(`bundle: ${why}; the CLI runs unbundled`);
  process.exit(1);
};
if (result.errors.length > 0 || result.warnings.length > 0) fail('esbuild reported problems');

// The code cache: a build of a small context through the bundle, then V8's cache of every
// function it compiled (what a build runs, not only the top level).
const work = mkdtempSync(path.join(os.tmpdir(), 'ocibuild-bundle-'));
try {
  writeFileSync(path.join(work, 'Dockerfile'), 'FROM scratch\nCOPY . /data\n');
  writeFileSync(path.join(work, 'a.txt'), 'a\n');
  const script = `
    const { loadBundle } = await import(${JSON.stringify(path.join(dist, 'entry.js'))});
    const { createHash } = await import('node:crypto');
    const fs = await import('node:fs');
    const file = ${JSON.stringify(bundle)};
    const { main, script } = loadBundle(file, false);
    const io = { stdout: { write: () => true }, stderr: { write: (s) => process.stderr.write(s) }, env: {}, cwd: ${JSON.stringify(work)}, readStdin: async () => '' };
    const code = await main(['build', '-q', '--store', ${JSON.stringify(path.join(work, 'store'))}, '-t', 'bundle:warm', ${JSON.stringify(work)}], io);
    if (code !== 0) throw new Error('the warm-up build exited with ' + code);
    const digest = createHash('sha256').update(fs.readFileSync(file, 'utf8')).digest();
    fs.writeFileSync(file + '.cache', Buffer.concat([digest, script.createCachedData()]));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: work } });
  if (r.status !== 0) fail(`the code cache could not be made: ${r.stderr.trim()}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
