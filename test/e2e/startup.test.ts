/**
 * Issue 8 (start-up): a command loads only what it uses. `ocibuild --version`,
 * `--help` and `build --help` load no registry client, undici, node-tar,
 * parser (nearley, moo, the grammar), build engine or RUN module, and
 * importing the library (dist/index.js) loads none of undici, tar, nearley,
 * moo, the build engine, RUN or the layer reader and writer; `push` and `pull`
 * run from a bundle of their own that holds none of the build engine, parser,
 * RUN, compose, YAML or tar. Counted, not timed: each command runs in a
 * fresh `node` whose `--import` hook records every module loaded (ESM URLs
 * through a load hook, CommonJS files from require.cache at exit).
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ensureDist, repoRoot } from '../dist.js';
import { startRegistry, type TestRegistry } from '../registry/harness.js';

const exec = promisify(execFile);
let tmp: string;
let register: string;

const HOOKS = `import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function load(url, context, next) {
  appendFileSync(out, url + '\\n');
  return next(url, context);
}
`;

const REGISTER = `import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
const out = process.env.OCIBUILD_TEST_MODULES;
register(new URL('./hooks.mjs', import.meta.url), { data: { out } });
const require = createRequire(import.meta.url);
process.on('exit', () => {
  appendFileSync(out, Object.keys(require.cache).map((f) => 'file://' + f + '\\n').join(''));
  // Node's own modules loaded (a bundle's require of them is seen by no hook): node:<name>.
  appendFileSync(out, process.moduleLoadList.filter((m) => m.startsWith('NativeModule ') && !m.includes('internal/')).map((m) => 'node:' + m.slice(13) + '\\n').join(''));
});
`;

beforeAll(async () => {
  await ensureDist();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-startup-'));
  await writeFile(path.join(tmp, 'hooks.mjs'), HOOKS);
  register = path.join(tmp, 'register.mjs');
  await writeFile(register, REGISTER);
}, 300_000);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let runs = 0;
/** Runs `node --import <recorder> ...args` and returns its output and the modules it loaded (paths under the repo, else URLs). */
async function loaded(args: string[], stdin?: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; modules: string[] }> {
  const out = path.join(tmp, `modules-${runs++}.txt`);
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv, OCIBUILD_TEST_MODULES: out };
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not the CLI's
  const child = exec(process.execPath, ['--import', pathToFileURL(register).href, ...args], { cwd: tmp, env });
  if (stdin !== undefined) child.child.stdin!.end(stdin);
  const { stdout } = await child;
  const modules = [...new Set((await readFile(out, 'utf8')).split('\n').filter(Boolean))].map((u) => {
    const file = u.startsWith('file://') ? decodeURIComponent(new URL(u).pathname) : u;
    return file.startsWith(repoRoot + '/') ? path.relative(repoRoot, file) : file;
  });
  return { stdout, modules };
}

/** Modules from these packages and dist/ directories are what start-up must not pay for. */
const HEAVY: [string, RegExp][] = [
  ['undici', /(?:^|\/)node_modules\/undici\//],
  ['tar', /(?:^|\/)node_modules\/tar\//],
  ['nearley', /(?:^|\/)node_modules\/nearley\//],
  ['moo', /(?:^|\/)node_modules\/moo\//],
  ['the build engine', /^dist\/(build\.js|build-defaults\.js|engine\/(?!progress\.js))/],
  // run/secrets.js is the --secret/--ssh value parser the library exports (a leaf with no RUN machinery).
  ['RUN', /^dist\/run\/(?!secrets\.js)/],
  ['copy (ADD archives and URLs)', /^dist\/copy\//],
  // layers/names.js is validateLayerEntry, which the library exports (a leaf of name checks).
  ['layers (tar, gzip)', /^dist\/layers\/(?!names\.js)/],
];
/** The CLI's help loads neither the registry client, push, the parser nor the layer code either. */
const HEAVY_FOR_HELP: [string, RegExp][] = [
  ...HEAVY,
  ['the registry client', /^dist\/(registry|push)\//],
  ['the parser and grammar', /^dist\/(parser|compiler)\//],
  ['layers', /^dist\/layers\//],
  ['image outputs', /^dist\/image\/(outputs|local|read|tar)\.js/],
];

function heavyIn(modules: string[], rules: [string, RegExp][]): string[] {
  return modules.flatMap((m) => rules.filter(([, re]) => re.test(m)).map(([what]) => `${what}: ${m}`));
}

const bin = () => path.join(repoRoot, 'bin/ocibuild');

/**
 * What V8 said of the code cache kept for the bundle `file` (`cachedDataRejected`: false when
 * used, true when refused, undefined when not offered), asked in a fresh `node`: V8 refuses a
 * cache made under other flags, and a suite before this one in the same jest worker may have
 * changed them (src/copy/memory.test.ts sets --expose-gc).
 */
async function cacheVerdict(entryJs: string, file: string): Promise<string> {
  const script = `const e = await import(${JSON.stringify(pathToFileURL(entryJs).href)}); console.log(String(e.loadBundle(${JSON.stringify(file)}).script.cachedDataRejected));`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  return (await exec(process.execPath, ['--input-type=module', '-e', script], { env })).stdout.trim();
}

describe('issue 8: start-up loads only what a command uses', () => {
  it('--version prints our version and loads no argument parser nor any command', async () => {
    const { version } = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const r = await loaded([bin(), '--version']);
    expect(r.stdout).toBe(`${version}\n`);
    expect(heavyIn(r.modules, HEAVY_FOR_HELP)).toEqual([]);
    expect(r.modules.filter((m) => /(?:^|\/)node_modules\/yargs\/|^dist\/cli\/commands\//.test(m))).toEqual([]);
  });

  it.each([[['--help']], [['build', '--help']], [['check', '--help']], [['pull', '--help']]])('%j prints the help and loads none of the heavy parts (nor yargs: the help snapshot)', async (args) => {
    const r = await loaded([bin(), ...args]);
    expect(r.stdout).toContain('--help');
    expect(heavyIn(r.modules, HEAVY_FOR_HELP)).toEqual([]);
    expect(r.modules.filter((m) => /(?:^|\/)node_modules\/yargs\/|^dist\/cli\/commands\//.test(m))).toEqual([]);
    // Without the snapshot yargs answers, and still loads none of the heavy parts; the recorder sees yargs.
    const y = await loaded([bin(), ...args], undefined, { OCIBUILD_HELP_SNAPSHOT: '0' });
    expect(y.stdout).toBe(r.stdout);
    expect(heavyIn(y.modules, HEAVY_FOR_HELP)).toEqual([]);
    expect(y.modules.some((m) => /(?:^|\/)node_modules\/yargs\//.test(m))).toBe(true);
  });

  it('the recorder sees the parser when a command parses (nearley and moo are CommonJS)', async () => {
    const r = await loaded([bin(), 'parse', '-f', '-'], 'FROM scratch\n', { OCIBUILD_BUNDLE: '0' });
    expect(r.stdout).toContain('(from "scratch")');
    expect(heavyIn(r.modules, HEAVY_FOR_HELP).filter((h) => /^(nearley|moo|the parser)/.test(h)).length).toBeGreaterThanOrEqual(3);
  });

  it("import('ocibuild') (dist/index.js) loads none of undici, tar, nearley, moo, the engine, RUN or layers until used", async () => {
    const index = pathToFileURL(path.join(repoRoot, 'dist/index.js')).href;
    const idle = await loaded(['--input-type=module', '-e', `const m = await import(${JSON.stringify(index)}); console.log(typeof m.build, typeof m.RegistryClient)`]);
    expect(idle.stdout).toBe('function function\n');
    expect(heavyIn(idle.modules, HEAVY)).toEqual([]);
    // Used, they load: a parse brings nearley and moo, a directory walk the layers. (The registry client uses node:http.)
    const used = await loaded(['--input-type=module', '-e', `const m = await import(${JSON.stringify(index)}); await new m.RegistryClient().close(); m.parseDockerfile('FROM scratch\\n'); await m.entriesFromDirectory('.')`]);
    expect(heavyIn(used.modules, HEAVY).map((h) => h.split(':')[0])).toEqual(expect.arrayContaining(['nearley', 'moo', 'layers (tar, gzip)']));
  });

  it("import('ocibuild') resolves to the library's facade, which runs the bundle of dist/index.js (none of its ~80 modules load) and exports what dist/index.js exports", async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
    expect(pkg.exports['.']!.import).toBe('./dist/lib/index.mjs');
    const facade = pathToFileURL(path.join(repoRoot, 'dist/lib/index.mjs')).href;
    const index = pathToFileURL(path.join(repoRoot, 'dist/index.js')).href;
    const names = (url: string) => `const m = await import(${JSON.stringify(url)}); console.log(JSON.stringify(Object.keys(m).sort().map((k) => [k, typeof m[k]])))`;
    const bundled = await loaded(['--input-type=module', '-e', names(facade)]);
    const compiled = await loaded(['--input-type=module', '-e', names(index)]);
    expect(bundled.stdout).toBe(compiled.stdout);
    expect(JSON.parse(bundled.stdout).length).toBeGreaterThan(40);
    // The bundle is compiled by a vm.Script, which no module hook sees: of dist/, only the facade loads.
    expect(bundled.modules.filter((m) => m.startsWith('dist/'))).toEqual(['dist/lib/index.mjs']);
    expect(compiled.modules.filter((m) => m.startsWith('dist/')).length).toBeGreaterThan(40);
    // OCIBUILD_BUNDLE=0: the facade imports dist/index.js as compiled.
    const off = await loaded(['--input-type=module', '-e', names(facade)], undefined, { OCIBUILD_BUNDLE: '0' });
    expect(off.stdout).toBe(compiled.stdout);
    expect(off.modules).toContain('dist/index.js');
  });

  it('the library bundle builds the image dist/index.js builds, and a facade whose dist/index.js is newer than its bundle imports dist/index.js', async () => {
    const ctx = path.join(tmp, 'lib-ctx');
    await cp(path.join(repoRoot, 'fixtures/examples/hello'), ctx, { recursive: true });
    const facade = pathToFileURL(path.join(repoRoot, 'dist/lib/index.mjs')).href;
    const index = pathToFileURL(path.join(repoRoot, 'dist/index.js')).href;
    const script = (url: string, store: string) =>
      `const m = await import(${JSON.stringify(url)}); const r = await m.build({ context: ${JSON.stringify(ctx)}, storeRoot: ${JSON.stringify(store)}, tags: ['lib:1'], env: {} }); console.log(r.descriptor.digest)`;
    const viaBundle = await loaded(['--input-type=module', '-e', script(facade, path.join(tmp, 'lib-store-a'))]);
    const viaCompiled = await loaded(['--input-type=module', '-e', script(index, path.join(tmp, 'lib-store-b'))]);
    expect(viaBundle.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(viaBundle.stdout).toBe(viaCompiled.stdout);
    expect(viaBundle.modules.filter((m) => m.startsWith('dist/'))).toEqual(['dist/lib/index.mjs']);
    // A copy of dist/ has new mtimes: its dist/index.js is not the one the bundle was made from.
    const copy = path.join(tmp, 'lib-pkg');
    await cp(path.join(repoRoot, 'dist'), path.join(copy, 'dist'), { recursive: true });
    await symlink(path.join(repoRoot, 'node_modules'), path.join(copy, 'node_modules'));
    const stale = await loaded(['--input-type=module', '-e', script(pathToFileURL(path.join(copy, 'dist/lib/index.mjs')).href, path.join(tmp, 'lib-store-c'))]);
    expect(stale.stdout).toBe(viaBundle.stdout);
    expect(stale.modules).toContain(path.join(copy, 'dist/index.js'));
  }, 120_000);

  it('a command other than --version and --help runs from the bundle `npm run build` made (undici left out): main.js and its modules are not loaded', async () => {
    const r = await loaded([bin(), 'parse', '-f', '-'], 'FROM scratch\n');
    expect(r.stdout).toContain('(from "scratch")');
    // The bundle is compiled from its code cache by a vm.Script, which no module hook sees: what is
    // seen is that nothing of dist/ but the entry was loaded, as bundled for the CommonJS bin.
    expect(r.modules.filter((m) => m.startsWith('dist/'))).toEqual([expect.stringMatching(/^dist\/cli\/entry\.bundle-\d+\.cjs$/)]);
    expect(r.modules.filter((m) => /(?:^|\/)node_modules\/undici\//.test(m))).toEqual([]);
    const bundles = (await readdir(path.join(repoRoot, 'dist/cli'))).filter((f) => /^main\.bundle-\d+\.cjs(\.cache)?$/.test(f));
    expect(bundles).toHaveLength(2);
  });

  it('a bundle (CLI or entry) made from another main.js is never run, and a code cache made for other bytes is not used', async () => {
    // A copy of the package whose main.js is newer than its bundle (dist/ recompiled without bundling).
    const pkg = path.join(tmp, 'pkg');
    await cp(path.join(repoRoot, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    await cp(path.join(repoRoot, 'bin'), path.join(pkg, 'bin'), { recursive: true });
    await cp(path.join(repoRoot, 'package.json'), path.join(pkg, 'package.json'));
    await symlink(path.join(repoRoot, 'node_modules'), path.join(pkg, 'node_modules'));
    const cli = path.join(pkg, 'dist/cli');
    const bundle = (await readdir(cli)).find((f) => /^main\.bundle-\d+\.cjs$/.test(f))!;
    // A copy gets new mtimes: name the bundles after the copied main.js, as scripts/bundle.mjs does.
    const stamp = (await stat(path.join(cli, 'main.js'), { bigint: true })).mtimeNs;
    const current = `main.bundle-${stamp}.cjs`;
    for (const ext of ['', '.cache', '.map']) await rename(path.join(cli, bundle + ext), path.join(cli, current + ext));
    const entryBundle = (await readdir(cli)).find((f) => /^entry\.bundle-\d+\.cjs$/.test(f))!;
    await rename(path.join(cli, entryBundle), path.join(cli, `entry.bundle-${stamp}.cjs`));
    const entry = (await import(pathToFileURL(path.join(cli, 'entry.js')).href)) as typeof import('../../src/cli/entry.js');
    const file = path.join(cli, current);
    expect(entry.bundlePath(['build', '.'], {}, pathToFileURL(path.join(cli, 'entry.js')).href)).toBe(file);
    expect(await cacheVerdict(path.join(cli, 'entry.js'), file)).toBe('false'); // the cache is used
    const before = await loaded([path.join(pkg, 'bin/ocibuild'), 'parse', '-f', '-'], 'FROM scratch\n');
    expect(before.stdout).toContain('(from "scratch")');
    expect(before.modules).not.toContain(path.join(cli, 'main.js'));
    // The CommonJS bin required the entry as bundled, not the compiled entry.js.
    expect(before.modules).toContain(path.join(cli, `entry.bundle-${stamp}.cjs`));
    expect(before.modules).not.toContain(path.join(cli, 'entry.js'));
    // The cache of other bytes (its digest no longer the bundle's): compiled without it, same answer.
    const cache = await readFile(`${file}.cache`);
    cache[0] = cache[0]! ^ 0xff;
    await writeFile(`${file}.cache`, cache);
    expect(await cacheVerdict(path.join(cli, 'entry.js'), file)).toBe('undefined'); // not offered to V8
    expect((await loaded([path.join(pkg, 'bin/ocibuild'), 'parse', '-f', '-'], 'FROM scratch\n')).stdout).toBe(before.stdout);
    // main.js recompiled after the bundle: the bundle is not run.
    const later = new Date(Date.now() + 5_000);
    await utimes(path.join(cli, 'main.js'), later, later);
    expect(entry.bundlePath(['build', '.'], {}, pathToFileURL(path.join(cli, 'entry.js')).href)).toBeUndefined();
    const after = await loaded([path.join(pkg, 'bin/ocibuild'), 'parse', '-f', '-'], 'FROM scratch\n');
    expect(after.stdout).toBe(before.stdout);
    expect(after.modules).toContain(path.join(cli, 'main.js'));
    // ... nor the entry bundled from an older dist/: the compiled entry.js.
    expect(after.modules).toContain(path.join(cli, 'entry.js'));
    expect(after.modules).not.toContain(path.join(cli, `entry.bundle-${stamp}.cjs`));
  });

  describe('push and pull', () => {
    let reg: TestRegistry;
    const cli = () => path.join(repoRoot, 'dist/cli');
    const entryUrl = () => pathToFileURL(path.join(cli(), 'entry.js')).href;
    const entryModule = async () => (await import(entryUrl())) as typeof import('../../src/cli/entry.js');
    beforeAll(async () => {
      reg = await startRegistry({ auth: 'none' });
    }, 60_000);
    afterAll(async () => {
      await reg?.stop();
    });

    it('a command line starting with push or pull runs the registry bundle (with its accepted code cache), which holds none of the build engine, parser, RUN, compose, YAML or tar', async () => {
      const entry = await entryModule();
      const registryBundle = entry.bundlePath(['push', 'a', 'b'], {}, entryUrl());
      expect(registryBundle).toMatch(/\/registry-main\.bundle-\d+\.cjs$/);
      expect(entry.bundlePath(['pull', '-q', 'x'], {}, entryUrl())).toBe(registryBundle);
      expect(entry.bundlePath(['build', '.'], {}, entryUrl())).toMatch(/\/main\.bundle-\d+\.cjs$/);
      expect(entry.bundlePath(['images'], {}, entryUrl())).toMatch(/\/main\.bundle-\d+\.cjs$/);
      expect(entry.bundlePath(['pull', '--help'], {}, entryUrl())).toBeUndefined();
      expect(entry.bundlePath(['push', 'a', 'b'], { OCIBUILD_BUNDLE: '0' }, entryUrl())).toBeUndefined();
      expect(await cacheVerdict(path.join(cli(), 'entry.js'), registryBundle!)).toBe('false');
      const { sources } = JSON.parse(await readFile(`${registryBundle}.map`, 'utf8')) as { sources: string[] };
      const files = sources.map((s) => path.relative(repoRoot, path.resolve(cli(), s)));
      const heavy: [string, RegExp][] = [
        ['the build engine', /^src\/(build\.ts|build-compose\.ts|build-cache\.ts|engine\/|graph\/)/],
        ['the parser and compiler', /^src\/(parser|compiler)\//],
        ['RUN', /^src\/run\//],
        ['compose', /^src\/compose\//],
        ['the other commands', /^src\/cli\/commands\/(?!registry\.ts)/],
        ['yaml, tar, nearley, moo, undici', /(?:^|\/)node_modules\/(yaml|tar|nearley|moo|undici)\//],
      ];
      expect(heavyIn(files, heavy)).toEqual([]);
      expect(files).toEqual(expect.arrayContaining(['src/cli/commands/registry.ts', 'src/registry/client.ts', 'src/push/push.ts', 'src/cache/store.ts']));
      // Both bundles start yargs' search for a package.json at the package root, as unbundled
      // (not at the working directory, listing every directory up to /).
      for (const file of [registryBundle!, entry.bundlePath(['build', '.'], {}, entryUrl())!]) {
        expect([file, /mainFilename=[^;]{0,60}new URL\("\.\.\/\.\.\/",__ocibuildImportMetaUrl\)/.test(await readFile(file, 'utf8'))]).toEqual([file, true]);
      }
    });

    it('the registry bundle answers a push and pull command line as the whole CLI does (usage errors, a missing image)', async () => {
      const entry = await entryModule();
      const registryBundle = entry.bundlePath(['push', 'a', 'b'], {}, entryUrl())!;
      const whole = entry.bundlePath(['build', '.'], {}, entryUrl())!;
      const empty = path.join(tmp, 'empty-store');
      const lines = [['push'], ['pull'], ['push', 'a', 'b', 'c'], ['pull', 'x', '--bogus'], ['push', '--store', empty, 'nosuch:1', '127.0.0.1:1/x/y:1'], ['pull', 'Bad//Name']];
      const answers = async (file: string) => {
        const { main } = entry.loadBundle(file);
        const out = [];
        for (const argv of lines) {
          let stdout = '';
          let stderr = '';
          const io = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env: { HOME: tmp, PATH: process.env.PATH }, cwd: tmp, readStdin: async () => '' };
          out.push({ argv, code: await (main as (a: string[], io: unknown) => Promise<number>)(argv, io), stdout, stderr });
        }
        return out;
      };
      const ours = await answers(registryBundle);
      expect(ours.map((a) => a.code)).toEqual([2, 2, 2, 2, 1, 1]);
      expect(ours.map((a) => a.stderr).join('')).toMatch(/IMAGE_NOT_FOUND|no such image/);
      expect(ours).toEqual(await answers(whole));
    });

    it('bin/ocibuild push and pull run from the bundle (no dist/ module but the bundled entry), load none of TLS, zlib, child processes or assert, and move the image whole', async () => {
      const ctx = path.join(tmp, 'push-ctx');
      await cp(path.join(repoRoot, 'package.json'), path.join(ctx, 'package.json'));
      await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY package.json /\n');
      const store = path.join(tmp, 'push-store');
      const built = (await exec(process.execPath, [bin(), 'build', '-q', '--store', store, '-t', 'pushed:1', ctx])).stdout.trim().split('\n').pop();
      const ref = `${reg.host}/startup/pushed:1`;
      const pushed = await loaded([bin(), 'push', '--store', store, 'pushed:1', ref]);
      expect(pushed.stdout.trim()).toBe(built);
      expect(pushed.modules.filter((m) => m.startsWith('dist/'))).toEqual([expect.stringMatching(/^dist\/cli\/entry\.bundle-\d+\.cjs$/)]);
      const pulled = await loaded([bin(), 'pull', '-q', '--store', path.join(tmp, 'pull-store'), ref]);
      expect(pulled.stdout.trim()).toBe(built);
      expect(pulled.modules.filter((m) => m.startsWith('dist/'))).toEqual([expect.stringMatching(/^dist\/cli\/entry\.bundle-\d+\.cjs$/)]);
      // Over plain HTTP, with no credential helper, neither loads TLS, zlib, child processes or
      // node:assert (the layer code, TLS roots, credential helpers and yargs' checks brought them;
      // each was a few ms of every push and pull). Worker threads cannot be told here: the
      // recorder's own module hooks run in one.
      const unneeded = /^node:(tls|_tls_wrap|https|zlib|child_process|assert)$/;
      expect(pushed.modules.filter((m) => m.startsWith('node:')).length).toBeGreaterThan(10); // the recorder sees Node's modules
      expect(pushed.modules.filter((m) => unneeded.test(m))).toEqual([]);
      expect(pulled.modules.filter((m) => unneeded.test(m))).toEqual([]);
    }, 60_000);
  });
});
