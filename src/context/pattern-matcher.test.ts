import { readFileSync } from 'node:fs';
import { describeConformance } from '../../test/conformance.js';
import { OcibuildError } from '../errors.js';
import { compareUtf8, goClean, goMatch, goTrimSpace, BadPatternError } from './go-path.js';
import { formatExclusion, matches, matchesOrParentMatches, PatternMatcher } from './pattern-matcher.js';
import { readIgnorePatterns } from './ignore-file.js';
import { compileRe2, Re2SyntaxError } from './re2.js';


interface Case {
  pattern?: string;
  patterns?: string[];
  path: string;
  match?: boolean;
  error?: string;
  unixOnly?: boolean;
  api?: string;
}
interface Tables {
  matchesTable: { cases: Case[] };
  multiPatternTable: { cases: Case[] };
  filepathMatchTable: { cases: Case[] };
  simpleCases: { cases: Case[] };
  constructionCases: {
    cases: {
      patterns: string[];
      expectPatternCount?: number;
      expectHasExclusions?: boolean;
      expectError?: string;
      expectNoError?: boolean;
      thenMatchesOrParentMatches?: { path: string; expectError: string; repeatable: boolean };
    }[];
  };
  compileTable: { cases: { pattern: string; matchType: string; regexp?: string }[] };
}


function patternError(fn: () => unknown): OcibuildError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OcibuildError);
    expect((e as OcibuildError).code).toBe('DOCKERIGNORE_PATTERN');
    return e as OcibuildError;
  }
  throw new Error('expected a pattern error');
}

/** Every ancestor-first walk of `p`, as BuildKit's walker feeds matchesUsingParentResults. */
function viaParentResults(pm: PatternMatcher, p: string): boolean {
  const parts = p.split('/');
  let info;
  let result = false;
  for (let i = 1; i <= parts.length; i++) {
    const r = pm.matchesUsingParentResults(parts.slice(0, i).join('/'), info);
    info = r.info;
    result = r.matched;
  }
  return result;
}

describeConformance('dockerignore/patternmatcher-cases.json', 'conformance: dockerignore/patternmatcher-cases.json', (casesFile) => {
  const tables = JSON.parse(readFileSync(casesFile, 'utf8')) as Tables;
  it('matchesTable (matchesOrParentMatches and matchesUsingParentResults)', () => {
    let n = 0;
    for (const c of tables.matchesTable.cases) {
      const pm = new PatternMatcher([c.pattern!]);
      expect({ c, got: pm.matchesOrParentMatches(c.path) }).toEqual({ c, got: c.match });
      expect({ c, incremental: viaParentResults(pm, c.path) }).toEqual({ c, incremental: c.match });
      expect({ c, noParentInfo: pm.matchesUsingParentResults(c.path).matched }).toEqual({ c, noParentInfo: c.match });
      n++;
    }
    expect(n).toBe(68);
    console.log(`patternmatcher matchesTable: ran ${n} cases`);
  });

  it('multiPatternTable', () => {
    let n = 0;
    for (const c of tables.multiPatternTable.cases) {
      const pm = new PatternMatcher(c.patterns!);
      expect({ c, got: pm.matchesOrParentMatches(c.path) }).toEqual({ c, got: c.match });
      expect({ c, incremental: viaParentResults(pm, c.path) }).toEqual({ c, incremental: c.match });
      n++;
    }
    expect(n).toBe(4);
    console.log(`patternmatcher multiPatternTable: ran ${n} cases`);
  });

  it('filepathMatchTable (deprecated matches helper, Go filepath.Match syntax)', () => {
    let n = 0;
    let errors = 0;
    for (const c of tables.filepathMatchTable.cases) {
      n++;
      if (c.error) {
        errors++;
        const e = patternError(() => matches(c.path, [c.pattern!]));
        expect(e.message).toMatch(/^syntax error in pattern/);
        continue;
      }
      expect({ c, got: matches(c.path, [c.pattern!]) }).toEqual({ c, got: c.match });
    }
    expect(n).toBe(54);
    console.log(`patternmatcher filepathMatchTable: ran ${n} cases (${errors} bad patterns)`);
  });

  it('simpleCases', () => {
    let n = 0;
    for (const c of tables.simpleCases.cases) {
      n++;
      expect(c.api).toBe('matches');
      if (c.error) {
        const e = patternError(() => matches(c.path, c.patterns!));
        if (c.error === 'bad pattern') expect(e.message).toMatch(/^syntax error in pattern/);
        else expect(e.message).toBe(c.error);
        continue;
      }
      expect({ c, got: matches(c.path, c.patterns!) }).toEqual({ c, got: c.match });
    }
    expect(n).toBe(11);
    console.log(`patternmatcher simpleCases: ran ${n} cases`);
  });

  it('constructionCases', () => {
    let n = 0;
    for (const c of tables.constructionCases.cases) {
      n++;
      if (c.expectError) {
        expect(patternError(() => new PatternMatcher(c.patterns)).message).toBe(c.expectError);
        continue;
      }
      const pm = new PatternMatcher(c.patterns);
      if (c.expectPatternCount !== undefined) expect(pm.patterns.length).toBe(c.expectPatternCount);
      if (c.expectHasExclusions !== undefined) expect(pm.hasExclusions).toBe(c.expectHasExclusions);
      if (c.thenMatchesOrParentMatches) {
        const t = c.thenMatchesOrParentMatches;
        for (let k = 0; k < (t.repeatable ? 3 : 1); k++) {
          expect(patternError(() => pm.matchesOrParentMatches(t.path)).message).toMatch(/^syntax error in pattern/);
        }
      }
    }
    expect(n).toBe(7);
    console.log(`patternmatcher constructionCases: ran ${n} cases`);
  });

  it('compileTable: same classification, and regexps that match like upstream', () => {
    const probes = ['', 'a', 'abc', 'file', 'file.txt', 'dir/file', 'dir2/x', 'a/dir2/x', 'a/b/dir2/x/y', 'x/file1txt', 'abc.def', 'abcxdef', '.hidden', 'a/b', 'abc/b', 'abe', 'x/y.txt', 'y.txt'];
    let n = 0;
    for (const c of tables.compileTable.cases) {
      n++;
      const pm = new PatternMatcher([c.pattern]);
      expect({ p: c.pattern, kind: pm.patterns[0]!.kind }).toEqual({ p: c.pattern, kind: c.matchType });
      if (c.regexp) {
        const upstream = new RegExp(c.regexp);
        for (const probe of probes) {
          expect({ p: c.pattern, probe, m: pm.patterns[0]!.match(probe) }).toEqual({ p: c.pattern, probe, m: upstream.test(probe) });
        }
      }
    }
    expect(n).toBe(21);
    console.log(`patternmatcher compileTable: ran ${n} cases`);
  });
});

describe('PatternMatcher beyond the tables', () => {
  it('says which pattern (and ignore-file line) excluded a path', () => {
    const pm = new PatternMatcher(readIgnorePatterns('# c\n*.md\n\n!README.md\ndocs/\n'));
    const r = pm.explain('docs/guide/x.txt');
    expect(r.matched).toBe(true);
    expect(r.by?.line).toBe(5);
    expect(r.by?.toString()).toBe('docs');
    expect(formatExclusion('docs/guide/x.txt', r.by)).toBe('"docs/guide/x.txt" is excluded by .dockerignore line 5: docs');
    expect(pm.explain('a.md').by?.line).toBe(2);
    expect(pm.explain('README.md')).toMatchObject({ matched: false });
    expect(pm.explain('README.md').by?.line).toBe(4);
  });

  it('reports the line of a bad pattern', () => {
    const e = patternError(() => new PatternMatcher(readIgnorePatterns('ok\n[a-\n')));
    expect(e.message).toBe('syntax error in pattern: "[a-" (line 2)');
    expect(patternError(() => new PatternMatcher(readIgnorePatterns('a\n!\n'))).message).toBe('illegal exclusion pattern: "!" (line 2)');
  });

  it('treats regexp metacharacters literally and RE2 escapes like RE2', () => {
    expect(matchesOrParentMatches('a.b', ['a.b'])).toBe(true);
    expect(matchesOrParentMatches('axb', ['a.b'])).toBe(false);
    expect(matchesOrParentMatches('a+(b)|{c}$', ['a+(b)|{c}$*'])).toBe(true);
    // Upstream passes classes and escapes through to RE2.
    // filepath.Match would read a class {[,:,d,i,g,t} then "]"; RE2 reads a POSIX class.
    expect(matchesOrParentMatches('x7', ['x[[:digit:]]'])).toBe(true);
    expect(matchesOrParentMatches('x:]', ['x[[:digit:]]'])).toBe(false);
    expect(matchesOrParentMatches('x7', ['x\\d'])).toBe(true); // \d is RE2's digit class
    expect(matchesOrParentMatches('xd', ['x\\d'])).toBe(false);
    expect(matchesOrParentMatches('x*', ['x\\*'])).toBe(true);
    expect(patternError(() => matchesOrParentMatches('x', ['x\\q'])).message).toMatch(/^syntax error in pattern/);
    expect(patternError(() => matchesOrParentMatches('b', ['[z-a]'])).message).toMatch(/^syntax error in pattern/);
    // A ^ outside a class is RE2's begin-of-text in regexp patterns: never matches mid-pattern.
    expect(matchesOrParentMatches('a^b', ['a^b'])).toBe(true); // exact pattern: literal
    expect(matchesOrParentMatches('a^bc', ['a^b*'])).toBe(false);
  });

  it('matches directories and their contents, ** anywhere', () => {
    const pm = new PatternMatcher(['node_modules', '**/*.log', '!keep/**/*.log', 'tmp/**']);
    expect(pm.matchesOrParentMatches('node_modules/a/b.js')).toBe(true);
    expect(pm.matchesOrParentMatches('src/x.log')).toBe(true);
    expect(pm.matchesOrParentMatches('x.log')).toBe(true);
    expect(pm.matchesOrParentMatches('keep/a/x.log')).toBe(false);
    expect(pm.matchesOrParentMatches('tmp')).toBe(false);
    expect(pm.matchesOrParentMatches('tmp/a')).toBe(true);
  });

  it('the deprecated matches tries only the parent at the pattern depth', () => {
    expect(matches('dir/file', ['**/dir'])).toBe(false);
    expect(matchesOrParentMatches('dir/file', ['**/dir'])).toBe(true);
    expect(matches('.', ['*'])).toBe(false);
  });
});

describe('Go helpers', () => {
  it('goClean', () => {
    expect(goClean('')).toBe('.');
    expect(goClean('a//b/./c/..')).toBe('a/b');
    expect(goClean('/../a')).toBe('/a');
    expect(goClean('../a/../../b')).toBe('../../b');
    expect(goClean('a/')).toBe('a');
    expect(goClean('!foo/../bar')).toBe('bar');
    expect(goClean('/')).toBe('/');
  });

  it('goTrimSpace trims White_Space only', () => {
    expect(goTrimSpace(' \t\u0085x\u00a0 ')).toBe('x');
    expect(goTrimSpace('\ufeffx')).toBe('\ufeffx');
  });

  it('compareUtf8 is byte order', () => {
    const names = ['b', 'B', '\u{1F600}', '\uffff', 'a', 'a-b', 'a.b', 'ab'];
    const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...names].sort(compareUtf8)).toEqual(byBytes);
  });

  it('goMatch', () => {
    expect(goMatch('a*/b', 'abc/b')).toBe(true);
    expect(goMatch('[\\]a]', ']')).toBe(true);
    expect(() => goMatch('a[', 'x')).toThrow(BadPatternError);
    expect(() => goMatch('*x[', 'abc')).toThrow(BadPatternError);
  });

  it('compileRe2 rejects what RE2 rejects', () => {
    for (const bad of ['a**', '*', '[z-a]', '\\8', '\\xg1', '(a', 'a)', '[[:foo:]]', '\\']) {
      expect(() => compileRe2(bad)).toThrow(Re2SyntaxError);
    }
    expect(compileRe2('^[^/]*\\.go$').test('x.go')).toBe(true);
    expect(compileRe2('^a.b$').test('a\nb')).toBe(false);
    expect(compileRe2('^[^a]$').test('\n')).toBe(true);
    expect(compileRe2('^\\x41\\101\\x{42}$').test('AAB')).toBe(true);
    expect(compileRe2('^\\pL+$').test('héllo')).toBe(true);
    expect(compileRe2('^\\p{Greek}$').test('α')).toBe(true);
    expect(compileRe2('^[]a]$').test(']')).toBe(true);
    expect(compileRe2('^\\Q*+\\E$').test('*+')).toBe(true);
  });
});

describe('PatternMatcher robustness', () => {
  it('never throws anything but OcibuildError on random patterns and paths (seeded)', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 16) % n;
    };
    const alphabet = ['*', '?', '[', ']', '^', '-', '\\', '/', '!', '.', 'a', 'b', 'z', ':', '{', '}', '(', ')', '$', '+', '|', 'd', 'p', 'Q', 'E', 'x', '1', ' '];
    const paths = ['a', 'a/b', 'ab/c/d', '.a', 'z', 'a-b', '[a]', 'x1', 'a/b/c/d/e'];
    let bad = 0;
    let matched = 0;
    for (let i = 0; i < 20000; i++) {
      const n = 1 + rand(3);
      const patterns: string[] = [];
      for (let k = 0; k < n; k++) {
        let p = '';
        const len = 1 + rand(8);
        for (let j = 0; j < len; j++) p += alphabet[rand(alphabet.length)];
        patterns.push(p);
      }
      try {
        const pm = new PatternMatcher(patterns);
        for (const path of paths) if (pm.matchesOrParentMatches(path)) matched++;
        pm.matches(paths[rand(paths.length)]!);
      } catch (e) {
        if (!(e instanceof OcibuildError)) throw new Error(`patterns ${JSON.stringify(patterns)} threw ${String(e)}`);
        bad++;
      }
    }
    expect(bad).toBeGreaterThan(100);
    expect(matched).toBeGreaterThan(100);
  });
});
