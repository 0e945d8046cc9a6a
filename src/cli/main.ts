import yargs, { type Argv } from 'yargs';
import { formatError } from './errors.js';
import { processIo, type CliIo } from './io.js';
import { register as registerBuild } from './commands/build.js';
import { register as registerCheck } from './commands/check.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerImages } from './commands/images.js';
import { register as registerParse } from './commands/parse.js';
import { register as registerRegistry } from './commands/registry.js';

/** State shared by the commands of one CLI invocation. */
export interface CommandContext {
  io: CliIo;
  /** Sources read so far (Dockerfiles), for code frames in error output. */
  sources: Map<string, string>;
  /** Exit code the command wants (0 unless set). */
  exitCode: number;
}

type Register = (y: Argv, ctx: CommandContext) => Argv;

const COMMANDS: Register[] = [registerParse, registerCheck, registerBuild, registerImages, registerRegistry, registerDoctor];

/** What a positional `-` (stdin, as in `docker build -`) becomes: yargs drops a bare `-`. */
export const STDIN_ARG = '\u0000stdin';

/** A bare `-` that is not the value of a preceding option is the stdin positional. */
function markStdin(argv: string[]): string[] {
  return argv.map((a, i) => {
    if (a !== '-') return a;
    const prev = argv[i - 1];
    const isOptionValue = prev !== undefined && prev.startsWith('-') && prev !== '-' && !prev.includes('=') && prev !== '--';
    return isOptionValue ? a : STDIN_ARG;
  });
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code.
 * All output goes through `io`, so tests run commands in-process.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  argv = markStdin(argv);
  const ctx: CommandContext = { io, sources: new Map(), exitCode: 0 };
  const debug = Boolean(io.env.OCIBUILD_DEBUG);
  let failure: unknown;
  let usageError: string | undefined;
  let y = yargs(argv)
    .scriptName('ocibuild')
    .usage('$0 [PATH] [options]\n\nDaemonless, rootless OCI image builder.')
    .strict()
    // `--no-cache` and `--no-prune` are flags of their own, as in docker (not negations of --cache/--prune)
    .parserConfiguration({ 'boolean-negation': false })
    .exitProcess(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .help()
    .alias('h', 'help')
    .version()
    .fail((msg, err) => {
      if (err) failure = err;
      else usageError = msg;
    });
  for (const register of COMMANDS) y = register(y, ctx);
  let helpShown = false;
  y = y.showHelpOnFail(false);
  try {
    await y.parseAsync(argv, {}, (err, _argv, output) => {
      if (output) {
        helpShown = true;
        io.stdout.write(output.endsWith('\n') ? output : output + '\n');
      }
      if (err && !failure && !usageError) failure = err;
    });
  } catch (err) {
    if (!failure && !usageError) failure = err;
  }
  if (usageError !== undefined) {
    io.stderr.write(`error: ${usageError}\nRun 'ocibuild --help' for usage.\n`);
    return 2;
  }
  if (failure !== undefined) {
    io.stderr.write(formatError(failure, ctx.sources, { color: Boolean(io.stderr.isTTY), debug }));
    return 1;
  }
  void helpShown;
  return ctx.exitCode;
}
