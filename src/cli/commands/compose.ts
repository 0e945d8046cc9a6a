import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import type { ComposeOptions } from '../../build-compose.js';
import { OcibuildError } from '../../errors.js';
import type { CommandContext } from '../main.js';
import { parseKeyValues } from '../options.js';
import { formatError } from '../errors.js';
import { formatWarning } from '../warnings.js';
import { registryFlags, registryHooks } from '../registry-options.js';
import { createProgressDisplay, PROGRESS_MODES, resolveProgressMode } from '../progress/index.js';
import { withInterrupt } from '../run-options.js';

interface ComposeArgs {
  SERVICE: string[];
  file: string[];
  'project-directory'?: string;
  'project-name'?: string;
  set: string[];
  'build-arg': string[];
  push: boolean;
  pull: boolean;
  'no-cache': boolean;
  'keep-going': boolean;
  store?: string;
  quiet: boolean;
  progress: string;
  isolation?: 'auto' | 'oci' | 'chroot';
  runtime?: 'crun' | 'runc';
  snapshotter?: 'auto' | 'overlay' | 'fuse-overlayfs' | 'copy';
  creds: string[];
  'registry-ca': string[];
  'insecure-registry': string[];
  'registry-mirror': string[];
  'password-stdin': boolean;
  'registry-timeout'?: string;
}

/** `ocibuild compose [SERVICE...]`: every service of a Compose file with a build section, at once. */
export function register(y: Argv, ctx: CommandContext): Argv {
  return y.command(
    'compose [SERVICE..]',
    'Build the services of a Compose file (compose.yaml), sharing their common steps',
    (c) =>
      registryFlags(
        c
          .positional('SERVICE', { type: 'string', array: true, describe: 'Services to build (default: every service with a build section)', default: [] as string[] })
          .option('file', { requiresArg: true, alias: 'f', type: 'string', array: true, default: [] as string[], describe: 'Compose file (repeatable: merged in order; default compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml)' })
          .option('project-directory', { requiresArg: true, type: 'string', describe: 'Project directory: .env and relative paths (default: the first file\'s directory)' })
          .option('project-name', { requiresArg: true, alias: 'p', type: 'string', describe: 'Project name (images without image: are named PROJECT-SERVICE)' })
          .option('set', { requiresArg: true, type: 'string', array: true, default: [] as string[], describe: 'Override a build key: SERVICE.KEY[.NAME]=VALUE (SERVICE may use * and ?)' })
          .option('build-arg', { requiresArg: true, type: 'string', array: true, default: [] as string[], describe: 'Build arg KEY=VALUE for every service (KEY alone: from the environment)' })
          .option('push', { type: 'boolean', default: false, describe: "Push each service's image: and tags" })
          .option('pull', { type: 'boolean', default: false, describe: 'Always pull base images' })
          .option('no-cache', { type: 'boolean', default: false, describe: 'Do not use or record cached steps' })
          .option('keep-going', { type: 'boolean', default: false, describe: 'Build the other services when one fails' })
          .option('store', { requiresArg: true, type: 'string', describe: 'Store directory (default $OCIBUILD_HOME or $XDG_CACHE_HOME/ocibuild)' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only the summary (same as --progress=quiet)' })
          .option('progress', { requiresArg: true, type: 'string', choices: PROGRESS_MODES, default: 'auto', describe: 'Progress output: auto, tty, plain, json, quiet' })
          .option('isolation', { choices: ['auto', 'oci', 'chroot'] as const, describe: 'RUN isolation: oci (crun/runc), chroot, auto' })
          .option('snapshotter', { choices: ['auto', 'overlay', 'fuse-overlayfs', 'copy'] as const, describe: 'RUN snapshots: overlay, fuse-overlayfs, copy, auto' })
          .option('runtime', { choices: ['crun', 'runc'] as const, describe: 'Prefer this OCI runtime when both work (default crun)' }),
      ),
    async (argv) => runCompose(ctx, argv as unknown as ComposeArgs),
  );
}

async function runCompose(ctx: CommandContext, argv: ComposeArgs): Promise<void> {
  // Loaded when used: the YAML reader stays out of every other command's start-up.
  const { buildComposePlan, composeBuildPlan } = await import('../../build-compose.js');
  // docker compose build's own flags are overrides of every service, before --set.
  const sets = [
    ...Object.entries(parseKeyValues(argv['build-arg'], '--build-arg', ctx.io.env)).map(([k, v]) => `*.args.${k}=${v}`),
    ...(argv['no-cache'] ? ['*.no_cache=true'] : []),
    ...(argv.pull ? ['*.pull=true'] : []),
    ...argv.set,
  ];
  const options: ComposeOptions = {
    cwd: ctx.io.cwd,
    env: ctx.io.env,
    ...(argv.file.length > 0 ? { files: argv.file } : {}),
    ...(argv['project-directory'] !== undefined ? { projectDirectory: path.resolve(ctx.io.cwd, argv['project-directory']) } : {}),
    ...(argv['project-name'] !== undefined ? { projectName: argv['project-name'] } : {}),
    ...(argv.SERVICE.length > 0 ? { services: argv.SERVICE } : {}),
    set: sets,
    push: argv.push,
    keepGoing: argv['keep-going'],
    ...(argv.store !== undefined ? { storeRoot: path.resolve(ctx.io.cwd, argv.store) } : {}),
    run: {
      ...(argv.isolation ? { isolation: argv.isolation } : {}),
      ...(argv.runtime ? { runtime: argv.runtime } : {}),
      ...(argv.snapshotter ? { snapshot: argv.snapshotter } : {}),
    },
  };
  let plan;
  try {
    plan = await composeBuildPlan(options);
  } catch (e) {
    // The compose files' texts, for the error's code frame.
    if (e instanceof OcibuildError && e.file !== undefined && !ctx.sources.has(e.file)) addSource(ctx, e.file);
    throw e;
  }
  for (const [k, v] of plan.sources) ctx.sources.set(k, v);
  const color = Boolean(ctx.io.stderr.isTTY);
  for (const w of plan.warnings) {
    const l = w.location;
    ctx.io.stderr.write(`warning: ${l ? `${l.file}:${l.range.start.line}:${l.range.start.column}: ` : ''}${w.message}\n`);
  }
  const names = plan.services.flatMap((s) => s.options.tags ?? []);
  const mode = argv.quiet ? 'quiet' : resolveProgressMode(argv.progress, ctx.io.stderr);
  const hooks = await registryHooks(ctx, argv, names);
  const display = createProgressDisplay(mode, ctx.io.stderr, ctx.now, { warnings: false });
  let result;
  try {
    result = await withInterrupt((signal) =>
      buildComposePlan(plan, {
        ...options,
        pullImage: hooks.pullImage,
        pushImage: hooks.pushImage,
        layerUploads: hooks.layerUploads,
        ...(mode === 'quiet' ? {} : { onProgress: display.onProgress }),
        signal,
      }),
    );
  } finally {
    display.end();
    await hooks.close();
  }
  // Each service: its image (digest, names) or its error.
  const width = Math.max(...result.services.map((s) => s.service.length));
  for (const s of result.services) {
    if (s.status === 'built') {
      for (const w of s.result.warnings) ctx.io.stderr.write(formatWarning(w, ctx.sources, { color }));
      for (const m of new Set(s.result.images.flatMap((i) => i.warnings.map((w) => w.message)))) ctx.io.stderr.write(`warning: [${s.service}] ${m}\n`);
      for (const m of s.result.outputs.flatMap((o) => o.warnings)) ctx.io.stderr.write(`warning: [${s.service}] ${m}\n`);
    } else if (s.status === 'failed') {
      const e = s.error;
      if (e instanceof OcibuildError && e.file !== undefined && !ctx.sources.has(e.file)) addSource(ctx, e.file);
      ctx.io.stderr.write(`[${s.service}] ` + formatError(e, ctx.sources, { color, debug: Boolean(ctx.io.env.OCIBUILD_DEBUG) }));
    }
  }
  for (const s of result.services) {
    const name = s.service.padEnd(width);
    if (s.status === 'built') {
      const pushed = s.result.outputs.filter((o) => o.type === 'registry').flatMap((o) => o.names);
      ctx.io.stdout.write(`${name}  ${s.result.descriptor.digest}  ${s.result.tags.join(', ')}${pushed.length > 0 ? `  pushed: ${pushed.join(', ')}` : ''}\n`);
    } else {
      const e = s.error;
      const text = e instanceof OcibuildError ? `${e.location ? `${e.location}: ` : ''}${e.message} [${e.code}]` : String((e as Error)?.message ?? e);
      ctx.io.stdout.write(`${name}  ${s.status}: ${text}\n`);
    }
  }
  if (!result.ok) ctx.exitCode = 1;
}

/** Reads a file an error points into (a Dockerfile, a compose file) for its code frame; none when unreadable. */
function addSource(ctx: CommandContext, file: string): void {
  try {
    ctx.sources.set(file, readFileSync(path.resolve(ctx.io.cwd, file), 'utf8'));
  } catch {
    // No code frame then.
  }
}
