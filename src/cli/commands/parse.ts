import type { Argv } from 'yargs';
import { readDockerfileInput } from '../dockerfile-input.js';
import type { CommandContext } from '../main.js';

/** `ocibuild parse`: the syntax tree, as BuildKit's test dump or as our JSON. */
export function register(y: Argv, ctx: CommandContext): Argv {
  return y.command(
    'parse [PATH]',
    'Parse a Dockerfile and print its syntax tree',
    (c) =>
      c
        .positional('PATH', { type: 'string', describe: 'Directory holding the Dockerfile', default: '.' })
        .option('file', { alias: 'f', type: 'string', describe: 'Dockerfile path (- for stdin)' })
        .option('format', { choices: ['buildkit', 'json'] as const, default: 'buildkit' as const, describe: 'buildkit: BuildKit\'s AST dump; json: ocibuild\'s tree with ranges' }),
    async (argv) => {
      // The parser (nearley and the grammar) loads when parse runs, not at start-up (issue 8).
      const { dumpBuildkit, parseDockerfile } = await import('../../parser/index.js');
      const input = await readDockerfileInput(ctx, argv.file, argv.PATH);
      const ast = parseDockerfile(input.bytes, { file: input.file });
      if (argv.format === 'json') {
        const { source: _source, ...tree } = ast;
        ctx.io.stdout.write(JSON.stringify(tree, null, 2) + '\n');
      } else {
        ctx.io.stdout.write(dumpBuildkit(ast) + '\n');
      }
    },
  );
}
