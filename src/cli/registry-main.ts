/**
 * `ocibuild push` and `ocibuild pull` (issue 8: speed as users feel it): the
 * CLI of {@link main} with only the registry commands registered. npm run build
 * bundles it on its own (scripts/bundle.mjs), so a push or pull compiles the
 * registry client, push and the store, not the build engine, parser, RUN or
 * compose; src/cli/entry.ts runs it when the command line starts with `push`
 * or `pull` (its REGISTRY_COMMANDS, the commands of commands/registry.ts).
 * The same yargs set-up, options and messages as main.js: only the other
 * commands are missing, and a command line naming them goes to main.js.
 */
import { processIo, type CliIo } from './io.js';
import { runCli } from './main.js';

/** {@link main} of main.ts for `push` and `pull` command lines. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runCli(argv, io, async () => [(await import('./commands/registry.js')).register]);
}
