import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeConformance } from '../../test/conformance.js';
import { OcibuildError } from '../errors.js';
import { loadIgnoreFile, readIgnoreFile, readIgnorePatterns } from './ignore-file.js';

describeConformance('dockerignore/context-cases.json', 'conformance: context-cases.json readIgnoreFile', (file) => {
  const contextCases = JSON.parse(readFileSync(file, 'utf8')) as { readIgnoreFile: { cases: { content: string | null; expect: string[] }[] } };
  it('turns ignore-file text into the pattern list', () => {
    let n = 0;
    for (const c of contextCases.readIgnoreFile.cases) {
      expect(readIgnoreFile(c.content ?? '')).toEqual(c.expect);
      n++;
    }
    expect(n).toBe(2);
    console.log(`context-cases readIgnoreFile: ran ${n} cases`);
  });
});

describe('readIgnorePatterns', () => {
  it('handles BOM, CRLF, column-1 comments, trimming, cleaning and exceptions, with line numbers', () => {
    const text = '\ufeff# comment\r\n  # not a comment\r\n\r\n/a//b/../c/\r\n! ./x/ \r\n/\r\n\t\r\nlast';
    expect(readIgnorePatterns(text)).toEqual([
      { pattern: '# not a comment', line: 2 },
      { pattern: 'a/c', line: 4 },
      { pattern: '!x', line: 5 },
      { pattern: '/', line: 6 },
      { pattern: 'last', line: 8 },
    ]);
  });

  it('keeps a BOM that is not at the start of the file', () => {
    expect(readIgnoreFile('a\n\ufeffb')).toEqual(['a', '\ufeffb']);
  });

  it('rejects a line longer than Go bufio.Scanner accepts', () => {
    expect(readIgnoreFile('x'.repeat(65535))).toHaveLength(1);
    expect(() => readIgnoreFile('ok\n' + 'x'.repeat(65536))).toThrow(OcibuildError);
  });
});

describe('loadIgnoreFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-ignore-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers <Dockerfile>.dockerignore next to the Dockerfile over the context .dockerignore', async () => {
    await writeFile(path.join(dir, '.dockerignore'), 'generic\n');
    await writeFile(path.join(dir, 'Dockerfile.dockerignore'), '\nbar\n');
    await writeFile(path.join(dir, 'Dockerfile2.dockerignore'), 'foo\n');
    await mkdir(path.join(dir, 'build'));
    await writeFile(path.join(dir, 'build', 'app.Dockerfile.dockerignore'), '*.tmp\n');

    const def = await loadIgnoreFile(dir);
    expect(def).toEqual({ path: path.join(dir, 'Dockerfile.dockerignore'), name: 'Dockerfile.dockerignore', patterns: [{ pattern: 'bar', line: 2 }] });
    expect((await loadIgnoreFile(dir, path.join(dir, 'Dockerfile2'))).patterns).toEqual([{ pattern: 'foo', line: 1 }]);
    const sub = await loadIgnoreFile(dir, path.join(dir, 'build', 'app.Dockerfile'));
    expect(sub.name).toBe('app.Dockerfile.dockerignore');
    expect(sub.patterns).toEqual([{ pattern: '*.tmp', line: 1 }]);
    // No specific file: the context's .dockerignore.
    const other = await loadIgnoreFile(dir, path.join(dir, 'Other'));
    expect(other).toEqual({ path: path.join(dir, '.dockerignore'), name: '.dockerignore', patterns: [{ pattern: 'generic', line: 1 }] });
    expect((await loadIgnoreFile(dir, '-')).name).toBe('.dockerignore');
  });

  it('returns no patterns when there is no ignore file', async () => {
    expect(await loadIgnoreFile(dir)).toEqual({ name: '.dockerignore', patterns: [] });
  });

  it('fails clearly when the ignore file cannot be read', async () => {
    await mkdir(path.join(dir, '.dockerignore'));
    await expect(loadIgnoreFile(dir)).rejects.toMatchObject({ code: 'CONTEXT_NOT_FOUND' });
  });
});
