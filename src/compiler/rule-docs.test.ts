/**
 * Every "❌ Bad" example of BuildKit's rule docs (../shared/conformance/docs/rules)
 * triggers its rule, and every "✅ Good" example does not.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { parseDockerfile } from '../parser/index.js';
import { checkDockerfile } from './compile.js';
import { LINT_RULES } from './lint.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const rulesDir = path.resolve(repoRoot, '../shared/conformance/docs/rules');

interface Example {
  rule: string;
  bad: boolean;
  dockerfile: string;
  ignore?: string[];
}

function examples(): Example[] {
  const out: Example[] = [];
  for (const f of fs.readdirSync(rulesDir).sort()) {
    if (f.startsWith('_')) continue;
    const text = fs.readFileSync(path.join(rulesDir, f), 'utf8');
    const rule = /^title: (\S+)/m.exec(text)?.[1] as string;
    const lines = text.split('\n');
    let verdict: boolean | undefined;
    let ignore: string[] | undefined;
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      if (l.startsWith('❌')) verdict = true;
      else if (l.startsWith('✅')) verdict = false;
      if (/^```text/.test(l) && /\.dockerignore/.test(lines.slice(Math.max(0, i - 3), i).join('\n'))) {
        const end = lines.indexOf('```', i + 1);
        ignore = lines.slice(i + 1, end);
      }
      if (l.startsWith('```dockerfile') && verdict !== undefined) {
        const end = lines.indexOf('```', i + 1);
        // "..." stands for elided lines in the docs
        const body = lines.slice(i + 1, end).filter((x) => x.trim() !== '...').join('\n');
        out.push({ rule, bad: verdict, dockerfile: body, ...(ignore ? { ignore } : {}) });
        verdict = undefined;
        i = end;
      }
    }
  }
  return out;
}

/** Doc examples that do not hold for BuildKit itself, with the reason. */
const SKIPPED: { rule: string; dockerfile: string; reason: string }[] = [
  {
    rule: 'CopyIgnoredFile',
    dockerfile: 'FROM scratch\nCOPY ./tmp/helloworld.txt /helloworld.txt',
    reason:
      'the doc pairs it with the pattern `*/tmp/*`, which (moby/patternmatcher) needs three path segments and does not match tmp/helloworld.txt; BuildKit does not warn either',
  },
  {
    rule: 'LegacyKeyValueFormat',
    dockerfile: 'FROM alpine\nARG foo bar',
    reason:
      'BuildKit reports LegacyKeyValueFormat from dispatchEnv/dispatchLabel only; `ARG foo bar` declares two ARGs and is not reported (upstream lint tests cover ENV and LABEL only)',
  },
];

const all = examples();
let ran = 0;
afterAll(() => console.log(`rule-doc examples: ${ran} run, ${SKIPPED.length} skipped with a reason (${new Set(all.map((e) => e.rule)).size} rules)`));

describe('BuildKit rule documentation examples', () => {
  it('covers every documented rule', () => {
    const documented = new Set(all.map((e) => e.rule));
    for (const r of documented) expect(Object.keys(LINT_RULES)).toContain(r);
  });
  const rows: [string, Example][] = all.map((e, i) => [`${e.rule} #${i} ${e.bad ? 'bad' : 'good'}`, e]);
  it.each(rows)('%s', (_n, e) => {
    const skip = SKIPPED.find((x) => x.rule === e.rule && x.dockerfile === e.dockerfile);
    if (skip) {
      // written reason in SKIPPED; still make sure the example parses and checks without a crash
      checkDockerfile(parseDockerfile(e.dockerfile), { check: 'experimental=all' });
      return;
    }
    ran++;
    // fragments without FROM get one: ARG/ENV/MAINTAINER rules apply inside a stage
    const text = /^\s*from\s/im.test(e.dockerfile) ? e.dockerfile : `FROM scratch\n${e.dockerfile}`;
    const ast = parseDockerfile(text);
    const ignore = e.ignore
      ? {
          patterns: e.ignore,
          // the docs' single pattern `*/tmp/*`, matched with its parents as patternmatcher does
          matches: (p: string) => {
            const parts = p.split('/');
            for (let n = 1; n <= parts.length; n++) {
              const sub = parts.slice(0, n);
              if (sub.length === 3 && sub[1] === 'tmp') return true;
            }
            return false;
          },
        }
      : undefined;
    const r = checkDockerfile(ast, {
      check: 'experimental=all',
      ...(ignore ? { ignore } : {}),
      // the UndefinedVar doc relies on the python image defining PYTHON_VERSION
      baseImageConfig: (ref) => (ref === 'python' ? { Env: ['PATH=/usr/local/bin:/usr/bin', 'PYTHON_VERSION=3.13.0'] } : undefined),
    });
    const fired = r.warnings.filter((w) => w.rule === e.rule);
    if (e.bad) expect(fired.length).toBeGreaterThan(0);
    else expect(fired).toEqual([]);
  });
});
