import type { Argv } from 'yargs';
import path from 'node:path';
import { checkDockerfile } from '../../compiler/index.js';
import { loadIgnoreFile, PatternMatcher } from '../../context/index.js';
import { parseDockerfile } from '../../parser/index.js';
import { readDockerfileInput } from '../dockerfile-input.js';
import type { CommandContext } from '../main.js';
import { formatWarning } from '../warnings.js';
import { parseKeyValues } from '../options.js';

/** `ocibuild check`: BuildKit's build checks, without building. */
export function register(y: Argv, ctx: CommandContext): Argv {
  return y.command(
    'check [PATH]',
    'Run the build checks (lint rules) on a Dockerfile',
    (c) =>
      c
        .positional('PATH', { type: 'string', describe: 'Build context directory', default: '.' })
        .option('file', { alias: 'f', type: 'string', describe: 'Dockerfile path (default PATH/Dockerfile, - for stdin)' })
        .option('target', { type: 'string', describe: 'Check as if building this stage' })
        .option('build-arg', { type: 'string', array: true, describe: 'Build-time variable KEY=VALUE', default: [] as string[] })
        .option('check', { type: 'string', describe: 'Override the check directive, e.g. "skip=JSONArgsRecommended;error=true"' }),
    async (argv) => {
      const input = await readDockerfileInput(ctx, argv.file, argv.PATH);
      const ast = parseDockerfile(input.bytes, { file: input.file });
      const contextDir = path.resolve(ctx.io.cwd, argv.PATH);
      const ignore = await loadIgnoreFile(contextDir, input.path ?? '-');
      const matcher = new PatternMatcher(ignore.patterns);
      const result = checkDockerfile(ast, {
        ...(argv.target ? { target: argv.target } : {}),
        buildArgs: parseKeyValues(argv['build-arg'] as string[], '--build-arg'),
        ...(argv.check !== undefined ? { check: argv.check } : {}),
        ignore: { patterns: ignore.patterns.map((p) => p.pattern), matches: (p) => matcher.matchesOrParentMatches(p) },
      });
      const color = Boolean(ctx.io.stderr.isTTY);
      for (const w of result.warnings) {
        ctx.io.stdout.write(formatWarning(w, ctx.sources, { color, level: result.errorOnWarnings ? 'error' : 'warning' }));
      }
      if (result.error) throw result.error;
      const n = result.warnings.length;
      ctx.io.stdout.write(n === 0 ? 'Check complete, no warnings found.\n' : `Check complete, ${n} warning${n === 1 ? ' has' : 's have'} been found!\n`);
      if (result.failed) ctx.exitCode = 1;
    },
  );
}
