/**
 * `ocibuild compose`: every service of a Compose file that has a `build:`
 * section, built at once in this process. Each service's build keys become
 * {@link BuildOptions} (`composeBuildPlan`); the builds share one store and one
 * build session, so a step two services share (same base, same first steps)
 * is built once and hit by the other. A failing service stops the others
 * unless `keepGoing`; the result lists each service's image or its error.
 */
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { buildInSession, createBuildSession, openBuildStore, type BuildOptions, type BuildResult, type RunOptions } from './build.js';
import type { Store } from './cache/store.js';
import { applyComposeSets, buildServiceNames, composeError, loadComposeProject, serviceBuild, type ComposeBuild, type ComposeLocation, type ComposeWarning, type LoadedProject } from './compose/index.js';
import { OcibuildError } from './errors.js';
import type { ProgressSink } from './engine/progress.js';
import { parseImageName } from './image/names.js';
import { parseAddHost, parseShmSize, parseUlimit, type ExtraHost, type Rlimit, type SecretSource } from './run/index.js';

/** Options of {@link compose}: which files and services, and what every service's build shares. */
export interface ComposeOptions {
  /** Compose files (`-f`), merged in order; default: `COMPOSE_FILE`, else compose.yaml (and its override file) in `cwd` or a parent. */
  files?: string[];
  /** Directory the files are looked up from (default `process.cwd()`). */
  cwd?: string;
  /** The project directory (default: the first file's). `.env` is read from it. */
  projectDirectory?: string;
  /** The project name (default: `name:`, `COMPOSE_PROJECT_NAME`, the directory's name); images without `image:` are named `<project>-<service>`. */
  projectName?: string;
  /** Services to build (default: every service with a `build:` section). */
  services?: string[];
  /** bake-style overrides, `SERVICE.KEY[.NAME]=VALUE` (`web.args.VERSION=2`, `*.platforms=linux/amd64`). */
  set?: string[];
  /** Push each service's `image` and `tags` to their registries. */
  push?: boolean;
  /** Let the other services finish when one fails (default: a failure stops them). */
  keepGoing?: boolean;
  /** Services built at once (default: the number of cores, at least 2). */
  concurrency?: number;
  /** RUN settings every service starts from (a service's network, extra_hosts, secrets, ... are added). */
  run?: RunOptions;
  /** Registry settings, store, hooks, environment, signal: as for {@link build}. */
  store?: Store;
  storeRoot?: string;
  pullImage?: BuildOptions['pullImage'];
  pushImage?: BuildOptions['pushImage'];
  /** Streams each pushed service's big layers to its registry while they are written (see {@link BuildOptions.layerUploads}). */
  layerUploads?: BuildOptions['layerUploads'];
  registry?: BuildOptions['registry'];
  /** The process environment (wins over `.env`; default `process.env`). */
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Progress of every service's build; vertex ids and names carry the service (`web/step:...`, `[web] ...`). */
  onProgress?: ProgressSink;
}

/** One service's build as planned: its options for {@link build}. */
export interface ComposeServicePlan {
  service: string;
  /** The checked build section. */
  build: ComposeBuild;
  /** What the service's build is given (store, hooks, signal and progress are added when it runs). */
  options: BuildOptions;
  /** The names pushed with `push` (`image:` when written, and `tags`). */
  pushNames: string[];
}

/** A project's services, ready to build. */
export interface ComposePlan {
  project: LoadedProject;
  services: ComposeServicePlan[];
  warnings: ComposeWarning[];
  /** Texts errors may point into: the compose files, `.env`, inline Dockerfiles (by the name their errors use). */
  sources: Map<string, string>;
}

/** What became of one service. */
export type ComposeServiceResult =
  | { service: string; status: 'built'; result: BuildResult }
  | { service: string; status: 'failed' | 'canceled'; error: unknown };

/** What {@link compose} did, service by service. */
export interface ComposeResult {
  project: string;
  services: ComposeServiceResult[];
  warnings: ComposeWarning[];
  sources: Map<string, string>;
  /** True when every service was built. */
  ok: boolean;
}

function located(e: unknown, where: ComposeLocation | undefined, prefix: string): OcibuildError {
  const message = e instanceof Error ? e.message.replace(/^--[a-z-]+ /, '') : String(e);
  return composeError(`${prefix}: ${message}`, where);
}

/**
 * Checks {@link ComposeOptions} at run time (a JavaScript caller has no
 * compiler): a wrong type is a `USAGE` error naming the option. What each
 * service's build gets is checked again by `build()`.
 */
function checkComposeOptions(options: unknown): asserts options is ComposeOptions {
  const bad = (key: string, expected: string) => new OcibuildError('USAGE', `compose() option "${key}": expected ${expected}`);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new OcibuildError('USAGE', 'compose() takes an options object ({ cwd: "." })');
  const o = options as Record<string, unknown>;
  for (const k of ['files', 'services', 'set']) {
    const v = o[k];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) throw bad(k, 'an array of strings');
  }
  for (const k of ['cwd', 'projectDirectory', 'projectName', 'storeRoot']) if (o[k] !== undefined && typeof o[k] !== 'string') throw bad(k, 'a string');
  for (const k of ['push', 'keepGoing']) if (o[k] !== undefined && typeof o[k] !== 'boolean') throw bad(k, 'true or false');
  if (o.concurrency !== undefined && !(typeof o.concurrency === 'number' && Number.isInteger(o.concurrency) && o.concurrency >= 1)) throw bad('concurrency', 'a whole number >= 1');
  for (const k of ['run', 'env', 'registry']) if (o[k] !== undefined && (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k]))) throw bad(k, 'an object');
  for (const k of ['pullImage', 'pushImage', 'layerUploads', 'onProgress']) if (o[k] !== undefined && typeof o[k] !== 'function') throw bad(k, 'a function');
}

/** Loads the project and maps each selected service's build keys onto {@link BuildOptions}. */
export async function composeBuildPlan(options: ComposeOptions): Promise<ComposePlan> {
  checkComposeOptions(options);
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const project = await loadComposeProject({
    cwd,
    env,
    ...(options.files ? { files: options.files } : {}),
    ...(options.projectDirectory !== undefined ? { projectDirectory: options.projectDirectory } : {}),
    ...(options.projectName !== undefined ? { projectName: options.projectName } : {}),
  });
  applyComposeSets(project, options.set ?? []);
  const all = buildServiceNames(project);
  const services = project.data.services as Record<string, unknown> | undefined;
  let selected = all;
  if (options.services && options.services.length > 0) {
    for (const s of options.services) {
      if (!services || !(s in services)) throw new OcibuildError('USAGE', `no such service: ${s} (services: ${Object.keys(services ?? {}).join(', ') || 'none'})`);
      if (!all.includes(s)) throw composeError(`service ${s} has no build section`, project.where(['services', s]), 'COMPOSE_INVALID');
    }
    selected = options.services;
  }
  if (all.length === 0) throw composeError(`no service of ${project.files.map((f) => path.relative(cwd, f) || f).join(', ')} has a build section`, project.where(['services']));
  const builds = new Map<string, ComposeBuild>();
  const need = (name: string, chain: string[]): void => {
    if (chain.includes(name)) throw composeError(`services ${[...chain.slice(chain.indexOf(name)), name].join(' -> ')} name each other's images as additional contexts (a cycle)`, project.where(['services', name, 'build', 'additional_contexts']));
    if (builds.has(name)) return;
    const b = serviceBuild(project, name);
    for (const d of b.dependsOn) need(d, [...chain, name]);
    builds.set(name, b);
  };
  for (const s of selected) need(s, []);
  const sources = new Map(project.sources);
  const plans: ComposeServicePlan[] = [];
  const warnings = [...project.warnings];
  for (const b of builds.values()) {
    const plan = serviceOptions(b, builds, options, env, project);
    if (b.dockerfileInline !== undefined) sources.set(plan.options.file!, b.dockerfileInline);
    if (options.push && plan.pushNames.length === 0) {
      warnings.push({ message: `service ${b.service} has no image: and no tags to push; it is tagged ${b.image} in the local store only`, ...locationOf(b.where([])) });
    }
    plans.push(plan);
  }
  return { project, services: plans, warnings, sources };
}

function locationOf(l: ComposeLocation | undefined): { location?: ComposeLocation } {
  return l ? { location: l } : {};
}

/** The {@link BuildOptions} of one service (pure but for checking names and values). */
function serviceOptions(b: ComposeBuild, builds: Map<string, ComposeBuild>, options: ComposeOptions, env: Record<string, string | undefined>, project: LoadedProject): ComposeServicePlan {
  const at = (...p: (string | number)[]) => b.where(['build', ...p]);
  const name = (n: string, where: ComposeLocation | undefined, what: string) => {
    try {
      parseImageName(n);
    } catch (e) {
      throw located(e, where, `services.${b.service}.${what}`);
    }
    return n;
  };
  name(b.image, b.where(['image']) ?? b.where([]), 'image');
  b.tags.forEach((t, i) => name(t, at('tags', i), `build.tags[${i}]`));
  const tags = [...new Set([b.image, ...b.tags])];
  const pushNames = [...new Set([...(b.imageGiven ? [b.image] : []), ...b.tags])];

  const addHosts: ExtraHost[] = b.extraHosts.map((h, i) => {
    try {
      return parseAddHost(h);
    } catch (e) {
      throw located(e, at('extra_hosts', i) ?? at('extra_hosts'), `services.${b.service}.build.extra_hosts`);
    }
  });
  let shmSize: number | undefined;
  if (b.shmSize !== undefined) {
    try {
      shmSize = /^\d+$/.test(b.shmSize) ? Number(b.shmSize) : parseShmSize(b.shmSize);
    } catch (e) {
      throw located(e, at('shm_size'), `services.${b.service}.build.shm_size`);
    }
  }
  const ulimits: Rlimit[] = b.ulimits.map((u) => {
    try {
      return parseUlimit(u);
    } catch (e) {
      throw located(e, at('ulimits', u.slice(0, u.indexOf('='))), `services.${b.service}.build.ulimits`);
    }
  });
  const secrets: Record<string, SecretSource> = { ...(options.run?.secrets ?? {}), ...b.secrets };
  const ssh = { ...(options.run?.ssh ?? {}), ...b.ssh };
  const run: RunOptions = {
    ...(options.run ?? {}),
    ...(b.network ? { network: b.network } : {}),
    ...(addHosts.length > 0 ? { addHosts: [...(options.run?.addHosts ?? []), ...addHosts] } : {}),
    ...(shmSize !== undefined ? { shmSize } : {}),
    ...(ulimits.length > 0 ? { ulimits } : {}),
    ...(b.allowInsecure ? { allowInsecure: true } : {}),
    ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
    ...(Object.keys(ssh).length > 0 ? { ssh } : {}),
  };
  // `service:NAME` is that service's image (built first).
  const buildContexts: Record<string, string> = {};
  for (const [k, v] of Object.entries(b.additionalContexts)) {
    buildContexts[k] = v.startsWith('service:') ? `docker-image://${builds.get(v.slice('service:'.length))!.image}` : v;
  }
  const inlineName = `${project.where(['services', b.service, 'build', 'dockerfile_inline'])?.file ?? 'compose'} (services.${b.service}.build.dockerfile_inline)`;
  const buildOptions: BuildOptions = {
    context: b.context,
    ...(b.dockerfileInline !== undefined ? { dockerfile: b.dockerfileInline, file: inlineName } : { file: b.dockerfile! }),
    ...(Object.keys(b.args).length > 0 ? { buildArgs: b.args } : {}),
    ...(b.target !== undefined ? { target: b.target } : {}),
    ...(b.platforms.length > 0 ? { platforms: b.platforms } : {}),
    tags,
    ...(Object.keys(b.labels).length > 0 ? { labels: b.labels } : {}),
    ...(options.push && pushNames.length > 0 ? { outputs: [{ type: 'registry' as const, names: pushNames }] } : {}),
    ...(b.pull ? { pull: true } : {}),
    ...(b.noCache ? { noCache: true } : {}),
    ...(Object.keys(buildContexts).length > 0 ? { buildContexts } : {}),
    ...(b.cacheFrom.length > 0 ? { cacheFrom: b.cacheFrom } : {}),
    ...(b.cacheTo.length > 0 ? { cacheTo: b.cacheTo } : {}),
    ...(Object.keys(run).length > 0 ? { run } : {}),
    env,
  };
  return { service: b.service, build: b, options: buildOptions, pushNames };
}

/**
 * Builds the services of a Compose file at once, sharing steps, and returns
 * each one's result or error (a file that cannot be read or checked throws).
 */
export async function compose(options: ComposeOptions): Promise<ComposeResult> {
  return buildComposePlan(await composeBuildPlan(options), options);
}

/** Builds a plan made by {@link composeBuildPlan} (the CLI looks at it first: sources, names for credentials). */
export async function buildComposePlan(plan: ComposePlan, options: ComposeOptions): Promise<ComposeResult> {
  const env = options.env ?? process.env;
  const store = await openBuildStore(options, env);
  const session = createBuildSession();
  const limit = pLimit(Math.max(1, options.concurrency ?? Math.max(2, os.availableParallelism())));
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal!.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const byName = new Map(plan.services.map((s) => [s.service, s]));
  const running = new Map<string, Promise<ComposeServiceResult>>();
  let firstFailure: string | undefined;

  const canceled = (service: string, why: string): ComposeServiceResult => ({ service, status: 'canceled', error: new OcibuildError('INTERRUPTED', why) });
  const start = (s: ComposeServicePlan): Promise<ComposeServiceResult> => {
    let p = running.get(s.service);
    if (p) return p;
    p = (async (): Promise<ComposeServiceResult> => {
      for (const d of s.build.dependsOn) {
        const r = await start(byName.get(d)!);
        if (r.status !== 'built') return canceled(s.service, `not built: service ${d}, whose image it uses as a build context, was not built`);
      }
      return limit(async (): Promise<ComposeServiceResult> => {
        if (stop.signal.aborted) return canceled(s.service, stopReason());
        const sink = options.onProgress;
        try {
          const result = await buildInSession(
            {
              ...s.options,
              store,
              ...(options.pullImage ? { pullImage: options.pullImage } : {}),
              ...(options.pushImage ? { pushImage: options.pushImage } : {}),
              ...(options.layerUploads ? { layerUploads: options.layerUploads } : {}),
              ...(options.registry ? { registry: options.registry } : {}),
              signal: stop.signal,
              ...(sink ? { onProgress: (e) => sink({ ...e, ...('vertex' in e && e.vertex !== undefined ? { vertex: `${s.service}/${e.vertex}` } : {}), ...('name' in e && e.type === 'vertex.started' ? { name: `[${s.service}] ${e.name}` } : {}) }) } : {}),
            },
            session,
          );
          return { service: s.service, status: 'built', result };
        } catch (error) {
          // Stopped because another service failed (whatever the step said as it was stopped), or by the caller's signal: canceled, not failed.
          if (stop.signal.aborted && firstFailure !== undefined && firstFailure !== s.service) {
            return { service: s.service, status: 'canceled', error: new OcibuildError('INTERRUPTED', stopReason(), { cause: error }) };
          }
          const interrupted = stop.signal.aborted && (error === stop.signal.reason || (error instanceof OcibuildError && error.code === 'INTERRUPTED') || (error as Error)?.name === 'AbortError');
          if (interrupted) return { service: s.service, status: 'canceled', error };
          firstFailure ??= s.service;
          if (!options.keepGoing) stop.abort(new OcibuildError('INTERRUPTED', stopReason()));
          return { service: s.service, status: 'failed', error };
        }
      });
    })();
    running.set(s.service, p);
    return p;
  };
  const stopReason = () => (firstFailure !== undefined ? `stopped: service ${firstFailure} failed (--keep-going builds the others anyway)` : 'interrupted');
  let results: ComposeServiceResult[];
  try {
    results = await Promise.all(plan.services.map(start));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  // Only the services asked for (a service:NAME dependency built on the way is listed too).
  return { project: plan.project.name, services: results, warnings: plan.warnings, sources: plan.sources, ok: results.every((r) => r.status === 'built') };
}
