/**
 * Holds the import direction of /work/shared/STYLE.md ("Imports point down"),
 * as go-containerregistry's depcheck test does: every relative import of
 * every module under src/ (type imports included, tests excluded) must go to
 * a module its own module may know. Issue 9.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(repoRoot, 'src');

/**
 * Shared leaves every module may import: errors, file names as bytes, Go-style
 * quoting (src/go-quote.ts: the parser's dumps and the engine's history text), buildx flag field lists
 * (src/csv-fields.ts), a file's stat identity (src/stat-identity.ts: the context walk, the stat
 * cache and the layer writer take the same one), lstat as numbers (src/lstat-fields.ts: the copy
 * source and the copy memo's rows read the same fields), and the progress event
 * model (src/engine/progress.ts, types only: pulls, layer writes and pushes
 * emit its events too).
 */
const EVERYONE = ['errors', 'engine/progress', 'fs-names', 'go-quote', 'csv-fields', 'stat-identity', 'lstat-fields'];

/**
 * What each module may import besides itself and EVERYONE, for the layout of
 * STYLE.md ("Where things live"). A module missing here may import nothing
 * else: a new directory has to say where it sits.
 */
const ALLOWED: Record<string, readonly string[]> = {
  errors: [],
  'engine/progress': [],
  // File names as bytes (names that are not UTF-8 kept losslessly): a leaf like errors.
  'fs-names': [],
  // Go's strconv.Quote on bytes (imports nothing): a leaf like errors, so the engine quotes history text without the parser.
  'go-quote': [],
  // buildx-style flag field lists (`--output`, `--cache-to`): a leaf like errors.
  'csv-fields': [],
  // A file's stat identity (dev, ino, size, mtime and ctime in ns): a leaf like errors.
  'stat-identity': [],
  // lstat's fields as numbers (Node's fs binding, checked against fs.lstatSync): a leaf like errors.
  'lstat-fields': [],
  // What a TLS client of ours trusts when bin/ocibuild kept NODE_EXTRA_CA_CERTS from Node's start: a leaf.
  'tls-trust': [],
  oci: [],
  // The parser knows nothing else.
  parser: [],
  'code-frame': [],
  // Step types, ordering, cache keys: pure.
  graph: ['oci'],
  // The compiler knows parser and graph (and OCI values: platforms, references).
  compiler: ['parser', 'graph', 'oci'],
  context: ['oci'],
  // layers, cache, image, registry and push know `oci`, never the Dockerfile; cache knows no image.
  layers: ['oci'],
  cache: ['oci'],
  image: ['oci', 'layers'],
  registry: ['oci', 'tls-trust'],
  push: ['oci', 'registry'],
  copy: ['oci', 'context', 'layers', 'tls-trust'],
  // A base image's filesystem, offered to COPY --from through copy's source interface.
  rootfs: ['oci', 'layers', 'cache', 'image', 'copy'],
  // RUN takes the step's typed mounts and cache-key values from graph, and reads bind sources
  // through copy's SourceFs (as rootfs offers COPY --from); it never knows the Dockerfile text.
  run: ['oci', 'graph', 'layers', 'cache', 'image', 'rootfs', 'context', 'copy'],
  output: ['oci', 'layers', 'cache', 'image', 'rootfs', 'registry', 'push'],
  // The engine knows steps through their executors, never the other way round (no step module imports it).
  engine: ['oci', 'graph', 'context', 'copy', 'layers', 'cache', 'image', 'rootfs', 'run', 'output'],
  // Compose files as build input (YAML, .env, interpolation, merge, --set): knows nothing of the build.
  compose: [],
  // build.ts (and its build-*.ts helpers) wires it all together; only index.ts and cli import it.
  build: ['*'],
  index: ['*'],
  cli: ['*'],
};

/** Modules nobody but these may import, whatever ALLOWED says. */
const ONLY_IMPORTED_BY: Record<string, readonly string[]> = {
  build: ['index', 'cli', 'build'],
  cli: ['cli'],
};

/**
 * Imports against the rules that exist today, each with the issue that
 * removes it (the integrator deletes an entry once its fix has landed; a
 * listed import that no longer exists fails this test so the list shrinks).
 */
const KNOWN_VIOLATIONS: Record<string, string> = {};

/** The module of a path under src/: its first directory, or the file's base name (`build-defaults.ts` -> `build`). */
function moduleOf(rel: string): string {
  if (rel === 'engine/progress.ts') return 'engine/progress';
  const [first, ...rest] = rel.split('/');
  if (rest.length > 0) return first!;
  const base = first!.replace(/\.ts$/, '');
  return base.startsWith('build-') ? 'build' : base;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'testing') out.push(...sourceFiles(p));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) {
      out.push(p);
    }
  }
  return out;
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]|(?:^|[\s;])import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
    const s = m[1] ?? m[2] ?? m[3];
    if (s && s.startsWith('.')) specs.push(s);
  }
  return specs;
}

function allowed(from: string, to: string): boolean {
  if (from === to || EVERYONE.includes(to)) return ONLY_IMPORTED_BY[to] ? ONLY_IMPORTED_BY[to]!.includes(from) || from === to : true;
  const only = ONLY_IMPORTED_BY[to];
  if (only && !only.includes(from)) return false;
  const rules = ALLOWED[from];
  if (!rules) return false;
  return rules.includes('*') || rules.includes(to);
}

function violations(): string[] {
  const out: string[] = [];
  for (const file of sourceFiles(src)) {
    const rel = path.relative(src, file).split(path.sep).join('/');
    const from = moduleOf(rel);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = path.relative(src, path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'))).split(path.sep).join('/');
      if (target.startsWith('..')) {
        out.push(`src/${rel} -> ${spec} (outside src/)`);
        continue;
      }
      const to = moduleOf(target);
      if (!allowed(from, to)) out.push(`src/${rel} -> src/${target}`);
    }
  }
  return [...new Set(out)].sort();
}

describe('import direction (STYLE.md: imports point down)', () => {
  const found = violations();

  it('no module imports against the direction', () => {
    const unexpected = found.filter((v) => !(v in KNOWN_VIOLATIONS));
    expect(unexpected).toEqual([]);
  });

  it('every known violation still exists (remove fixed ones from KNOWN_VIOLATIONS)', () => {
    const fixed = Object.keys(KNOWN_VIOLATIONS).filter((v) => !found.includes(v));
    expect(fixed).toEqual([]);
  });

  it('every module under src/ has a rule', () => {
    const modules = new Set(sourceFiles(src).map((f) => moduleOf(path.relative(src, f).split(path.sep).join('/'))));
    expect([...modules].filter((m) => !(m in ALLOWED))).toEqual([]);
  });

  it('the checker sees what it must (import forms, type imports, a made-up violation)', () => {
    expect(importsOf("import { a } from '../x.js';\nimport type { B } from './y.js';\nexport * from '../z.js';\nimport '../side.js';\nconst m = await import('../dyn.js');\nimport os from 'node:os';")).toEqual([
      '../x.js',
      './y.js',
      '../z.js',
      '../side.js',
      '../dyn.js',
    ]);
    expect(allowed('cache', 'image')).toBe(false);
    expect(allowed('parser', 'compiler')).toBe(false);
    expect(allowed('copy', 'engine')).toBe(false);
    expect(allowed('engine', 'build')).toBe(false);
    expect(allowed('cli', 'build')).toBe(true);
    expect(allowed('compiler', 'parser')).toBe(true);
    expect(moduleOf('build-defaults.ts')).toBe('build');
    expect(allowed('output', 'engine/progress')).toBe(true);
    expect(allowed('output', 'engine')).toBe(false);
  });
});
