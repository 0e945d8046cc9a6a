import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { STDIN_ARG, type CommandContext } from './main.js';

/** A Dockerfile read for a command: its display name, path and text. */
export interface DockerfileInput {
  /** Name shown in errors (relative to the cwd when possible). */
  file: string;
  /** Absolute path, or undefined for stdin. */
  path?: string;
  /** The raw bytes (the parser decodes them). */
  bytes: Buffer;
}

/**
 * Reads the Dockerfile named by `-f` (or `<dir>/Dockerfile`), `-` for stdin,
 * and remembers its text for code frames.
 */
export async function readDockerfileInput(ctx: CommandContext, file: string | undefined, dir = '.'): Promise<DockerfileInput> {
  let input: DockerfileInput;
  if (file === '-' || (file === undefined && dir === STDIN_ARG)) {
    input = { file: '<stdin>', bytes: Buffer.from(await ctx.io.readStdin(), 'utf8') };
  } else {
    const abs = path.resolve(ctx.io.cwd, file ?? path.join(dir, 'Dockerfile'));
    let bytes: Buffer;
    try {
      bytes = await readFile(abs);
    } catch (err) {
      throw new OcibuildError('CONTEXT_NOT_FOUND', `cannot read Dockerfile ${abs}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    const rel = path.relative(ctx.io.cwd, abs);
    input = { file: rel && !rel.startsWith('..') ? rel : abs, path: abs, bytes };
  }
  // The parser (nearley and the grammar) loads when a Dockerfile is read, not when the CLI starts (issue 8).
  const { decodeDockerfileSource } = await import('../parser/index.js');
  ctx.sources.set(input.file, decodeDockerfileSource(input.bytes));
  return input;
}
