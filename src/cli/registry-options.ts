import type { Argv } from 'yargs';
import type { Store } from '../cache/store.js';
import { OcibuildError } from '../errors.js';
import type { LayerUploadFn, PullFn, PushFn } from '../build.js';
import type { Descriptor } from '../oci/types.js';
import type { Credentials, RegistryClientOptions, RegistryTimeouts, RegistryWait } from '../registry/index.js';
import { normalizeReference, referenceName } from '../oci/reference.js';
import { STDIN_ARG, type CommandContext } from './main.js';

/** The registry flags every command that talks to registries takes. */
export function registryFlags<T>(y: Argv<T>) {
  return y
    .option('creds', { type: 'string', array: true, default: [] as string[], describe: 'Credentials [REGISTRY=]USER[:PASSWORD] (without REGISTRY: for the registries of the image names given)' })
    .option('registry-ca', { type: 'string', array: true, default: [] as string[], describe: 'PEM file of extra CA certificates to trust (also NODE_EXTRA_CA_CERTS)' })
    .option('insecure-registry', { type: 'string', array: true, default: [] as string[], describe: 'host:port reached over plain HTTP (loopback always may)' })
    .option('registry-mirror', { type: 'string', array: true, default: [] as string[], describe: 'Pull mirror REGISTRY=HOST[:PORT], e.g. docker.io=mirror.local:5000' })
    .option('password-stdin', { type: 'boolean', default: false, describe: 'Read the password of --creds USER (given without one) from stdin' })
    .option('registry-timeout', {
      type: 'string',
      describe: 'Seconds a registry request may wait to connect, for its response, or between body chunks, per try (default 10 to connect, 30 otherwise; also OCIBUILD_REGISTRY_TIMEOUT)',
    });
}

interface RegistryArgs {
  creds?: string[];
  'registry-ca'?: string[];
  'insecure-registry'?: string[];
  'registry-mirror'?: string[];
  'registry-timeout'?: string;
  'password-stdin'?: boolean;
}

const REGISTRY_HOST = /^(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|[a-zA-Z0-9-]+(?=:)|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

/** `[REGISTRY=]USER[:PASSWORD]`; the password may hold `=` and `:`. */
export function parseCreds(value: string): { host?: string; creds: Credentials } {
  let rest = value;
  let host: string | undefined;
  const eq = value.indexOf('=');
  if (eq > 0 && REGISTRY_HOST.test(value.slice(0, eq))) {
    host = value.slice(0, eq);
    rest = value.slice(eq + 1);
  }
  const c = rest.indexOf(':');
  const username = c < 0 ? rest : rest.slice(0, c);
  if (!username) throw new OcibuildError('USAGE', '--creds needs a user name ([REGISTRY=]USER[:PASSWORD])');
  return { host, creds: { username, ...(c >= 0 ? { password: rest.slice(c + 1) } : {}) } };
}

/**
 * Fill in the password of a `--creds USER` given without one: from stdin
 * with `--password-stdin` (one trailing newline dropped, as docker login
 * does), else from a prompt on the terminal that echoes nothing. Nothing to
 * ask and no terminal is a usage error; so is `--password-stdin` with no
 * `--creds USER` to take it.
 */
async function askPasswords(ctx: CommandContext, parsed: Array<{ hosts: string[]; creds: Credentials }>, passwordStdin: boolean): Promise<void> {
  const missing = parsed.filter((p) => p.creds.password === undefined);
  if (passwordStdin) {
    if (missing.length !== 1) {
      throw new OcibuildError(
        'USAGE',
        missing.length === 0 ? '--password-stdin needs a --creds USER given without a password' : '--password-stdin gives one password, but several --creds lack one',
      );
    }
    const password = (await ctx.io.readStdin()).replace(/\r?\n$/, '');
    if (!password) throw new OcibuildError('USAGE', '--password-stdin: stdin is empty');
    missing[0]!.creds = { ...missing[0]!.creds, password };
    return;
  }
  for (const p of missing) {
    const prompt = `Password for ${p.creds.username} at ${p.hosts.join(', ')}: `;
    const password = ctx.io.promptSecret ? await ctx.io.promptSecret(prompt) : undefined;
    if (password === undefined) {
      throw new OcibuildError('USAGE', `--creds ${p.creds.username}: no password given and stdin is not a terminal to ask for one`, {
        hint: 'pass it on stdin with --password-stdin (or USER:PASSWORD)',
      });
    }
    p.creds = { ...p.creds, password };
  }
}

/**
 * `--registry-timeout SECONDS` (or OCIBUILD_REGISTRY_TIMEOUT): one limit for
 * connecting, the response and body pauses; waits are reported after half of
 * it (at most 5 s). Undefined: the client's defaults.
 */
export function registryTimeouts(flag: string | undefined, env: string | undefined): RegistryTimeouts | undefined {
  const [value, from] = flag !== undefined ? [flag, '--registry-timeout'] : env !== undefined && env !== '' ? [env, 'OCIBUILD_REGISTRY_TIMEOUT'] : [undefined, ''];
  if (value === undefined) return undefined;
  const secs = /^\d+(?:\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
  if (!(secs > 0)) throw new OcibuildError('USAGE', `${from} ${JSON.stringify(value)}: expected a positive number of seconds`);
  const ms = Math.round(secs * 1000);
  return { connectMs: ms, responseMs: ms, idleMs: ms, noticeMs: Math.min(5000, Math.max(1, Math.round(ms / 2))) };
}

/** One line for a registry wait: which request, how long, the limit. */
export function describeWait(w: RegistryWait): string {
  const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  if (w.timedOut) {
    const what = w.timedOut === 'connect' ? 'could not connect' : w.timedOut === 'response' ? 'no response' : 'the response stalled';
    return `warning: ${w.method} ${w.url} (${w.what}): ${what} within ${secs(w.timeoutMs)} (try ${w.attempt + 1})`;
  }
  const on = w.stage === 'body' ? 'for more data from' : 'for';
  return `warning: waiting ${secs(w.waitedMs)} ${on} ${w.method} ${w.url} (${w.what}; limit ${secs(w.timeoutMs)})`;
}

/**
 * Client options from the flags. `--creds` without a registry applies to the
 * registries of `names` (the images this command pushes or pulls).
 */
export async function registryClientOptions(ctx: CommandContext, argv: RegistryArgs, names: readonly string[] = []): Promise<RegistryClientOptions> {
  const creds: Record<string, Credentials> = {};
  const parsed: Array<{ hosts: string[]; creds: Credentials }> = [];
  for (const v of argv.creds ?? []) {
    const { host, creds: c } = parseCreds(v);
    const hosts = host ? [host] : [...new Set(names.map((n) => normalizeReference(n).domain))];
    if (hosts.length === 0) throw new OcibuildError('USAGE', `--creds ${c.username}:...: name the registry (REGISTRY=USER:PASSWORD), no image name says which`);
    parsed.push({ hosts, creds: c });
  }
  const timeouts = registryTimeouts(argv['registry-timeout'], ctx.io.env.OCIBUILD_REGISTRY_TIMEOUT);
  await askPasswords(ctx, parsed, Boolean(argv['password-stdin']));
  for (const p of parsed) for (const h of p.hosts) creds[h] = p.creds;
  const mirrors: Record<string, string[]> = {};
  for (const m of argv['registry-mirror'] ?? []) {
    const i = m.indexOf('=');
    if (i <= 0 || i === m.length - 1) throw new OcibuildError('USAGE', `--registry-mirror ${JSON.stringify(m)}: expected REGISTRY=HOST[:PORT]`);
    (mirrors[m.slice(0, i)] ??= []).push(m.slice(i + 1));
  }
  return {
    env: ctx.io.env,
    ...(timeouts ? { timeouts } : {}),
    onWait: (w: RegistryWait) => ctx.io.stderr.write(`${describeWait(w)}\n`),
    ...(Object.keys(creds).length > 0 ? { creds, credsSource: '--creds' } : {}),
    ...((argv['registry-ca'] ?? []).length > 0 ? { registryCa: argv['registry-ca'] } : {}),
    ...((argv['insecure-registry'] ?? []).length > 0 ? { insecureRegistries: argv['insecure-registry'] } : {}),
    ...(Object.keys(mirrors).length > 0 ? { mirrors } : {}),
    ...(ctx.io.env.OCIBUILD_DEBUG ? { debug: (line: string) => ctx.io.stderr.write(`registry: ${line}\n`) } : {}),
  };
}

export async function registryHooks(ctx: CommandContext, argv: RegistryArgs & { PATH?: unknown; file?: unknown }, names: readonly string[]) {
  if (argv['password-stdin'] && (argv.file === '-' || argv.PATH === STDIN_ARG)) {
    throw new OcibuildError('USAGE', '--password-stdin cannot be used with a Dockerfile read from stdin');
  }
  // The registry client and push load when a command talks to a registry, not at start-up (issue 8).
  const { RegistryClient, pullImage } = await import('../registry/index.js');
  const { pushImage, LayerUploads, blobOrigins } = await import('../push/index.js');
  const client = await RegistryClient.create(await registryClientOptions(ctx, argv, names));
  const pullHook: PullFn = async (ref, platform, { store, signal, onProgress }) => {
    const reference = normalizeReference(ref);
    const result = await pullImage(client, reference, {
      sink: store,
      platform,
      acceptOtherPlatform: true,
      ...(signal ? { signal } : {}),
      // Waits are reported through the client's onWait (a warning line), not as bytes moved.
      ...(onProgress ? { onProgress: (e) => e.phase !== 'waiting' && onProgress({ digest: e.digest, kind: e.kind, current: e.bytes, total: e.total, done: e.phase === 'done' || e.phase === 'exists' }) } : {}),
    });
    // Keep what was pulled under its name, as docker does: the next build finds it locally.
    if (!reference.digest) await store.tag(ref, result.descriptor);
    return { descriptor: result.descriptor, name: referenceName(result.reference) };
  };
  const pushHook: PushFn = async (store: Store, descriptor: Descriptor, ref: string, options) => {
    const reference = normalizeReference(ref);
    const r = await pushImage(client, store, {
      reference,
      descriptor,
      tags: reference.tag ? [reference.tag] : [],
      origins: blobOrigins(store, reference),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: (e) => e.phase !== 'waiting' && options.onProgress!({ digest: e.digest, current: e.bytes, total: e.total, done: e.phase === 'done' || e.phase === 'exists' || e.phase === 'mounted' }) } : {}),
    });
    return { digest: r.digest };
  };
  // The layers of a push go to its registry as they are written, through the same client.
  const layerUploads: LayerUploadFn = async (ref, options) => new LayerUploads(client, { reference: normalizeReference(ref), ...options });
  return { pullImage: pullHook, pushImage: pushHook, layerUploads, client, close: () => client.close() };
}
