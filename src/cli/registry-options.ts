import type { Argv } from 'yargs';
import type { Store } from '../cache/store.js';
import { OcibuildError } from '../errors.js';
import { readImage } from '../image/read.js';
import type { PullFn, PushFn } from '../build.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { RegistryClient, pullImage, normalizeReference, referenceName, type Credentials, type RegistryClientOptions } from '../registry/index.js';
import { pushImage } from '../push/index.js';
import type { CommandContext } from './main.js';

/** The registry flags every command that talks to registries takes. */
export function registryFlags<T>(y: Argv<T>) {
  return y
    .option('creds', { type: 'string', array: true, default: [] as string[], describe: 'Credentials [REGISTRY=]USER[:PASSWORD] (without REGISTRY: for the registries of the image names given)' })
    .option('registry-ca', { type: 'string', array: true, default: [] as string[], describe: 'PEM file of extra CA certificates to trust (also NODE_EXTRA_CA_CERTS)' })
    .option('insecure-registry', { type: 'string', array: true, default: [] as string[], describe: 'host:port reached over plain HTTP (loopback always may)' })
    .option('registry-mirror', { type: 'string', array: true, default: [] as string[], describe: 'Pull mirror REGISTRY=HOST[:PORT], e.g. docker.io=mirror.local:5000' });
}

interface RegistryArgs {
  creds?: string[];
  'registry-ca'?: string[];
  'insecure-registry'?: string[];
  'registry-mirror'?: string[];
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
 * Client options from the flags. `--creds` without a registry applies to the
 * registries of `names` (the images this command pushes or pulls).
 */
export function registryClientOptions(ctx: CommandContext, argv: RegistryArgs, names: readonly string[] = []): RegistryClientOptions {
  const creds: Record<string, Credentials> = {};
  for (const v of argv.creds ?? []) {
    const { host, creds: c } = parseCreds(v);
    const hosts = host ? [host] : [...new Set(names.map((n) => normalizeReference(n).domain))];
    if (hosts.length === 0) throw new OcibuildError('USAGE', `--creds ${c.username}:...: name the registry (REGISTRY=USER:PASSWORD), no image name says which`);
    for (const h of hosts) creds[h] = c;
  }
  const mirrors: Record<string, string[]> = {};
  for (const m of argv['registry-mirror'] ?? []) {
    const i = m.indexOf('=');
    if (i <= 0 || i === m.length - 1) throw new OcibuildError('USAGE', `--registry-mirror ${JSON.stringify(m)}: expected REGISTRY=HOST[:PORT]`);
    (mirrors[m.slice(0, i)] ??= []).push(m.slice(i + 1));
  }
  return {
    env: ctx.io.env,
    ...(Object.keys(creds).length > 0 ? { creds } : {}),
    ...((argv['registry-ca'] ?? []).length > 0 ? { registryCa: argv['registry-ca'] } : {}),
    ...((argv['insecure-registry'] ?? []).length > 0 ? { insecureRegistries: argv['insecure-registry'] } : {}),
    ...(Object.keys(mirrors).length > 0 ? { mirrors } : {}),
    ...(ctx.io.env.OCIBUILD_DEBUG ? { debug: (line: string) => ctx.io.stderr.write(`registry: ${line}\n`) } : {}),
  };
}

/**
 * Repositories known to hold each blob: every store tag that names a
 * registry image (a pull tags what it pulled) marks its blobs, so a push to
 * the same registry mounts them instead of uploading.
 */
export async function blobOrigins(store: Store): Promise<Map<Digest, string[]>> {
  const out = new Map<Digest, string[]>();
  for (const tag of await store.listTags()) {
    let repo: string;
    try {
      repo = referenceName(normalizeReference(tag.name));
    } catch {
      continue;
    }
    let img;
    try {
      img = await readImage(store, tag.descriptor);
    } catch {
      continue;
    }
    for (const d of [img.manifest.config, ...img.manifest.layers]) {
      const list = out.get(d.digest) ?? [];
      if (!list.includes(repo)) list.push(repo);
      out.set(d.digest, list);
    }
  }
  return out;
}

/** `pullImage`/`pushImage` hooks for `build()`, sharing one client. */
export async function registryHooks(ctx: CommandContext, argv: RegistryArgs, names: readonly string[]) {
  const client = await RegistryClient.create(registryClientOptions(ctx, argv, names));
  const pullHook: PullFn = async (ref, platform, { store, signal, onProgress }) => {
    const reference = normalizeReference(ref);
    const result = await pullImage(client, reference, {
      sink: store,
      platform,
      acceptOtherPlatform: true,
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress: (e) => onProgress({ digest: e.digest, kind: e.kind, current: e.bytes, total: e.total, done: e.phase === 'done' || e.phase === 'exists' }) } : {}),
    });
    // Keep what was pulled under its name, as docker does: the next build finds it locally.
    if (!reference.digest) await store.tag(ref, result.descriptor);
    return { descriptor: result.descriptor, name: referenceName(result.reference) };
  };
  const pushHook: PushFn = async (store: Store, descriptor: Descriptor, ref: string, options) => {
    const reference = normalizeReference(ref);
    const origins = await blobOrigins(store);
    const r = await pushImage(client, store, {
      reference,
      descriptor,
      tags: reference.tag ? [reference.tag] : [],
      origins: (d) => origins.get(d),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: (e) => options.onProgress!({ digest: e.digest, current: e.bytes, total: e.total, done: e.phase === 'done' || e.phase === 'exists' || e.phase === 'mounted' }) } : {}),
    });
    return { digest: r.digest };
  };
  return { pullImage: pullHook, pushImage: pushHook, close: () => client.close() };
}
