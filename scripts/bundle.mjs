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
// `push` and `pull` get a bundle of their own, registry-main.bundle-<stamp>.cjs
// (dist/cli/registry-main.js: the same CLI with only those two commands; a
// third of the size: no build engine, parser, RUN, compose or YAML), its cache
// made by a push and a pull of the warm-up build's image through an in-memory
// registry (scripts/warm-registry.mjs). Issue 8: a push or pull of a 43 MB image
// is ~0.4 s, and compiling the whole CLI was a tenth of it.
//
// Left out of the bundle, loaded from node_modules when a command needs it:
// undici (ADD <url> only); nearley and moo are required at run time by the
// parser already.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '../dist/cli');
const main = path.join(dist, 'main.js');
const stamp = statSync(main, { bigint: true }).mtimeNs.toString();
/** The bundles: the whole CLI, and push and pull alone. */
const ENTRIES = ['main', 'registry-main'];
/** Every file this script makes, by its name before `.bundle-`; older stamps of them are removed. */
const MADE = [...ENTRIES, 'entry'];
const outOf = (entry) => `${entry}.bundle-${stamp}.cjs`;

for (const f of readdirSync(dist)) {
  const m = /^([a-z-]+)\.bundle-\d+\.(mjs|cjs)(\.map|\.cache)?$/.exec(f);
  if (m && !(MADE.includes(m[1]) && f.startsWith(outOf(m[1])))) rmSync(path.join(dist, f), { force: true });
}

const bundles = ENTRIES.map((entry) => path.join(dist, outOf(entry)));

/** What every bundle here is: one CommonJS file for Node 20 beside main.js. */
const COMMON = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // CommonJS has no import.meta: the four uses (package.json, the help snapshot, require of
  // nearley and moo) resolve from dist/cli/, where the bundle sits beside main.js.
  define: { 'import.meta.url': '__ocibuildImportMetaUrl' },
  banner: { js: "var __ocibuildImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  legalComments: 'none',
};
const fail = (why) => {
  for (const bundle of [...bundles, path.join(dist, outOf('entry'))]) for (const f of [bundle, `${bundle}.map`, `${bundle}.cache`]) rmSync(f, { force: true });
  console.error(`bundle: ${why}; the CLI runs unbundled`);
  process.exit(1);
};

for (const entry of ENTRIES) {
  const result = await bundleOne(entry);
  if (result.errors.length > 0 || result.warnings.length > 0) fail(`esbuild reported problems in ${entry}`);
}

// bin/ocibuild is CommonJS: src/cli/entry.ts (and the help snapshot check it imports) as one
// CommonJS file for it to require, named like the bundles. Its import() of main.js stays one.
const entryBundle = path.join(dist, outOf('entry'));
{
  const result = await build({ ...COMMON, entryPoints: [path.join(dist, 'entry.js')], outfile: entryBundle });
  if (result.errors.length > 0 || result.warnings.length > 0) fail('esbuild reported problems in entry');
}

function bundleOne(entry) {
  return build({
    ...COMMON,
    entryPoints: [path.join(dist, `${entry}.js`)],
    outfile: path.join(dist, outOf(entry)),
    external: ['undici'],
    // import('undici') as a require (a vm.Script has no ES module loader).
    supported: { 'dynamic-import': false },
    // Whitespace and syntax only (names kept, so messages and stack frames still read).
    minifyWhitespace: true,
    minifySyntax: true,
    // `node --enable-source-maps` maps stack frames back to dist/.
    sourcemap: 'linked',
    // string-width without its Intl.Segmenter at load, and yargs' two checks without node:assert
    // (scripts/bundle-shims/).
    plugins: [
      {
        name: 'ocibuild-shims',
        setup(b) {
          b.onResolve({ filter: /^string-width$/ }, () => ({ path: path.join(here, 'bundle-shims/string-width.mjs') }));
          b.onResolve({ filter: /^assert$/ }, (args) => (/[\\/]node_modules[\\/]yargs[\\/]/.test(args.importer) ? { path: path.join(here, 'bundle-shims/assert.mjs') } : undefined));
          // yargs looks for its caller's package.json (to guess a version we then set) from the
          // directory above its node_modules; in the bundle that path has no node_modules and
          // it searched from the working directory up to / instead, listing every directory on
          // the way. Start it at the package root, as unbundled.
          b.onLoad({ filter: /[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, async (args) => {
            const source = await readFile(args.path, 'utf8');
            const from = "const mainFilename = __dirname.substring(0, __dirname.lastIndexOf('node_modules'));";
            return { contents: source.replace(from, "const mainFilename = fileURLToPath(new URL('../../', import.meta.url));"), loader: 'js', resolveDir: path.dirname(args.path) };
          });
        },
      },
    ],
  });
}

// The library: `import ... from 'ocibuild'` resolves (package.json "exports") to dist/lib/index.mjs,
// an ES module that runs dist/lib/index.bundle-<stamp>.cjs (dist/index.js and the modules it
// imports bundled into one CommonJS file, compiled from its V8 code cache as the CLI's bundles are,
// src/cli/entry.ts) when it was made from the dist/index.js that is there (<stamp>: that file's
// mtime), and else imports dist/index.js as compiled (`OCIBUILD_BUNDLE=0` too). One file from its
// code cache instead of ~80 modules to resolve, link and compile: issue 8's library import row.
// dist/lib/ is as deep as dist/cli/, so the bundle's import.meta.url finds package.json, nearley
// and moo where the compiled modules do. The facade is written before the bundle, so a failed
// bundle leaves a working import.
const libDir = path.join(here, '../dist/lib');
const libIndex = path.join(here, '../dist/index.js');
const libStamp = statSync(libIndex, { bigint: true }).mtimeNs.toString();
const libBundle = path.join(libDir, `index.bundle-${libStamp}.cjs`);
{
  mkdirSync(libDir, { recursive: true });
  for (const f of readdirSync(libDir)) if (!f.startsWith(path.basename(libBundle)) && f !== 'index.mjs') rmSync(path.join(libDir, f), { force: true });
  const names = Object.keys(await import(pathToFileURL(libIndex).href)).sort();
  const bad = names.filter((n) => !/^[A-Za-z_$][\w$]*$/.test(n) || n === 'default');
  if (bad.length > 0) {
    writeFileSync(path.join(libDir, 'index.mjs'), "export * from '../index.js';\n");
    fail(`dist/index.js exports names the library's facade cannot re-export (${bad.join(', ')})`);
  }
  writeFileSync(
    path.join(libDir, 'index.mjs'),
    `// Made by scripts/bundle.mjs (npm run build): the package entry. It runs the bundle of dist/index.js,
// from its code cache when the cache was made for its bytes, when the bundle was made from the
// dist/index.js that is there; else (or with OCIBUILD_BUNDLE=0) it imports dist/index.js as compiled.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

function fromBundle() {
  if (process.env.OCIBUILD_BUNDLE === '0') return undefined;
  const file = fileURLToPath(new URL('./${path.basename(libBundle)}', import.meta.url));
  let source;
  try {
    if (statSync(new URL('../index.js', import.meta.url), { bigint: true }).mtimeNs !== ${libStamp}n) return undefined;
    source = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let cachedData;
  try {
    const kept = readFileSync(file + '.cache');
    if (kept.length > 32 && kept.subarray(0, 32).equals(createHash('sha256').update(source).digest())) cachedData = kept.subarray(32);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script('(function (exports, require, module, __filename, __dirname) {' + source + '\\n})', { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  return module.exports;
}

const lib = fromBundle() ?? (await import('../index.js'));
export const { ${names.join(', ')} } = lib;
`,
  );
  const result = await build({
    ...COMMON,
    entryPoints: [libIndex],
    outfile: libBundle,
    external: ['undici'],
    supported: { 'dynamic-import': false },
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
  });
  if (result.errors.length > 0 || result.warnings.length > 0) {
    rmSync(libBundle, { force: true });
    console.error('bundle: esbuild reported problems in the library; it loads unbundled');
  }
}

// The code caches: a build of a small context through the CLI bundle, then a push and a pull of
// its image through the push/pull bundle, then V8's cache of every function each compiled (what
// the commands run, not only the top level).
const work = mkdtempSync(path.join(os.tmpdir(), 'ocibuild-bundle-'));
try {
  writeFileSync(path.join(work, 'Dockerfile'), 'FROM scratch\nCOPY . /data\n');
  writeFileSync(path.join(work, 'a.txt'), 'a\n');
  const [cli, registry] = bundles;
  const store = path.join(work, 'store');
  const script = `
    const { loadBundle, runBundle } = await import(${JSON.stringify(path.join(dist, 'entry.js'))});
    const { startWarmRegistry } = await import(${JSON.stringify(path.join(here, 'warm-registry.mjs'))});
    const { createHash } = await import('node:crypto');
    const fs = await import('node:fs');
    let said = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s) => { said += s; return true; } }, env: {}, cwd: ${JSON.stringify(work)}, readStdin: async () => '' };
    const keepCache = (file, script) => {
      const digest = createHash('sha256').update(fs.readFileSync(file, 'utf8')).digest();
      fs.writeFileSync(file + '.cache', Buffer.concat([digest, script.createCachedData()]));
    };
    const run = async (file, argvs) => {
      const { main, script } = loadBundle(file, false);
      for (const argv of argvs) {
        said = '';
        const code = await main(argv, io);
        if (code !== 0) throw new Error('the warm-up ' + argv[0] + ' exited with ' + code + ': ' + said);
      }
      keepCache(file, script);
    };
    await run(${JSON.stringify(cli)}, [['build', '-q', '--store', ${JSON.stringify(store)}, '-t', 'bundle:warm', ${JSON.stringify(work)}]]);
    // The library's bundle: its load, then a parse and a build of the same context through it.
    if (fs.existsSync(${JSON.stringify(libBundle)})) {
      const file = ${JSON.stringify(libBundle)};
      const { exports: lib, script } = runBundle(file, false);
      lib.parseDockerfile('FROM scratch\\nCOPY . /data\\n');
      await lib.build({ context: ${JSON.stringify(work)}, storeRoot: ${JSON.stringify(path.join(work, 'lib-store'))}, tags: ['bundle:lib'], env: {} });
      keepCache(file, script);
    }
    // Where no loopback socket may be opened (a sandboxed build), push and pull run from their
    // bundle compiled without a cache: slower to start, the same otherwise.
    try {
      const registry = await startWarmRegistry();
      try {
        const ref = registry.host + '/warm/bundle:latest';
        await run(${JSON.stringify(registry)}, [
          ['push', '--store', ${JSON.stringify(store)}, 'bundle:warm', ref],
          ['pull', '-q', '--store', ${JSON.stringify(path.join(work, 'pulled'))}, ref],
        ]);
      } finally {
        await registry.close();
      }
    } catch (e) {
      fs.rmSync(${JSON.stringify(registry)} + '.cache', { force: true });
      process.stderr.write('bundle: no code cache for push and pull (' + (e?.message ?? e) + ')\\n');
    }
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: work } });
  if (r.status !== 0) fail(`the code cache could not be made: ${r.stderr.trim()}`);
  if (r.stderr.trim()) console.error(r.stderr.trim());
} finally {
  rmSync(work, { recursive: true, force: true });
}
