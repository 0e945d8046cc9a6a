import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeConformance } from '../../test/conformance.js';
import { OcibuildError } from '../errors.js';
import { loadIgnoreFile } from './ignore-file.js';
import { matches, matchesOrParentMatches } from './pattern-matcher.js';
import { ContextFilter, walkContext, type ContextEntry, type WalkContextOptions } from './walk.js';
import { encodeFsName, fsPath } from '../fs-names.js';

interface ContextCases {
  walkListings: {
    cases: {
      test: string;
      tree: { path: string; type: 'file' | 'dir' }[];
      excludePatterns?: string[];
      includePatterns?: string[];
      expect?: string[];
      open?: { path: string; exists: boolean }[];
    }[];
  };
  invalidExcludes: { excludePatterns: string[]; dockerignore: string; expectError: boolean };
  buildContextScenarios: {
    cases: {
      test: string;
      files: Record<string, string>;
      present?: Record<string, string>;
      absent?: string[];
      runs?: { dockerfileName: string; ignoreFileUsed: string; present: string[]; absent: string[] }[];
      expectError?: boolean;
    }[];
  };
  classicBuilderRemoval: { cases: { test: string; files: Record<string, string>; remaining: string[] }[] };
}

const loadCases = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as ContextCases;

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-walk-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function collect(root: string, options?: WalkContextOptions): Promise<ContextEntry[]> {
  const out: ContextEntry[] = [];
  for await (const e of walkContext(root, options)) out.push(e);
  return out;
}

const listing = (entries: ContextEntry[]) => entries.map((e) => `${e.type} ${e.path}`);

async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, data] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), data);
  }
}

describeConformance('dockerignore/context-cases.json', 'conformance: context-cases.json walkListings', (file) => {
  const cases = loadCases(file);
  it('lists the filtered tree like fsutil, and opens single paths like fsutil', async () => {
    let listings = 0;
    let opens = 0;
    for (const [i, c] of cases.walkListings.cases.entries()) {
      const root = path.join(tmp, String(i));
      await mkdir(root);
      for (const t of c.tree) {
        if (t.type === 'dir') await mkdir(path.join(root, t.path), { recursive: true });
        else {
          await mkdir(path.dirname(path.join(root, t.path)), { recursive: true });
          await writeFile(path.join(root, t.path), t.path);
        }
      }
      const options = { excludes: c.excludePatterns, includes: c.includePatterns };
      if (c.expect) {
        expect({ test: c.test, i, got: listing(await collect(root, options)) }).toEqual({ test: c.test, i, got: c.expect });
        listings++;
      }
      const filter = new ContextFilter(options);
      for (const o of c.open ?? []) {
        expect({ test: c.test, path: o.path, exists: filter.allows(o.path) }).toEqual({ test: c.test, ...o });
        opens++;
      }
    }
    expect(listings + opens).toBeGreaterThan(0);
    console.log(`context-cases walkListings: ran ${cases.walkListings.cases.length} cases (${listings} listings, ${opens} open checks)`);
  });

  it('invalidExcludes: a lone "!" fails', async () => {
    expect(cases.invalidExcludes.expectError).toBe(true);
    await writeFiles(tmp, { '.dockerignore': cases.invalidExcludes.dockerignore, a: 'a' });
    const ignore = await loadIgnoreFile(tmp);
    await expect(collect(tmp, { excludes: cases.invalidExcludes.excludePatterns })).rejects.toMatchObject({
      code: 'DOCKERIGNORE_PATTERN',
      message: 'illegal exclusion pattern: "!"',
    });
    await expect(collect(tmp, { excludes: ignore.patterns })).rejects.toMatchObject({
      code: 'DOCKERIGNORE_PATTERN',
      message: 'illegal exclusion pattern: "!" (line 1)',
    });
    console.log('context-cases invalidExcludes: ran 1 case');
  });
});

describeConformance('dockerignore/context-cases.json', 'conformance: context-cases.json buildContextScenarios', (file) => {
  const cases = loadCases(file);
  it('decides which files the context holds', async () => {
    let n = 0;
    for (const [i, c] of cases.buildContextScenarios.cases.entries()) {
      const root = path.join(tmp, String(i));
      await writeFiles(root, c.files);
      n++;
      if (c.expectError) {
        const ignore = await loadIgnoreFile(root);
        await expect(collect(root, { excludes: ignore.patterns })).rejects.toBeInstanceOf(OcibuildError);
        continue;
      }
      const runs = c.runs ?? [{ dockerfileName: 'Dockerfile', ignoreFileUsed: '.dockerignore', present: Object.keys(c.present ?? {}), absent: c.absent ?? [] }];
      for (const run of runs) {
        const ignore = await loadIgnoreFile(root, path.join(root, run.dockerfileName));
        expect(ignore.name).toBe(run.ignoreFileUsed);
        const files = new Map((await collect(root, { excludes: ignore.patterns })).map((e) => [e.path, e] as const));
        for (const p of run.present) expect({ test: c.test, p, present: files.has(p) }).toEqual({ test: c.test, p, present: true });
        for (const p of run.absent) expect({ test: c.test, p, present: files.has(p) }).toEqual({ test: c.test, p, present: false });
        for (const [p, data] of Object.entries(c.present ?? {})) {
          expect(await readFile(files.get(p)!.absolutePath, 'utf8')).toBe(data);
        }
      }
    }
    expect(n).toBe(3);
    console.log(`context-cases buildContextScenarios: ran ${n} cases`);
  });

  it('classicBuilderRemoval (documentation: docker/cli + classic daemon, computed with our matcher)', async () => {
    let n = 0;
    for (const [i, c] of cases.classicBuilderRemoval.cases.entries()) {
      const root = path.join(tmp, String(i));
      await writeFiles(root, c.files);
      const ignore = await loadIgnoreFile(root);
      const patterns = ignore.patterns.map((p) => p.pattern);
      // docker/cli: always send the Dockerfile and .dockerignore (deprecated `matches`).
      const sent = [...patterns];
      if (matches('.dockerignore', patterns)) sent.push('!.dockerignore');
      if (matches('Dockerfile', patterns)) sent.push('!Dockerfile');
      const context = (await collect(root, { excludes: sent })).map((e) => e.path);
      // Daemon: after reading the Dockerfile, remove both if the patterns exclude them.
      const remaining = context.filter(
        (p) => !((p === '.dockerignore' || p === 'Dockerfile') && matchesOrParentMatches(p, patterns)),
      );
      expect({ test: c.test, remaining }).toEqual({ test: c.test, remaining: [...c.remaining].sort() });
      n++;
    }
    console.log(`context-cases classicBuilderRemoval: ran ${n} cases`);
  });
});

describe('walkContext', () => {
  it('visits entries in byte order, a directory before its contents', async () => {
    const names = ['b', 'B', 'a.b', 'a-b', 'a', 'é', '\u{1F600}', '\uffff', '_'];
    for (const n of names) await writeFile(path.join(tmp, n), n);
    await mkdir(path.join(tmp, 'a0'));
    await writeFile(path.join(tmp, 'a0', 'z'), '');
    await writeFile(path.join(tmp, 'a0', 'y'), '');
    const got = (await collect(tmp)).map((e) => e.path);
    const expected = [...names, 'a0'].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expected.splice(expected.indexOf('a0') + 1, 0, 'a0/y', 'a0/z');
    expect(got).toEqual(expected);
  });

  it('never follows symlinks and reports lstat data', async () => {
    await mkdir(path.join(tmp, 'real'));
    await writeFile(path.join(tmp, 'real', 'f'), 'abc');
    await symlink('real', path.join(tmp, 'link'));
    await symlink('/etc/passwd', path.join(tmp, 'abs'));
    await symlink('missing', path.join(tmp, 'dangling'));
    const got = await collect(tmp);
    expect(listing(got)).toEqual(['symlink abs', 'symlink dangling', 'symlink link', 'dir real', 'file real/f']);
    const f = got.find((e) => e.path === 'real/f')!;
    expect(f.stat.size).toBe(3);
    expect(f.absolutePath).toBe(path.join(tmp, 'real', 'f'));
  });

  it('lists an excluded directory only when something below it is kept, including via glob exceptions', async () => {
    await writeFiles(tmp, { 'foo/keep': '', 'foo/drop': '', 'foo/sub/keep': '', 'bar/x': '', 'y.log': '', 'z.txt': '' });
    expect(listing(await collect(tmp, { excludes: ['foo', '!**/keep', 'bar', '*.log'] }))).toEqual([
      'dir foo',
      'file foo/keep',
      'dir foo/sub',
      'file foo/sub/keep',
      'file z.txt',
    ]);
    expect(listing(await collect(tmp, { excludes: ['foo', 'bar'], includes: ['foo', 'z.txt'] }))).toEqual(['file z.txt']);
  });

  it('skips excluded subtrees when no exception can reach below them (fsutil prefix rule)', () => {
    const f = new ContextFilter({ excludes: ['node_modules', 'build', '!build/keep/**', 'docs'] });
    expect(f.canSkipExcludedDir('node_modules')).toBe(true);
    expect(f.canSkipExcludedDir('build')).toBe(false);
    expect(f.canSkipExcludedDir('build/keep')).toBe(false);
    expect(f.canSkipExcludedDir('build/other')).toBe(true);
    const g = new ContextFilter({ excludes: ['node_modules', '!**/keep'] });
    expect(g.canSkipExcludedDir('node_modules')).toBe(false);
    const h = new ContextFilter({ excludes: ['x'] });
    expect(h.canSkipExcludedDir('x')).toBe(true);
  });

  it('explains why a single path is not in the context', async () => {
    await writeFile(path.join(tmp, '.dockerignore'), '# c\nsecret*\n!secret.pub\n');
    const ignore = await loadIgnoreFile(tmp);
    const f = new ContextFilter({ excludes: ignore.patterns });
    const r = f.check('./secret.key');
    expect(r.allowed).toBe(false);
    expect(r.excludedBy?.line).toBe(2);
    expect(r.excludedBy?.toString()).toBe('secret*');
    expect(f.check('secret.pub')).toEqual({ allowed: true });
    expect(new ContextFilter({ includes: ['a'] }).check('b')).toEqual({ allowed: false, notIncluded: true });
  });

  it('decides single paths exactly like the walk (BuildKit incremental semantics), even where matchesOrParentMatches differs', async () => {
    await writeFiles(tmp, { 'a/b/x': '', 'a/c': '' });
    const excludes = ['a/b', '!a'];
    expect(matchesOrParentMatches('a/b/x', excludes)).toBe(false);
    expect(listing(await collect(tmp, { excludes }))).toEqual(['dir a', 'file a/c']);
    const f = new ContextFilter({ excludes });
    expect(f.check('a/b/x')).toMatchObject({ allowed: false });
    expect(f.check('a/b/x').excludedBy?.toString()).toBe('a/b');
  });

  it('agrees with itself: check() allows exactly the files the walk lists (seeded random trees and patterns)', async () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 16) % n; // the low bits of this LCG are not random
    };
    const dirNames = ['a', 'b', 'd1', 'kd'];
    const fileNames = ['f', 'ab', 'x.log', 'keep', '.hidden'];
    const atoms = ['a', 'b', 'a', 'b', '*', '**', 'keep', '*.log', 'd1', 'a*', '?b', '.*', 'kd', 'f'];
    let checked = 0;
    let kept = 0;
    for (let round = 0; round < 40; round++) {
      const root = path.join(tmp, `r${round}`);
      const files: string[] = [];
      for (let k = 0; k < 12; k++) {
        const dirs = Array.from({ length: rand(3) }, () => dirNames[rand(dirNames.length)]!);
        files.push([...dirs, fileNames[rand(fileNames.length)]!].join('/'));
      }
      await writeFiles(root, Object.fromEntries(files.map((f) => [f, ''])));
      const patterns = Array.from({ length: 1 + rand(4) }, () => {
        const pat = Array.from({ length: 1 + rand(3) }, () => atoms[rand(atoms.length)]!).join('/');
        return rand(2) === 0 ? '!' + pat : pat;
      });
      const listed = new Set((await collect(root, { excludes: patterns })).filter((e) => e.type === 'file').map((e) => e.path));
      const filter = new ContextFilter({ excludes: patterns });
      for (const f of new Set(files)) {
        expect({ patterns, f, allowed: filter.allows(f) }).toEqual({ patterns, f, allowed: listed.has(f) });
        checked++;
        if (listed.has(f)) kept++;
      }
    }
    expect(checked).toBeGreaterThan(100);
    // Both outcomes are well represented.
    expect(kept).toBeGreaterThan(checked / 10);
    expect(checked - kept).toBeGreaterThan(checked / 10);
    console.log(`walk/check agreement: ${checked} paths, ${kept} kept`);
  });

  it('accepts a root that is a symlink to the context directory', async () => {
    await writeFiles(tmp, { 'ctx/a': 'a' });
    await symlink(path.join(tmp, 'ctx'), path.join(tmp, 'ctxlink'));
    expect(listing(await collect(path.join(tmp, 'ctxlink')))).toEqual(['file a']);
  });

  it('keeps a file name that is not valid UTF-8 (issue 7: names are bytes), never dropping it', async () => {
    await writeFile(Buffer.concat([Buffer.from(tmp + '/bad'), Buffer.from([0xff])]), 'x');
    await mkdir(Buffer.concat([Buffer.from(tmp + '/d'), Buffer.from([0xe9])]));
    await writeFile(Buffer.concat([Buffer.from(tmp + '/d'), Buffer.from([0xe9]), Buffer.from('/in')]), 'y');
    const entries = await collect(tmp);
    expect(entries.map((e) => encodeFsName(e.path).toString('hex'))).toEqual(
      [Buffer.from([0x62, 0x61, 0x64, 0xff]), Buffer.from([0x64, 0xe9]), Buffer.from([0x64, 0xe9, 0x2f, 0x69, 0x6e])].map((b) => b.toString('hex')),
    );
    expect(entries.map((e) => e.type)).toEqual(['file', 'dir', 'file']);
    expect(readFileSync(fsPath(entries[2]!.absolutePath), 'utf8')).toBe('y');
  });

  it('fails clearly for a missing or non-directory root, and honours an abort signal', async () => {
    await expect(collect(path.join(tmp, 'nope'))).rejects.toMatchObject({ code: 'CONTEXT_NOT_FOUND' });
    await writeFile(path.join(tmp, 'file'), '');
    await expect(collect(path.join(tmp, 'file'))).rejects.toMatchObject({ code: 'CONTEXT_NOT_FOUND' });
    const ac = new AbortController();
    ac.abort();
    await expect(collect(tmp, { signal: ac.signal })).rejects.toThrow();
  });

  it('walks 20,000 files (the COPY hot path)', async () => {
    const root = path.join(tmp, 'big');
    const dirs = 200;
    const per = 100;
    for (let d = 0; d < dirs; d++) {
      const dir = path.join(root, `d${String(d).padStart(3, '0')}`);
      await mkdir(dir, { recursive: true });
      await Promise.all(Array.from({ length: per }, (_, f) => writeFile(path.join(dir, `f${f}.txt`), 'x')));
    }
    await writeFile(path.join(root, 'd000', 'skip.log'), '');
    const start = process.hrtime.bigint();
    const entries = await collect(root, { excludes: ['**/*.log', 'd199', '!d199/f1.txt'] });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    // 199 full dirs + d199 listed for its one kept file.
    expect(entries.length).toBe(199 * (per + 1) + 2);
    expect(entries.some((e) => e.path.endsWith('.log'))).toBe(false);
    console.log(`walkContext: ${entries.length} entries in ${ms.toFixed(0)} ms`);
  });
});
