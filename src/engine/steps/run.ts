/**
 * RUN: the command in the sandbox (src/run) over the stage's unpacked layers,
 * its changes one layer. The key (pure, before anything runs): the parent
 * chain, the command as written after expansion, the environment it sees
 * (ENV, and the ARGs in scope: a changed ARG misses only the RUN steps that
 * see it), USER, WORKDIR, SHELL, network and security modes. A hit runs
 * nothing. A RUN that changes nothing has no layer (its history entry is an
 * empty layer, as BuildKit's exporter writes it).
 */
import { OcibuildError } from '../../errors.js';
import { hashKey } from '../../graph/cache-key.js';
import type { RunStep } from '../../graph/types.js';
import { executeRun, runCacheInputs, type RunHeredoc } from '../../run/index.js';
import type { Executor, StepContext } from '../step.js';
import { outcomeWith, writeLayerBlob } from './common.js';
import { mountsCacheInputs, prepareMounts } from './run-mounts.js';
import { OutputRedactor } from '../../run/mounts.js';

interface RunInputs {
  command: readonly string[];
  prependShell: boolean;
  heredocs: readonly RunHeredoc[];
  shell?: readonly string[];
  /** Env the key covers: the image's Env, then the ARGs in scope that ENV does not set. */
  env: string[];
  user?: string;
  workdir: string;
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
}

function inputsOf(ctx: StepContext<RunStep>): RunInputs {
  const { step, config } = ctx;
  const env = [...step.env];
  const keys = new Set(env.map((e) => e.slice(0, e.indexOf('='))));
  for (const a of ctx.args) {
    if (a.value === undefined || keys.has(a.key)) continue;
    env.push(`${a.key}=${a.value}`);
    keys.add(a.key);
  }
  return {
    command: step.command,
    prependShell: step.prependShell,
    heredocs: step.files,
    ...(config.config.Shell && config.config.Shell.length > 0 ? { shell: config.config.Shell } : {}),
    env,
    ...(config.config.User ? { user: config.config.User } : {}),
    workdir: config.config.WorkingDir || '/',
    network: step.network === 'default' ? (ctx.settings.run?.network ?? 'default') : step.network,
    security: step.security,
  };
}

function check(ctx: StepContext<RunStep>): void {
  const { step } = ctx;
  if (step.security === 'insecure' && !ctx.settings.run?.allowInsecure) {
    throw new OcibuildError('USAGE', 'RUN --security=insecure is not allowed', { hint: 'pass --allow security.insecure to the build to allow it' });
  }
  if (step.devices.length > 0) throw new OcibuildError('UNSUPPORTED', 'RUN --device is not supported yet');
}

export const runExecutor: Executor<RunStep> = {
  async key(ctx) {
    check(ctx);
    const inputs = inputsOf(ctx);
    const mounts = await mountsCacheInputs(ctx, inputs.workdir);
    const key = hashKey({ parent: ctx.chain, run: runCacheInputs(inputs), epoch: ctx.settings.sourceDateEpoch ?? null, ...(mounts !== undefined ? { mounts } : {}) });
    return { cacheable: true, key };
  },
  async execute(ctx) {
    check(ctx);
    const run = ctx.settings.run;
    if (!run) throw new OcibuildError('SANDBOX_UNAVAILABLE', 'RUN needs a sandbox, and this build has none configured');
    const inputs = inputsOf(ctx);
    const method = await run.method();
    // Proxy build args reach the process without entering the key or the image.
    const env = [...inputs.env];
    const keys = new Set(env.map((e) => e.slice(0, e.indexOf('='))));
    for (const p of ctx.step.proxy) if (!keys.has(p.key)) env.push(`${p.key}=${p.value}`);
    const view = await ctx.rootfs.view();
    const prepared = await prepareMounts(ctx, inputs.workdir, env);
    env.push(...prepared.env);
    const out = await executeRun({
      store: ctx.store,
      lowerDirs: await ctx.rootfs.unpacked(),
      writeBlob: (write) => writeLayerBlob(ctx, write),
      ...inputs,
      env,
      readFile: async (p) => view?.readFile(p),
      resolvePath: async (p) => {
        if (!view) return undefined;
        const r = view.resolve(p);
        if (r !== undefined) return r;
        return (await view.lstat(p)) ? null : undefined;
      },
      method,
      ...(run.addHosts ? { addHosts: run.addHosts } : {}),
      ...(run.shmSize !== undefined ? { shmSize: run.shmSize } : {}),
      ...(run.ulimits ? { ulimits: run.ulimits } : {}),
      ...(ctx.settings.sourceDateEpoch !== undefined ? { sourceDateEpoch: ctx.settings.sourceDateEpoch } : {}),
      onOutput: (stream, data) => ctx.progress.log(stream, data),
      signal: ctx.signal,
      ...(prepared.mounts.length > 0 ? { mounts: prepared.mounts } : {}),
      ...(prepared.secrets.length > 0 ? { redactor: () => new OutputRedactor(prepared.secrets) } : {}),
    }).finally(() => prepared.release());
    return outcomeWith(ctx, out.layer);
  },
  reuse(ctx, layer) {
    return outcomeWith(ctx, layer);
  },
};
