import { readFileSync } from 'node:fs';
import { describeConformance } from '../../test/conformance.js';
import { OcibuildError } from '../errors.js';
import { envFromList, goQuote, processWord, processWords, shellPatternToRegex } from './shell-lex.js';


function expansionError(fn: () => unknown): OcibuildError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OcibuildError);
    expect((e as OcibuildError).code).toBe('DOCKERFILE_EXPANSION');
    return e as OcibuildError;
  }
  throw new Error('expected an expansion error');
}

const sorted = (s: Set<string>) => [...s].sort();

describeConformance('buildkit-shell/envVarTest', 'conformance: buildkit-shell/envVarTest (ProcessWord)', (file) => {
  const lines = readFileSync(file, 'utf8').split('\n');
  const env = new Map([
    ['PWD', '/home'],
    ['SHELL', 'bash'],
    ['KOREAN', '한국어'],
    ['NULL', ''],
  ]);
  const rows: { platform: string; input: string; expected: string; line: number }[] = [];
  lines.forEach((line, i) => {
    if (line.startsWith('#') || line.trim() === '') return;
    const fields = line.split('|');
    if (fields.length !== 3) throw new Error(`envVarTest:${i + 1}: expected 3 fields`);
    rows.push({ platform: fields[0]!.trim(), input: fields[1]!.trim(), expected: fields[2]!.trim(), line: i + 1 });
  });
  const unix = rows.filter((r) => r.platform === 'A' || r.platform === 'U');
  const windows = rows.filter((r) => r.platform === 'W');

  it('runs every A and U row', () => {
    expect(unix.length).toBe(228);
    let errors = 0;
    for (const r of unix) {
      if (r.expected === 'error') {
        errors++;
        expansionError(() => processWord(r.input, env));
      } else {
        expect({ line: r.line, out: processWord(r.input, env).result }).toEqual({ line: r.line, out: r.expected });
      }
    }
    expect(errors).toBe(36);
    console.log(`envVarTest: ran ${unix.length} Unix rows (${errors} error rows)`);
  });

  it('runs the W rows with case-insensitive names', () => {
    expect(windows.length).toBe(2);
    for (const r of windows) {
      expect(processWord(r.input, env, { caseInsensitiveEnv: true }).result).toBe(r.expected);
    }
    console.log(`envVarTest: ran ${windows.length} Windows-only rows`);
  });
});

describeConformance('buildkit-shell/wordsTest', 'conformance: buildkit-shell/wordsTest (ProcessWords)', (wordsFile) => {
  it('runs every row', () => {
    const lines = readFileSync(wordsFile, 'utf8').split('\n');
    const env = new Map<string, string>();
    let count = 0;
    let envLines = 0;
    lines.forEach((line, i) => {
      if (line.startsWith('#')) return;
      if (line.startsWith('ENV ')) {
        const kv = line.slice(4).replace(/^ +/, '');
        const eq = kv.indexOf('=');
        env.set(kv.slice(0, eq), kv.slice(eq + 1));
        envLines++;
        return;
      }
      if (line === '') return;
      const parts = line.split('|');
      if (parts.length !== 2) throw new Error(`wordsTest:${i + 1}: expected one |`);
      const input = parts[0]!.trim();
      const expected = parts[1]!.replace(/^ +/, '').split(',');
      count++;
      if (expected.length === 1 && expected[0] === 'error') {
        expansionError(() => processWords(input, env));
      } else {
        expect({ line: i + 1, words: processWords(input, env).words }).toEqual({ line: i + 1, words: expected });
      }
    });
    expect(count).toBe(24);
    expect(envLines).toBe(4);
    console.log(`wordsTest: ran ${count} rows (${envLines} ENV lines)`);
  });
});

interface ShellCases {
  processWordWithMatches: {
    cases: {
      input: string;
      envs: Record<string, string>;
      expected?: string;
      expectError?: boolean;
      matches: string[];
      unmatched: string[];
      notGuaranteed?: boolean;
    }[];
  };
  mandatoryVars: { cases: { input: string; env: string[]; expected?: string; expectErrorContains?: string }[] };
  platformFilename: { input: string; cases: { envs: Record<string, string>; expected: string }[] };
  envFromList: { cases: { env: string[]; lookup: string; value: string }[] };
  shellPatternToRegex: { valid: { pattern: string; regexp: string }[]; invalid: string[] };
}

describeConformance('buildkit-shell/shell-cases.json', 'conformance: buildkit-shell/shell-cases.json', (file) => {
  const cases = JSON.parse(readFileSync(file, 'utf8')) as ShellCases;

  it('processWordWithMatches: result and matched/unmatched sets', () => {
    let n = 0;
    for (const c of cases.processWordWithMatches.cases) {
      const env = new Map(Object.entries(c.envs));
      n++;
      if (c.expectError) {
        expansionError(() => processWord(c.input, env));
        continue;
      }
      const r = processWord(c.input, env);
      expect({ input: c.input, result: r.result, matched: sorted(r.matched), unmatched: sorted(r.unmatched) }).toEqual({
        input: c.input,
        result: c.expected,
        matched: [...c.matches].sort(),
        unmatched: [...c.unmatched].sort(),
      });
    }
    expect(n).toBe(cases.processWordWithMatches.cases.length);
    console.log(`shell-cases processWordWithMatches: ran ${n} cases`);
  });

  it('mandatoryVars: ${VAR?msg} and ${VAR:?msg}', () => {
    for (const c of cases.mandatoryVars.cases) {
      const env = envFromList(c.env);
      if (c.expectErrorContains !== undefined) {
        const e = expansionError(() => processWord(c.input, env));
        expect(e.message).toContain(c.expectErrorContains);
      } else {
        expect(processWord(c.input, env).result).toBe(c.expected);
      }
    }
    console.log(`shell-cases mandatoryVars: ran ${cases.mandatoryVars.cases.length} cases`);
  });

  it('platformFilename', () => {
    for (const c of cases.platformFilename.cases) {
      expect(processWord(cases.platformFilename.input, new Map(Object.entries(c.envs))).result).toBe(c.expected);
    }
    console.log(`shell-cases platformFilename: ran ${cases.platformFilename.cases.length} cases`);
  });

  it('envFromList: last wins, bare KEY is empty', () => {
    for (const c of cases.envFromList.cases) {
      expect(envFromList(c.env).get(c.lookup) ?? '').toBe(c.value);
    }
    expect(envFromList(['foo']).has('foo')).toBe(true);
    expect(envFromList(['a=b=c']).get('a')).toBe('b=c');
    console.log(`shell-cases envFromList: ran ${cases.envFromList.cases.length} cases`);
  });

  it('shellPatternToRegex: valid patterns behave like the upstream regexps, invalid ones are rejected', () => {
    for (const v of cases.shellPatternToRegex.valid) {
      // Our regexp is JS (u-mode), so compare behaviour: it must match what the RE2 regexp matches.
      const ours = shellPatternToRegex(v.pattern, true, true);
      const theirs = new RegExp(v.regexp);
      for (const probe of ['', 'a', 'abc', '*', '*x', '(()[]{}^$.*?|\\', '(()[]{}^$.*?|\\tail', '\\', '?']) {
        ours.lastIndex = 0;
        expect({ p: v.pattern, probe, m: ours.exec(probe)?.[0] ?? null }).toEqual({
          p: v.pattern,
          probe,
          m: theirs.exec(probe)?.[0] ?? null,
        });
      }
    }
    for (const p of cases.shellPatternToRegex.invalid) {
      expect(() => shellPatternToRegex(p)).toThrow(OcibuildError);
      expansionError(() => processWord(`\${X#${p}}`, new Map([['X', 'x']])));
    }
    console.log(
      `shell-cases shellPatternToRegex: ran ${cases.shellPatternToRegex.valid.length} valid + ${cases.shellPatternToRegex.invalid.length} invalid`,
    );
  });
});

describe('shell-lex messages and options', () => {
  const env = new Map([
    ['A', 'a b'],
    ['E', ''],
  ]);

  it('uses BuildKit messages wrapped with the word', () => {
    expect(expansionError(() => processWord('${}', env)).message).toBe('failed to process "${}": syntax error: bad substitution');
    expect(expansionError(() => processWord('x${A', env)).details?.reason).toBe('unsupported modifier (\ufffd) in substitution');
    expect(expansionError(() => processWord('${A:-x', env)).details?.reason).toBe("syntax error: missing '}'");
    expect(expansionError(() => processWord('${', env)).details?.reason).toBe("syntax error: missing '}'");
    expect(expansionError(() => processWord('${A=x}', env)).details?.reason).toBe('unsupported modifier (=) in substitution');
    expect(expansionError(() => processWord('${A:=x}', env)).details?.reason).toBe('unsupported modifier (:=) in substitution');
    expect(expansionError(() => processWord('${A:#x}', env)).details?.reason).toBe('unsupported modifier (:#) in substitution');
    expect(expansionError(() => processWord('${U?}', env)).details?.reason).toBe('U: is not allowed to be unset');
    expect(expansionError(() => processWord('${E:?}', env)).details?.reason).toBe('E: is not allowed to be empty');
    expect(expansionError(() => processWord('${U?set it}', env)).details?.reason).toBe('U: set it');
    expect(expansionError(() => processWord('${A/x', env)).details?.reason).toBe("syntax error: missing '/' in ${}");
    expect(expansionError(() => processWord("'x", env)).details?.reason).toBe(
      'unexpected end of statement while looking for matching single-quote',
    );
    expect(expansionError(() => processWord('${A#\\x}', env)).details?.reason).toBe("invalid pattern (\\x) in substitution: invalid escape '\\x'");
    expect(expansionError(() => processWord('"\u00a0\n', env)).message).toBe(
      'failed to process "\\"\\u00a0\\n": unexpected end of statement while looking for matching double-quote',
    );
  });

  it('goQuote follows strconv.Quote', () => {
    expect(goQuote('a"b\\c\t\x00\x7f♥\u00a0\u{1F600}\u200b')).toBe('"a\\"b\\\\c\\t\\x00\\x7f♥\\u00a0\u{1F600}\\u200b"');
  });

  it('honours the backtick escape token', () => {
    expect(processWord('a`$A`"b', env, { escapeToken: '`' }).result).toBe('a$A"b');
    expect(processWord('a\\b', env, { escapeToken: '`' }).result).toBe('a\\b');
    expect(processWord('"x`"y"', env, { escapeToken: '`' }).result).toBe('x"y');
  });

  it('rawQuotes keeps quotes, skipUnsetEnv keeps unset references', () => {
    expect(processWord(`"$A" 'b'`, env, { rawQuotes: true }).result).toBe(`"a b" 'b'`);
    expect(processWord('$U ${U} ${U:-x} ${U/a/b} $A', env, { skipUnsetEnv: true }).result).toBe('$U ${U} ${U:-x} ${U/a/b} a b');
    expect(processWord('${E:-x}', env, { skipUnsetEnv: true }).result).toBe('x');
  });

  it('rawEscapes and skipProcessQuotes (heredoc mode)', () => {
    expect(processWord('a\\$A "q"', env, { rawEscapes: true, skipProcessQuotes: true }).result).toBe('a\\$A "q"');
    expect(processWord(`'$A'`, env, { skipProcessQuotes: true }).result).toBe(`'a b'`);
  });

  it('accepts a lookup function and records matches', () => {
    const r = processWord('$X-${Y:-d}', (n) => (n === 'X' ? '1' : undefined));
    expect(r.result).toBe('1-d');
    expect(sorted(r.matched)).toEqual(['X']);
    expect(sorted(r.unmatched)).toEqual(['Y']);
  });

  it('pattern modifiers: shortest/longest prefix and suffix, replace first/all', () => {
    const e = new Map([['P', '/usr/local/lib/file.tar.gz']]);
    expect(processWord('${P#*/}', e).result).toBe('usr/local/lib/file.tar.gz');
    expect(processWord('${P##*/}', e).result).toBe('file.tar.gz');
    expect(processWord('${P%.*}', e).result).toBe('/usr/local/lib/file.tar');
    expect(processWord('${P%%.*}', e).result).toBe('/usr/local/lib/file');
    expect(processWord('${P/l/L}', e).result).toBe('/usr/Local/lib/file.tar.gz');
    expect(processWord('${P//l/L}', e).result).toBe('/usr/LocaL/Lib/fiLe.tar.gz');
    expect(processWord('${P//?/x}', new Map([['P', 'a😀b']])).result).toBe('xxx');
    expect(processWord('${P%\\}}', new Map([['P', 'a}']])).result).toBe('a');
    // Go's ReplaceAllString: an empty match right after a match is not replaced; $0 is the match.
    expect(processWord('${P//*/-}', new Map([['P', 'ab']])).result).toBe('-');
    // The replacement is expanded by the lexer first ($0 is a special parameter, empty);
    // an escaped \$0 survives (raw escapes) and Go's template then inserts the match.
    expect(processWord('${P//b/<$0>}', new Map([['P', 'abc']])).result).toBe('a<>c');
    expect(processWord('${P//b/<\\$0>}', new Map([['P', 'abc']])).result).toBe('a<\\b>c');
    expect(processWord('${P/b/<\\$0>}', new Map([['P', 'abc']])).result).toBe('a<\\$0>c');
  });

  it('splits only on unquoted whitespace, including from variable values', () => {
    expect(processWords('x$A "$A" y', env).words).toEqual(['xa', 'b', 'a b', 'y']);
    expect(processWords('a${U:-b c}d', env).words).toEqual(['ab', 'cd']);
    expect(processWords('""', env).words).toEqual([]);
  });

  it('drops a leading BOM like Go text/scanner', () => {
    expect(processWord('\ufeff$A', env).result).toBe('a b');
  });

  it('rejects a bad escape token option', () => {
    expect(() => processWord('x', env, { escapeToken: 'x' as '\\' })).toThrow(OcibuildError);
  });
});

describe('shell-lex robustness', () => {
  it('never throws anything but OcibuildError on random input (seeded)', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 16) % n;
    };
    const alphabet = ['$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\\', '`', "'", '"', ' ', 'a', 'B', '_', '1', '*', '@', '!', '=', '\n', 'é', '😀', '\ufeff'];
    const env = new Map([
      ['a', 'x*y'],
      ['B', ''],
      ['a1', 'a b'],
    ]);
    let errors = 0;
    for (let i = 0; i < 20000; i++) {
      const len = rand(16);
      let w = '';
      for (let k = 0; k < len; k++) w += alphabet[rand(alphabet.length)];
      const options = { escapeToken: rand(2) === 0 ? '\\' : '`', rawQuotes: rand(4) === 0, skipUnsetEnv: rand(4) === 0 } as const;
      try {
        const r = processWord(w, env, options);
        expect(typeof r.result).toBe('string');
        processWords(w, env, options);
      } catch (e) {
        if (!(e instanceof OcibuildError)) throw new Error(`input ${JSON.stringify(w)} threw ${String(e)}`);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(1000);
  });
});
