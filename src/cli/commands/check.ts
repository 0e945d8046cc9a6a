import type { Argv } from 'yargs';
import path from 'node:path';
import type { CheckResult, CompileOptions, compileDockerfile } from '../../compiler/index.js';
import { OcibuildError } from '../../errors.js';
import { defaultPlatform, formatPlatform, normalizePlatform, parsePlatform } from '../../image/platform.js';
import type { ContainerConfig, Platform } from '../../oci/types.js';
import type { DockerfileAst } from '../../parser/index.js';
import type { BaseRequest } from '../base-config.js';
import { readDockerfileInput } from '../dockerfile-input.js';
import type { CommandContext } from '../main.js';
import { registryClientOptions, registryFlags } from '../registry-options.js';
import { openStore } from '../store.js';
import { formatWarning } from '../warnings.js';
import { parseKeyValues } from '../options.js';

/** `ocibuild check`: BuildKit's build checks, without building. */
export function register(y: Argv, ctx: CommandContext): Argv {
  return y.command(
    'check [PATH]',
    'Run the build checks (lint rules) on a Dockerfile',
    (c) =>
      registryFlags(
        c
          .positional('PATH', { type: 'string', describe: 'Build context directory', default: '.' })
          .option('file', { alias: 'f', type: 'string', describe: 'Dockerfile path (default PATH/Dockerfile, - for stdin)' })
          .option('target', { type: 'string', describe: 'Check as if building this stage' })
          .option('build-arg', { type: 'string', array: true, describe: 'Build-time variable KEY=VALUE (KEY alone: from the environment)', default: [] as string[] })
          .option('platform', { type: 'string', array: true, describe: 'Target platform(s), e.g. linux/amd64,windows/amd64', default: [] as string[] })
          .option('pull', {
            type: 'boolean',
            default: true,
            describe: "Read base images' configs from their registry when the store lacks them (--pull=false: the store only)",
          })
          .option('build-context', {
            requiresArg: true,
            type: 'string',
            array: true,
            describe: 'Named context NAME=DIR|docker-image://REF|oci-layout://DIR[:TAG][@DIGEST]|target:STAGE, as for build',
            default: [] as string[],
          })
          .option('store', { type: 'string', describe: 'Store directory (default $OCIBUILD_HOME or $XDG_CACHE_HOME/ocibuild)' })
          .option('check', { type: 'string', describe: 'Override the check directive, e.g. "skip=JSONArgsRecommended;error=true"' }),
      ),
    async (argv) => {
      // The parser, compiler and registry client load when the check runs, not for `check --help` (issue 8: start-up).
      const { checkDockerfile, compileDockerfile } = await import('../../compiler/index.js');
      const { loadIgnoreFile, PatternMatcher } = await import('../../context/index.js');
      const { parseDockerfile } = await import('../../parser/index.js');
      const { RegistryClient } = await import('../../registry/index.js');
      const { resolveBaseConfigs } = await import('../base-config.js');
      const { buildContextsFromFlags, layoutContextOf, loadBuildContexts, namedContextLookup, OCI_LAYOUT_PREFIX, parseBuildContexts, readLayoutImage } = await import('../../build-contexts.js');
      const input = await readDockerfileInput(ctx, argv.file, argv.PATH);
      const ast = parseDockerfile(input.bytes, { file: input.file });
      const contextDir = path.resolve(ctx.io.cwd, argv.PATH);
      const ignore = await loadIgnoreFile(contextDir, input.path ?? '-');
      const matcher = new PatternMatcher(ignore.patterns);
      const platforms = targetPlatforms(argv.platform as string[]);
      const contexts = await loadBuildContexts(parseBuildContexts(buildContextsFromFlags(argv['build-context'] as string[], ctx.io.cwd), ctx.io.cwd));
      const base: Omit<CompileOptions, 'platform' | 'allStages'> = {
        ...(argv.target ? { target: argv.target } : {}),
        ...(contexts.byName.size > 0 ? { namedContext: namedContextLookup(contexts) } : {}),
        buildArgs: parseKeyValues(argv['build-arg'] as string[], '--build-arg', ctx.io.env),
        ...(argv.check !== undefined ? { check: argv.check } : {}),
        ignore: { patterns: ignore.patterns.map((p) => p.pattern), matches: (p) => matcher.matchesOrParentMatches(p) },
      };
      const buildPlatform = defaultPlatform();

      // The base images' configs (Env, Shell, WorkingDir) take part in the checks, as in BuildKit.
      const requests = platforms.flatMap((p) => baseRequests(ast, { ...base, platform: { buildPlatform, targetPlatform: p } }, compileDockerfile));
      let baseImageConfig: CompileOptions['baseImageConfig'];
      // OCI layout contexts: their configs come from the layout, never from a store or registry.
      const layoutConfigs = new Map<string, ContainerConfig>();
      for (const r of requests.filter((r) => r.ref.startsWith(OCI_LAYOUT_PREFIX))) {
        const layout = layoutContextOf(contexts, r.ref);
        if (!layout) continue;
        const { image } = await readLayoutImage(layout.dir, layout.digest, normalizePlatform(parsePlatform(r.platform)), layout.context.flag);
        layoutConfigs.set(`${r.ref}\0${r.platform}`, image.config.config ?? {});
      }
      const registryRequests = requests.filter((r) => !r.ref.startsWith(OCI_LAYOUT_PREFIX));
      if (layoutConfigs.size > 0) baseImageConfig = (ref, platform) => layoutConfigs.get(`${ref}\0${platform}`);
      if (registryRequests.length > 0) {
        const store = await openStore(ctx, argv.store);
        const client = argv.pull ? await RegistryClient.create(await registryClientOptions(ctx, argv, registryRequests.map((r) => r.ref))) : undefined;
        try {
          const configs = await resolveBaseConfigs(registryRequests, { store, pull: argv.pull, ...(client ? { client } : {}) });
          baseImageConfig = layoutConfigs.size > 0 ? (ref, platform) => layoutConfigs.get(`${ref}\0${platform}`) ?? configs.lookup(ref, platform) : configs.lookup;
          if (configs.missing.length > 0) {
            const list = configs.missing.map((m) => `${m.ref} (${m.reason})`).join(', ');
            ctx.io.stderr.write(
              `warning: checking without the config of base image${configs.missing.length === 1 ? '' : 's'} ${list}: variables ${configs.missing.length === 1 ? 'it defines' : 'they define'} may be reported as undefined\n`,
            );
          }
        } finally {
          await client?.close();
        }
      }

      // One check per target platform; a finding reported for several platforms is printed once.
      const results: CheckResult[] = platforms.map((p) =>
        checkDockerfile(ast, { ...base, platform: { buildPlatform, targetPlatform: p }, ...(baseImageConfig ? { baseImageConfig } : {}) }),
      );
      const color = Boolean(ctx.io.stderr.isTTY);
      const seen = new Set<string>();
      let n = 0;
      for (const result of results) {
        for (const w of result.warnings) {
          const k = `${w.rule}\0${w.message}\0${w.range?.start.offset ?? ''}`;
          if (seen.has(k)) continue;
          seen.add(k);
          n++;
          ctx.io.stdout.write(formatWarning(w, ctx.sources, { color, level: result.errorOnWarnings ? 'error' : 'warning' }));
        }
      }
      const failed = results.find((r) => r.error);
      if (failed?.error) throw failed.error;
      ctx.io.stdout.write(n === 0 ? 'Check complete, no warnings found.\n' : `Check complete, ${n} warning${n === 1 ? ' has' : 's have'} been found!\n`);
      if (results.some((r) => r.failed)) ctx.exitCode = 1;
    },
  );
}

/** `--platform` values (repeatable, comma-separated); the host's platform when none. */
function targetPlatforms(values: readonly string[]): Platform[] {
  const specs = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  if (specs.length === 0) return [defaultPlatform()];
  const seen = new Set<string>();
  return specs.map((s) => {
    const p = normalizePlatform(parsePlatform(s));
    const key = formatPlatform(p);
    if (seen.has(key)) throw new OcibuildError('USAGE', `platform ${key} given twice`);
    seen.add(key);
    return p;
  });
}

/** The image bases of every stage, with their platforms; none when the Dockerfile does not compile (the check reports why). */
function baseRequests(ast: DockerfileAst, options: CompileOptions, compile: typeof compileDockerfile): BaseRequest[] {
  let graph;
  try {
    graph = compile(ast, { ...options, check: 'skip=all', allStages: true }).value;
  } catch (e) {
    if (e instanceof OcibuildError) return [];
    throw e;
  }
  const out: BaseRequest[] = [];
  for (const s of graph.stages) {
    if (s.base.kind === 'image') out.push({ ref: s.base.ref, platform: s.platform ?? graph.targetPlatform });
  }
  return out;
}
