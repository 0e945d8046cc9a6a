import { rm, writeFile } from 'node:fs/promises';
import { OcibuildError } from '../../errors.js';
import { parseCacheExport, parseCacheImport } from '../../cache/cache-spec.js';
import path from 'node:path';
import type { Argv } from 'yargs';
import type { BuildOptions } from '../../build.js';
import { readDockerfileInput } from '../dockerfile-input.js';
import { openStore } from '../store.js';
import type { Store } from '../../cache/store.js';
import { STDIN_ARG, type CommandContext } from '../main.js';
import { parseKeyValues } from '../options.js';
import { formatWarning } from '../warnings.js';
import { registryFlags, registryHooks } from '../registry-options.js';
import { createProgressDisplay, PROGRESS_MODES, resolveProgressMode } from '../progress/index.js';
import { runFlags, runOptionsFromArgs, withInterrupt } from '../run-options.js';

function list(values: unknown): string[] {
  return ((values as string[] | undefined) ?? []).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
}

/** `ocibuild build [PATH]` (also `ocibuild [PATH]`): docker build's flags, no daemon. */
export function register(y: Argv, ctx: CommandContext): Argv {
  return y.command(
    ['build [PATH]', '$0 [PATH]'],
    'Build an image from a Dockerfile',
    (c) =>
      registryFlags(runFlags(
        c
          .positional('PATH', { type: 'string', describe: 'Build context directory, or a git repository URL (https://host/repo.git#ref:subdir)', default: '.' })
          .option('file', { requiresArg: true, alias: 'f', type: 'string', describe: 'Dockerfile (default PATH/Dockerfile, - for stdin)' })
          .option('tag', { requiresArg: true, alias: 't', type: 'string', array: true, describe: 'Name and optionally a tag (name:tag)', default: [] as string[] })
          .option('target', { requiresArg: true, type: 'string', describe: 'Build this stage' })
          .option('build-arg', { requiresArg: true, type: 'string', array: true, describe: 'Build-time variable KEY=VALUE (KEY alone: from the environment)', default: [] as string[] })
          .option('platform', { requiresArg: true, type: 'string', array: true, describe: 'Target platform(s), e.g. linux/amd64,linux/arm64', default: [] as string[] })
          .option('build-context', {
            requiresArg: true,
            type: 'string',
            array: true,
            describe: 'Named context NAME=DIR|docker-image://REF|oci-layout://DIR[:TAG][@DIGEST]|target:STAGE for FROM NAME, COPY --from=NAME, RUN --mount=from=NAME; replaces a stage or image of that name',
            default: [] as string[],
          })
          .option('label', { requiresArg: true, type: 'string', array: true, describe: 'Image label KEY=VALUE', default: [] as string[] })
          .option('annotation', { requiresArg: true, type: 'string', array: true, describe: 'Manifest annotation KEY=VALUE', default: [] as string[] })
          .option('output', { requiresArg: true, alias: 'o', type: 'string', array: true, describe: 'Output: type=oci|docker|local|image|registry,dest=...[,compression=gzip|zstd|uncompressed]', default: [] as string[] })
          .option('push', { type: 'boolean', default: false, describe: 'Push the tags to their registries' })
          .option('pull', { type: 'boolean', default: false, describe: 'Always pull base images, even when the store has them' })
          .option('no-cache', { type: 'boolean', default: false, describe: 'Do not use or record cached COPY/ADD layers' })
          .option('cache-from', { requiresArg: true, type: 'string', array: true, describe: 'Import a step cache: type=registry,ref=REG/REPO:TAG (or a bare ref; an image pushed with an inline cache), type=local,src=DIR', default: [] as string[] })
          .option('cache-to', { requiresArg: true, type: 'string', array: true, describe: 'Export the step cache: type=registry,ref=REG/REPO:TAG|type=local,dest=DIR|type=inline [,mode=min|max][,ignore-error=true|false]', default: [] as string[] })
          .option('explain', { type: 'boolean', default: false, describe: 'Say for every step whether it came from the cache, and for a miss what changed since the last build of the stage under the same tag' })
          .option('iidfile', { requiresArg: true, type: 'string', describe: 'Write the image ID (config digest; index digest for several platforms) to this file' })
          .option('metadata-file', { requiresArg: true, type: 'string', describe: 'Write build result metadata (digests, size, names) as JSON to this file' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'Print the build plan (stages, steps, dependencies) and stop' })
          .option('store', { requiresArg: true, type: 'string', describe: 'Store directory (default $OCIBUILD_HOME or $XDG_CACHE_HOME/ocibuild)' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only the image digest (same as --progress=quiet)' })
          .option('progress', { requiresArg: true, type: 'string', choices: PROGRESS_MODES, default: 'auto', describe: 'Progress output: auto (tty on a terminal, else plain), tty, plain, json, quiet' })
      )),
    async (argv) => {
      // `ocibuild -` (as `docker build -`): the Dockerfile comes from stdin, with an empty context.
      const fromStdin = argv.PATH === STDIN_ARG;
      if (fromStdin && argv.file !== undefined) throw new OcibuildError('USAGE', 'with PATH "-" the Dockerfile is read from stdin: -f cannot be given too');
      if (!fromStdin) {
        // A git repository URL as PATH (as docker build takes it): checked out into the store, built, removed.
        const { checkoutGitContext, gitContextOf } = await import('../../build-git.js');
        const git = gitContextOf(argv.PATH, ctx.io.cwd);
        if (git) {
          const store = await openStore(ctx, argv.store !== undefined ? path.resolve(ctx.io.cwd, argv.store as string) : undefined);
          const checkout = await checkoutGitContext(store, git);
          try {
            // -f names a file inside the repository's context.
            const file = argv.file !== undefined && argv.file !== '-' ? path.join(checkout.dir, argv.file) : argv.file;
            await runBuild(ctx, { ...(argv as unknown as BuildArgs), PATH: checkout.dir, ...(file !== undefined ? { file } : {}) }, checkout.dir);
          } finally {
            await checkout.dispose();
          }
          return;
        }
      }
      await runBuild(ctx, argv as unknown as BuildArgs, fromStdin ? undefined : path.resolve(ctx.io.cwd, argv.PATH));
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
  'build-context': string[];
  platform: string[];
  label: string[];
  annotation: string[];
  output: string[];
  push: boolean;
  pull: boolean;
  'no-cache': boolean;
  'cache-from': string[];
  'cache-to': string[];
  explain: boolean;
  iidfile?: string;
  'metadata-file'?: string;
  'dry-run': boolean;
  store?: string;
  quiet: boolean;
  progress: string;
  creds: string[];
  'registry-ca': string[];
  'insecure-registry': string[];
  'registry-mirror': string[];
  network?: 'default' | 'none' | 'host';
  'add-host': string[];
  'shm-size'?: string;
  ulimit: string[];
  'cgroup-parent'?: string;
  allow: string[];
  isolation?: 'auto' | 'oci' | 'chroot';
  runtime?: 'crun' | 'runc';
}

/**
 * Run `fn` with the context of `ocibuild -`: a fresh empty directory under the
 * store's tmp/ (issue 7: no temp of a build in the system temp dir), removed
 * afterwards (and by the next store open when the process is killed).
 */
async function withEmptyContext<T>(store: Store, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await store.tempDir('empty-context');
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Everything `build` does; `contextDir` undefined means `ocibuild -` (an empty
 * context, made under the store once the flags are checked).
 */
async function runBuild(ctx: CommandContext, argv: BuildArgs, contextDir: string | undefined): Promise<void> {
  // The build machinery loads when a build runs, not for `build --help` (issue 8: start-up).
  const { build, plan } = await import('../../build.js');
  const { formatPlan } = await import('../../graph/index.js');
  const { formatExplain } = await import('../../engine/explain.js');
  const { buildContextsFromFlags } = await import('../../build-contexts.js');
  const fromStdin = contextDir === undefined;
  const input = await readDockerfileInput(ctx, fromStdin ? '-' : argv.file, fromStdin ? '.' : argv.PATH);
  const options: Omit<BuildOptions, 'context'> = {
    file: input.file,
    dockerfile: input.bytes,
    ...(argv.target ? { target: argv.target } : {}),
    buildArgs: parseKeyValues(argv['build-arg'] as string[], '--build-arg', ctx.io.env),
    platforms: list(argv.platform),
    buildContexts: buildContextsFromFlags(argv['build-context'] as string[], ctx.io.cwd),
    tags: argv.tag as string[],
    labels: parseKeyValues(argv.label as string[], '--label'),
    annotations: parseKeyValues(argv.annotation as string[], '--annotation'),
    outputs: argv.output as string[],
    push: argv.push,
    pull: argv.pull,
    noCache: argv['no-cache'],
    ...(argv['cache-from'].length > 0 ? { cacheFrom: argv['cache-from'] } : {}),
    ...(argv['cache-to'].length > 0 ? { cacheTo: argv['cache-to'] } : {}),
    ...(argv.explain ? { explain: true } : {}),
    env: ctx.io.env,
    run: await runOptionsFromArgs(argv),
  };
  const storeRoot = argv.store !== undefined ? path.resolve(ctx.io.cwd, argv.store) : undefined;
  const mode = argv.quiet ? 'quiet' : resolveProgressMode(argv.progress, ctx.io.stderr);
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
    const p = contextDir !== undefined ? await plan({ ...options, context: contextDir }) : await withEmptyContext(await openStore(ctx, storeRoot), (context) => plan({ ...options, context }));
    for (const w of p.warnings) ctx.io.stderr.write(formatWarning(w, ctx.sources, { color }));
    ctx.io.stdout.write(formatPlan(p.graph));
    return;
  }
  const cacheRefs = [...(options.cacheFrom ?? []).map(parseCacheImport), ...(options.cacheTo ?? []).map(parseCacheExport)].flatMap((c) => (c.type === 'registry' ? [c.ref] : []));
  const hooks = await registryHooks(ctx, argv, [...(argv.tag as string[]), ...cacheRefs]);
  // Warnings are printed after the build, with their code frames.
  const display = createProgressDisplay(mode, ctx.io.stderr, ctx.now, { warnings: false });
  let result;
  try {
    const run = (context: string, store?: Store) => withInterrupt((signal) => build({
      ...options,
      context,
      // build() opens it once the options are checked: a usage error leaves no store behind.
      ...(store ? { store } : storeRoot !== undefined ? { storeRoot } : {}),
      pullImage: hooks.pullImage,
      pushImage: hooks.pushImage,
      layerUploads: hooks.layerUploads,
      registryClient: hooks.client,
      ...(mode === 'quiet' ? {} : { onProgress: display.onProgress }),
      signal,
    }));
    if (contextDir !== undefined) result = await run(contextDir);
    else {
      const store = await openStore(ctx, storeRoot);
      result = await withEmptyContext(store, (context) => run(context, store));
    }
  } finally {
    display.end();
    await hooks.close();
  }
  for (const w of result.warnings) ctx.io.stderr.write(formatWarning(w, ctx.sources, { color }));
  for (const m of new Set(result.images.flatMap((i) => i.warnings.map((w) => w.message)))) ctx.io.stderr.write(`warning: ${m}\n`);
  for (const m of result.outputs.flatMap((o) => o.warnings)) ctx.io.stderr.write(`warning: ${m}\n`);
  for (const m of result.cache?.warnings ?? []) ctx.io.stderr.write(`warning: ${m}\n`);
  if (result.explain) ctx.io.stderr.write(formatExplain(result.explain));
  for (const e of result.cache?.exports ?? []) if (mode !== 'quiet') ctx.io.stderr.write(`cache: exported ${e.steps} steps to ${e.type === 'local' ? e.dest : `${e.dest}@${e.digest}`}\n`);
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
