/**
 * Reading `.dockerignore` files (moby/patternmatcher `ignorefile.ReadAll`) and
 * choosing which one applies (`<Dockerfile>.dockerignore` next to the Dockerfile
 * first, then `<context>/.dockerignore`), as BuildKit does.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { goClean, goTrimSpace } from './go-path.js';
import type { IgnorePattern } from './pattern-matcher.js';

/** Go's bufio.Scanner refuses longer lines (64 KiB token limit, newline excluded). */
const MAX_LINE_BYTES = 64 * 1024 - 1;

/**
 * Parse ignore-file text into patterns with their 1-based line numbers: BOM
 * dropped, lines split at `\n` with a trailing `\r` removed, `#` comments only at
 * column 1, whitespace trimmed, `!` exceptions, each pattern cleaned like a path
 * (`/` separators, one leading `/` removed). A lone `!` is kept (the matcher rejects it).
 * @throws OcibuildError `DOCKERIGNORE_PATTERN` for a line longer than 65535 bytes
 *   (upstream: `bufio.Scanner: token too long`).
 */
export function readIgnorePatterns(text: string): IgnorePattern[] {
  const out: IgnorePattern[] = [];
  if (text === '') return out;
  const lines = text.split('\n');
  // A final newline does not start another line.
  if (lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (i === 0 && line.startsWith('\ufeff')) line = line.slice(1);
    if (line.length > MAX_LINE_BYTES / 3 && Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) {
      throw new OcibuildError('DOCKERIGNORE_PATTERN', `error reading .dockerignore: line ${i + 1} is longer than 65535 bytes (bufio.Scanner: token too long)`, {
        details: { line: i + 1 },
      });
    }
    if (line.startsWith('#')) continue;
    let pattern = goTrimSpace(line);
    if (pattern === '') continue;
    const invert = pattern[0] === '!';
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern[0] === '/') pattern = pattern.slice(1);
    }
    if (invert) pattern = '!' + pattern;
    out.push({ pattern, line: i + 1 });
  }
  return out;
}

/**
 * The pattern list of an ignore file (upstream `ignorefile.ReadAll`). See
 * {@link readIgnorePatterns} for the rules; this drops the line numbers.
 */
export function readIgnoreFile(text: string): string[] {
  return readIgnorePatterns(text).map((p) => p.pattern);
}

/** The ignore file that applies to a build. */
export interface LoadedIgnoreFile {
  /** Absolute path of the file read; undefined when there is none. */
  path?: string;
  /** The name to show in messages: `.dockerignore` or `<Dockerfile name>.dockerignore`. */
  name: string;
  /** Patterns with their 1-based lines (empty when there is no file). */
  patterns: IgnorePattern[];
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new OcibuildError('CONTEXT_NOT_FOUND', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Find and read the ignore file for a build, as BuildKit does: `<Dockerfile>.dockerignore`
 * next to the Dockerfile (e.g. `Dockerfile2.dockerignore`) is preferred over
 * `<contextDir>/.dockerignore`. `dockerfilePath` is absolute or relative to the
 * current directory, defaults to `<contextDir>/Dockerfile`; `-` (stdin) means only
 * the context's `.dockerignore` applies.
 * @throws OcibuildError `CONTEXT_NOT_FOUND` when a file exists but cannot be read,
 *   `DOCKERIGNORE_PATTERN` for an over-long line.
 */
export async function loadIgnoreFile(contextDir: string, dockerfilePath?: string): Promise<LoadedIgnoreFile> {
  const context = path.resolve(contextDir);
  if (dockerfilePath !== '-') {
    const dockerfile = path.resolve(dockerfilePath ?? path.join(context, 'Dockerfile'));
    const specific = dockerfile + '.dockerignore';
    const text = await readIfExists(specific);
    if (text !== undefined) return { path: specific, name: path.basename(specific), patterns: readIgnorePatterns(text) };
  }
  const generic = path.join(context, '.dockerignore');
  const text = await readIfExists(generic);
  if (text !== undefined) return { path: generic, name: '.dockerignore', patterns: readIgnorePatterns(text) };
  return { name: '.dockerignore', patterns: [] };
}
