import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { OcibuildError } from '../../errors.js';
import path from 'node:path';
import type { Argv } from 'yargs';
import { build, plan, type BuildOptions, type ProgressEvent } from '../../build.js';
import { formatPlan } from '../../graph/index.js';
import { readDockerfileInput } from '../dockerfile-input.js';
import { STDIN_ARG, type CommandContext } from '../main.js';
import { parseKeyValues } from '../options.js';
import { openStore } from '../store.js';
import { formatWarning } from '../warnings.js';
import { formatExplain } from '../../engine/explain.js';
import { registryFlags, registryHooks } from '../registry-options.js';

function list(values: unknown): string[] {
  return ((values as string[] | undefined) ?? []).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
}

/** BuildKit's plain progress lines (`#N name`, `#N CACHED`, `#N DONE 0.3s`); warnings are printed after the build. */
function progressPrinter(ctx: CommandContext): (e: ProgressEvent) => void {
  const numbers = new Map<string, number>();
  return (e) => {
    switch (e.type) {
      case 'vertex.started':
        numbers.set(e.vertex, numbers.size + 1);
        ctx.io.stderr.write(`#${numbers.get(e.vertex)} ${e.name}\n`);
        break;
      case 'vertex.completed':
        ctx.io.stderr.write(`#${numbers.get(e.vertex) ?? '?'} ${e.cached ? 'CACHED' : `DONE ${(e.durationMs / 1000).toFixed(1)}s`}\n`);
        break;
      case 'vertex.errored':
        ctx.io.stderr.write(`#${numbers.get(e.vertex) ?? '?'} ERROR: ${e.message}\n`);
        break;
      default:
        break;
    }
  };
}

/** `ocibuild build [PATH]` (also `ocibuild [PATH]`): docker build's flags, no daemon. */
export function register(y: Argv, ctx: CommandContext): Argv {
  return y.command(
    ['build [PATH]', '$0 [PATH]'],
    'Build an image from a Dockerfile',
    (c) =>
      registryFlags(
        c
          .positional('PATH', { type: 'string', describe: 'Build context directory', default: '.' })
          .option('file', { alias: 'f', type: 'string', describe: 'Dockerfile (default PATH/Dockerfile, - for stdin)' })
          .option('tag', { alias: 't', type: 'string', array: true, describe: 'Name and optionally a tag (name:tag)', default: [] as string[] })
          .option('target', { type: 'string', describe: 'Build this stage' })
          .option('build-arg', { type: 'string', array: true, describe: 'Build-time variable KEY=VALUE (KEY alone: from the environment)', default: [] as string[] })
          .option('platform', { type: 'string', array: true, describe: 'Target platform(s), e.g. linux/amd64,linux/arm64', default: [] as string[] })
          .option('label', { type: 'string', array: true, describe: 'Image label KEY=VALUE', default: [] as string[] })
          .option('annotation', { type: 'string', array: true, describe: 'Manifest annotation KEY=VALUE', default: [] as string[] })
          .option('output', { alias: 'o', type: 'string', array: true, describe: 'Output: type=oci|docker|local|image|registry,dest=...', default: [] as string[] })
          .option('push', { type: 'boolean', default: false, describe: 'Push the tags to their registries' })
          .option('pull', { type: 'boolean', default: false, describe: 'Always pull base images, even when the store has them' })
          .option('no-cache', { type: 'boolean', default: false, describe: 'Do not use or record cached COPY/ADD layers' })
          .option('explain', { type: 'boolean', default: false, describe: 'Say for every step whether it came from the cache, and for a miss what changed since the last build of the stage under the same tag' })
          .option('iidfile', { type: 'string', describe: 'Write the image ID (config digest; index digest for several platforms) to this file' })
          .option('metadata-file', { type: 'string', describe: 'Write build result metadata (digests, size, names) as JSON to this file' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'Print the build plan (stages, steps, dependencies) and stop' })
          .option('store', { type: 'string', describe: 'Store directory (default $OCIBUILD_HOME or $XDG_CACHE_HOME/ocibuild)' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only the image digest' })
      ),
    async (argv) => {
      // `ocibuild -` (as `docker build -`): the Dockerfile comes from stdin, with an empty context.
      const fromStdin = argv.PATH === STDIN_ARG;
      if (fromStdin && argv.file !== undefined) throw new OcibuildError('USAGE', 'with PATH "-" the Dockerfile is read from stdin: -f cannot be given too');
      const contextDir = fromStdin ? await mkdtemp(path.join(os.tmpdir(), 'ocibuild-empty-context-')) : path.resolve(ctx.io.cwd, argv.PATH);
      try {
        await runBuild(ctx, argv as unknown as BuildArgs, contextDir, fromStdin);
      } finally {
        if (fromStdin) await rm(contextDir, { recursive: true, force: true });
      }
    },
  );
}

/** The parsed flags of `build`. */
interface BuildArgs {
  PATH: string;
  file?: string;
  tag: string[];
  target?: string;
  'build-arg': string[];
  platform: string[];
  label: string[];
  annotation: string[];
  output: string[];
  push: boolean;
  pull: boolean;
  'no-cache': boolean;
  explain: boolean;
  iidfile?: string;
  'metadata-file'?: string;
  'dry-run': boolean;
  store?: string;
  quiet: boolean;
  creds: string[];
  'registry-ca': string[];
  'insecure-registry': string[];
  'registry-mirror': string[];
}

/** Everything `build` does once the context directory is known. */
async function runBuild(ctx: CommandContext, argv: BuildArgs, contextDir: string, fromStdin: boolean): Promise<void> {
  const input = await readDockerfileInput(ctx, fromStdin ? '-' : argv.file, fromStdin ? '.' : argv.PATH);
  const options: BuildOptions = {
    context: contextDir,
    file: input.file,
    dockerfile: input.bytes,
    ...(argv.target ? { target: argv.target } : {}),
    buildArgs: parseKeyValues(argv['build-arg'] as string[], '--build-arg', ctx.io.env),
    platforms: list(argv.platform),
    tags: argv.tag as string[],
    labels: parseKeyValues(argv.label as string[], '--label'),
    annotations: parseKeyValues(argv.annotation as string[], '--annotation'),
    outputs: argv.output as string[],
    push: argv.push,
    pull: argv.pull,
    noCache: argv['no-cache'],
    ...(argv.explain ? { explain: true } : {}),
    env: ctx.io.env,
    ...(argv.quiet ? {} : { onProgress: progressPrinter(ctx) }),
  };
  const color = Boolean(ctx.io.stderr.isTTY);
  if (argv['dry-run']) {
    // Nothing is built, so nothing is tagged, pushed or written: say so rather than ignore the flags.
    const unused = [
      argv.tag.length > 0 && '-t',
      argv.push && '--push',
      argv.output.length > 0 && '--output',
      argv.iidfile !== undefined && '--iidfile',
      argv['metadata-file'] !== undefined && '--metadata-file',
    ].filter(Boolean);
    if (unused.length > 0) throw new OcibuildError('USAGE', `--dry-run builds nothing, so ${unused.join(', ')} cannot apply`);
    const p = await plan(options);
    for (const w of p.warnings) ctx.io.stderr.write(formatWarning(w, ctx.sources, { color }));
    ctx.io.stdout.write(formatPlan(p.graph));
    return;
  }
  const store = await openStore(ctx, argv.store);
  const hooks = await registryHooks(ctx, argv, argv.tag as string[]);
  let result;
  try {
    result = await build({ ...options, store, pullImage: hooks.pullImage, pushImage: hooks.pushImage });
  } finally {
    await hooks.close();
  }
  for (const w of result.warnings) ctx.io.stderr.write(formatWarning(w, ctx.sources, { color }));
  for (const m of new Set(result.images.flatMap((i) => i.warnings.map((w) => w.message)))) ctx.io.stderr.write(`warning: ${m}\n`);
  if (result.explain) ctx.io.stderr.write(formatExplain(result.explain));
  const imageId = result.configDigest ?? result.descriptor.digest;
  if (argv.iidfile) await writeFile(path.resolve(ctx.io.cwd, argv.iidfile), imageId);
  if (argv['metadata-file']) {
    const meta = {
      'containerimage.digest': result.descriptor.digest,
      ...(result.configDigest ? { 'containerimage.config.digest': result.configDigest } : {}),
      'containerimage.descriptor': result.descriptor,
      'image.name': result.tags.join(','),
      size: result.descriptor.size + result.images.reduce((a, i) => a + i.config.size + i.manifest.size + i.layers.reduce((b, l) => b + l.size, 0), 0),
      platforms: result.images.map((i) => [i.platform.os, i.platform.architecture, i.platform.variant].filter(Boolean).join('/')),
      bases: result.bases,
      outputs: result.outputs,
    };
    await writeFile(path.resolve(ctx.io.cwd, argv['metadata-file']), JSON.stringify(meta, null, 2) + '\n');
  }
  ctx.io.stdout.write(`${result.descriptor.digest}\n`);
}
