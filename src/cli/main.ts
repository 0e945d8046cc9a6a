import type { Argv } from 'yargs';
import { OcibuildError } from '../errors.js';
import { formatError } from './errors.js';
import { formatExamples } from './help.js';
import { processIo, type CliIo } from './io.js';
import { helpWidth, snapshotHelp } from './help-snapshot.js';
import { ocibuildVersion } from './version.js';
// The command modules load only what their options need; each handler imports
// the rest (build, registry client, parser, RUN) when it runs (issue 8: start-up).

/** State shared by the commands of one CLI invocation. */
export interface CommandContext {
  io: CliIo;
  /** Sources read so far (Dockerfiles), for code frames in error output. */
  sources: Map<string, string>;
  /** Exit code the command wants (0 unless set). */
  exitCode: number;
  /** The clock (ms since the epoch). */
  now: () => number;
}

export type Register = (y: Argv, ctx: CommandContext) => Argv;

/** The command modules, in the order their commands are listed; loaded once `--version` alone has been ruled out. */
async function loadCommands(): Promise<Register[]> {
  // One import after another, here and in the handlers: jest's ESM loader (the tests run the CLI
  // in-process) fails on concurrent imports that share modules ("not in cache").
  return [
    (await import('./commands/parse.js')).register,
    (await import('./commands/check.js')).register,
    (await import('./commands/build.js')).register,
    (await import('./commands/compose.js')).register,
    (await import('./commands/images.js')).register,
    (await import('./commands/registry.js')).register,
    (await import('./commands/doctor.js')).register,
  ];
}

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

type Handler = (argv: Record<string, unknown>) => unknown;

/**
 * Makes every command registered on `y` record its handler instead of running
 * it, and adds its help examples: the handler runs only once the whole
 * command line has parsed and validated, so a usage error (an unknown flag
 * anywhere, a missing value) stops before any work.
 */
function deferHandlers(y: Argv, defer: (run: () => Promise<unknown>) => void): Argv {
  const command = y.command.bind(y) as (...args: unknown[]) => Argv;
  (y as unknown as { command: (...args: unknown[]) => Argv }).command = (...args: unknown[]) => {
    const [cmd, , builder, handler] = args;
    const name = String(Array.isArray(cmd) ? cmd[0] : cmd).split(' ')[0]!;
    const withExamples = (c: Argv): Argv => {
      const built = typeof builder === 'function' ? ((builder as (c: Argv) => Argv)(c) ?? c) : c;
      const examples = formatExamples(name);
      return examples ? built.epilog(examples) : built;
    };
    const deferred: Handler = (argv) => defer(async () => (handler as Handler)(argv));
    return command(cmd, args[1], withExamples, typeof handler === 'function' ? deferred : handler, ...args.slice(4));
  };
  return y;
}

/**
 * yargs renders a command's whole help text after running its handler, only to
 * show it if the handler then fails with showHelpOnFail, which we turn off:
 * ~90 ms of cliui wrapping on every `ocibuild build` (issue 8, warm rebuild).
 * `--help` itself does not use that cache. The internal method is checked, not
 * assumed: another yargs just keeps its cost.
 */
function skipHelpCache(y: Argv): void {
  const internal = (y as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: unknown } } }).getInternalMethods?.();
  const usage = internal?.getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code.
 * All output goes through `io`, so tests run commands in-process.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runCli(argv, io, loadCommands);
}

/**
 * {@link main} with the commands `commands` registers: all of them, or only
 * those the command line names (src/cli/registry-main.ts: `push` and `pull`).
 */
export async function runCli(argv: string[], io: CliIo, commands: () => Promise<Register[]>): Promise<number> {
  // `ocibuild --version` alone needs no argument parser (issue 8: start-up).
  if (argv.length === 1 && argv[0] === '--version') {
    io.stdout.write(`${ocibuildVersion()}\n`);
    return 0;
  }
  // `--help` and `COMMAND --help` from the snapshot made at build time, when it is there and current.
  const kept = snapshotHelp(argv, import.meta.url, ocibuildVersion(), io.env);
  if (kept !== undefined) {
    io.stdout.write(kept);
    return 0;
  }
  const { default: yargs } = await import('yargs');
  const registers = await commands();
  argv = markStdin(argv);
  const ctx: CommandContext = { io, sources: new Map(), exitCode: 0, now: io.now ?? Date.now };
  const debug = Boolean(io.env.OCIBUILD_DEBUG);
  let failure: unknown;
  let usageError: string | undefined;
  let y = yargs(argv)
    .scriptName('ocibuild')
    .usage('$0 [PATH] [options]\n\nDaemonless, rootless OCI image builder.')
    .strict()
    // `--no-cache` and `--no-prune` are flags of their own, as in docker (not negations of --cache/--prune)
    .parserConfiguration({ 'boolean-negation': false, 'greedy-arrays': false })
    .exitProcess(false)
    .wrap(helpWidth())
    .help()
    .alias('h', 'help')
    // Our own package.json's version: yargs would guess from the directory holding node_modules.
    .version(ocibuildVersion())
    .fail((msg, err) => {
      // yargs' own validation errors (YError: a missing value, a bad choice) are usage errors too.
      if (err && err.name !== 'YError') failure = err;
      else usageError = msg ?? err?.message;
    });
  let pending: (() => Promise<unknown>) | undefined;
  y = deferHandlers(y, (run) => {
    pending = run;
  });
  for (const register of registers) y = register(y, ctx);
  y = y.showHelpOnFail(false);
  skipHelpCache(y);
  try {
    await y.parseAsync(argv, {}, (err, _argv, output) => {
      if (output) {
        io.stdout.write(output.endsWith('\n') ? output : output + '\n');
      }
      if (err && !failure && !usageError) {
        if (err.name === 'YError') usageError = err.message;
        else failure = err;
      }
    });
  } catch (err) {
    if (!failure && !usageError) failure = err;
  }
  if (usageError === undefined && failure === undefined && pending) {
    try {
      await pending();
    } catch (err) {
      failure = err;
    }
  }
  if (usageError !== undefined) {
    io.stderr.write(`error: ${usageError}\nRun 'ocibuild --help' for usage.\n`);
    return 2;
  }
  if (failure instanceof OcibuildError && failure.code === 'USAGE') {
    // A usage error found by a command (conflicting flags, a malformed value): exit 2 as for yargs' own.
    io.stderr.write(formatError(failure, ctx.sources, { color: Boolean(io.stderr.isTTY), debug }) + `Run 'ocibuild ${'--help'}' for usage.\n`);
    return 2;
  }
  if (failure !== undefined) {
    io.stderr.write(formatError(failure, ctx.sources, { color: Boolean(io.stderr.isTTY), debug }));
    return 1;
  }
  return ctx.exitCode;
}
