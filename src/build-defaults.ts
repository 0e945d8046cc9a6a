/**
 * What `build()` does before any work: check its options as a JavaScript
 * caller may pass anything (each error names the option), and give it the
 * registry client the CLI would (config.json and credential helpers,
 * `REGISTRY_AUTH_FILE`, extra CAs, mirrors, insecure registries) when the
 * caller supplies no `pullImage`/`pushImage` hooks.
 */
import type { BuildOptions, PullFn } from './build.js';
import type { Store } from './cache/store.js';
import { parseBuildContexts } from './build-contexts.js';
import { OcibuildError } from './errors.js';
import { parseOutputSpec } from './output/spec.js';
import { parseCacheExport, parseCacheImport } from './cache/cache-spec.js';
import { parseImageName } from './image/names.js';
import type { Descriptor } from './oci/types.js';
import { LayerUploads, blobOrigins, pushImage } from './push/index.js';
import { RegistryClient, normalizeReference, pullImage, referenceName, type RegistryClientOptions } from './registry/index.js';

/** Registry settings of {@link BuildOptions.registry}: the client options minus `env` (from `BuildOptions.env`). */
export type BuildRegistryOptions = Omit<RegistryClientOptions, 'env'>;

type PushFn = NonNullable<BuildOptions['pushImage']>;
type LayerUploadFn = NonNullable<BuildOptions['layerUploads']>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string ${JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v)}`;
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'no prototype'})`;
  return `${typeof v === 'undefined' ? '' : 'a '}${typeof v} ${String(v)}`.trim();
}

function invalid(option: string, expected: string, got: unknown): OcibuildError {
  return new OcibuildError('USAGE', `build() option "${option}": expected ${expected}, got ${describe(got)}`);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkString(o: Record<string, unknown>, key: string, required = false): void {
  const v = o[key];
  if (v === undefined && !required) return;
  if (typeof v !== 'string' || (required && v === '')) throw invalid(key, required ? 'a non-empty string' : 'a string', v);
}

function checkBoolean(o: Record<string, unknown>, key: string): void {
  if (o[key] !== undefined && typeof o[key] !== 'boolean') throw invalid(key, 'true or false', o[key]);
}

function checkFunction(o: Record<string, unknown>, key: string): void {
  if (o[key] !== undefined && typeof o[key] !== 'function') throw invalid(key, 'a function', o[key]);
}

function checkStringRecord(o: Record<string, unknown>, key: string): void {
  const v = o[key];
  if (v === undefined) return;
  if (!isRecord(v)) throw invalid(key, 'an object of string values ({ KEY: "value" })', v);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw invalid(`${key}.${k}`, 'a string', x);
}

function checkStringArray(o: Record<string, unknown>, key: string, path = key): void {
  const v = o[key];
  if (v === undefined) return;
  if (!Array.isArray(v)) throw invalid(path, 'an array of strings', v);
  v.forEach((x, i) => {
    if (typeof x !== 'string') throw invalid(`${path}[${i}]`, 'a string', x);
  });
}

/**
 * Checks `build()`'s options at run time (a JavaScript caller has no
 * compiler to do it): a wrong type is an `OcibuildError` with code `USAGE`
 * naming the option, before anything is read or written.
 */
export function checkBuildOptions(options: unknown): asserts options is BuildOptions {
  if (!isRecord(options)) throw new OcibuildError('USAGE', `build() takes an options object ({ context: '.' }), got ${describe(options)}`);
  const o = options;
  checkString(o, 'context', true);
  for (const k of ['file', 'target', 'storeRoot']) checkString(o, k);
  if (o.dockerfile !== undefined && typeof o.dockerfile !== 'string' && !(o.dockerfile instanceof Uint8Array)) throw invalid('dockerfile', 'a string or a Uint8Array', o.dockerfile);
  for (const k of ['buildArgs', 'labels', 'annotations', 'buildContexts']) checkStringRecord(o, k);
  for (const k of ['cacheFrom', 'cacheTo']) checkStringArray(o, k);
  // Malformed named contexts fail here, before anything is read.
  if (o.buildContexts !== undefined) parseBuildContexts(o.buildContexts as Record<string, string>, process.cwd());
  // Malformed --cache-from/--cache-to values fail here, before anything is read.
  for (const t of (o.cacheFrom as string[] | undefined) ?? []) parseCacheImport(t);
  for (const t of (o.cacheTo as string[] | undefined) ?? []) parseCacheExport(t);
  checkStringArray(o, 'tags');
  // Malformed names and --output values fail here, before the store is opened or anything read.
  for (const t of (o.tags as string[] | undefined) ?? []) parseImageName(t);
  if (o.platforms !== undefined) {
    if (!Array.isArray(o.platforms)) throw invalid('platforms', 'an array of platforms ("linux/arm64" or { os, architecture })', o.platforms);
    o.platforms.forEach((p, i) => {
      if (typeof p === 'string') return;
      if (!isRecord(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') throw invalid(`platforms[${i}]`, 'a string like "linux/arm64" or { os, architecture }', p);
    });
  }
  if (o.outputs !== undefined) {
    if (!Array.isArray(o.outputs)) throw invalid('outputs', 'an array of outputs ("type=oci,dest=out" or { type, ... })', o.outputs);
    o.outputs.forEach((x, i) => {
      if (typeof x === 'string') return void parseOutputSpec(x);
      if (!isRecord(x) || typeof x.type !== 'string') throw invalid(`outputs[${i}]`, 'a string like "type=oci,dest=out" or an object with a type', x);
    });
  }
  for (const k of ['push', 'pull', 'noCache']) checkBoolean(o, k);
  if (o.sourceDateEpoch !== undefined && !(typeof o.sourceDateEpoch === 'number' && Number.isInteger(o.sourceDateEpoch) && o.sourceDateEpoch >= 0)) {
    throw invalid('sourceDateEpoch', 'a whole number of seconds >= 0', o.sourceDateEpoch);
  }
  if (o.store !== undefined) {
    const s = o.store as Partial<Store> | undefined;
    if (!isRecord(s) || typeof s.root !== 'string' || typeof s.resolve !== 'function' || typeof s.writeBlob !== 'function') {
      throw invalid('store', 'a Store (await Store.open(dir)); for a directory use storeRoot', o.store);
    }
  }
  for (const k of ['pullImage', 'pushImage', 'layerUploads', 'onProgress']) checkFunction(o, k);
  if (o.registryClient !== undefined && !(isRecord(o.registryClient) && typeof (o.registryClient as { request?: unknown }).request === 'function')) {
    throw invalid('registryClient', 'a RegistryClient (await RegistryClient.create(...))', o.registryClient);
  }
  if (o.env !== undefined && !isRecord(o.env)) throw invalid('env', 'an object of environment variables', o.env);
  if (o.http !== undefined && !isRecord(o.http)) throw invalid('http', 'an object', o.http);
  if (o.signal !== undefined) {
    const s = o.signal as Partial<AbortSignal>;
    if (!isRecord(s) || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function') throw invalid('signal', 'an AbortSignal', o.signal);
  }
  if (o.registry !== undefined) {
    const r = o.registry;
    if (!isRecord(r)) throw invalid('registry', 'an object ({ creds, registryCa, insecureRegistries, mirrors })', r);
    for (const k of ['registryCa', 'insecureRegistries']) checkStringArray(r, k, `registry.${k}`);
    if (r.creds !== undefined) {
      if (!isRecord(r.creds)) throw invalid('registry.creds', 'an object of credentials by registry host', r.creds);
      for (const [host, c] of Object.entries(r.creds)) {
        if (!isRecord(c) || (c.username !== undefined && typeof c.username !== 'string') || (c.password !== undefined && typeof c.password !== 'string')) {
          // Never show the value: it holds a secret.
          throw new OcibuildError('USAGE', `build() option "registry.creds.${host}": expected { username, password } (or { identityToken })`);
        }
      }
    }
    if (r.mirrors !== undefined) {
      if (!isRecord(r.mirrors)) throw invalid('registry.mirrors', 'an object of mirror hosts by registry', r.mirrors);
      for (const [host, m] of Object.entries(r.mirrors)) {
        if (typeof m !== 'string' && !(Array.isArray(m) && m.every((x) => typeof x === 'string'))) throw invalid(`registry.mirrors.${host}`, 'a host or an array of hosts', m);
      }
    }
  }
}

/** `pullImage`/`pushImage`/`layerUploads` hooks over one registry client, as `ocibuild build` uses them. */
export function registryClientHooks(client: () => Promise<RegistryClient>): { pullImage: PullFn; pushImage: PushFn; layerUploads: LayerUploadFn } {
  return {
    async layerUploads(ref, options) {
      return new LayerUploads(await client(), { reference: normalizeReference(ref), ...options });
    },
    async pullImage(ref, platform, { store, signal, onProgress }) {
      const reference = normalizeReference(ref);
      let result;
      try {
        result = await pullImage(await client(), reference, {
          sink: store,
          platform,
          acceptOtherPlatform: true,
          ...(signal ? { signal } : {}),
          // Waits (a registry slow to answer) are not bytes moved.
          ...(onProgress ? { onProgress: (e) => e.phase !== 'waiting' && onProgress({ digest: e.digest, kind: e.kind, current: e.bytes, total: e.total, done: e.phase === 'done' || e.phase === 'exists' }) } : {}),
        });
      } catch (e) {
        // The registry has no such manifest: the base image does not exist (a missing blob stays a registry error).
        const url = e instanceof OcibuildError ? String(e.details?.['url'] ?? '') : '';
        if (e instanceof OcibuildError && e.code === 'REGISTRY_NOT_FOUND' && url.includes('/manifests/')) {
          throw new OcibuildError('IMAGE_NOT_FOUND', `base image ${JSON.stringify(ref)} is neither in the local store nor in its registry (${reference.domain})`, { cause: e, details: e.details });
        }
        throw e;
      }
      // Keep what was pulled under its name, as docker does: the next build finds it locally.
      if (!reference.digest) await store.tag(ref, result.descriptor);
      return { descriptor: result.descriptor, name: referenceName(result.reference) };
    },
    async pushImage(store: Store, descriptor: Descriptor, ref: string, options) {
      const reference = normalizeReference(ref);
      const r = await pushImage(await client(), store, {
        reference,
        descriptor,
        tags: reference.tag ? [reference.tag] : [],
        origins: blobOrigins(store, reference),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress
          ? { onProgress: (e) => e.phase !== 'waiting' && options.onProgress!({ digest: e.digest, current: e.bytes, total: e.total, done: e.phase === 'done' || e.phase === 'exists' || e.phase === 'mounted' }) }
          : {}),
      });
      return { digest: r.digest };
    },
  };
}

/**
 * Runs `run` with the options checked and, for the hooks the caller left
 * out, a registry client made from `options.registry` and `options.env`
 * (created on the first pull, push or remote-cache request, closed when
 * `run` settles); `run` gets that client too (remote caches use it).
 */
export async function withBuildDefaults<T>(options: BuildOptions, run: (options: BuildOptions, client: () => Promise<RegistryClient>) => Promise<T>): Promise<T> {
  checkBuildOptions(options);
  let client: Promise<RegistryClient> | undefined;
  const given = options.registryClient;
  const lazy = given ? () => Promise.resolve(given) : () => (client ??= RegistryClient.create({ ...options.registry, env: options.env ?? process.env }));
  const hooks = registryClientHooks(lazy);
  try {
    // Layers go ahead of the push only through the client that pushes: not with a push hook of the caller's own.
    const layerUploads = options.layerUploads ?? (options.pushImage ? undefined : hooks.layerUploads);
    return await run({ ...options, pullImage: options.pullImage ?? hooks.pullImage, pushImage: options.pushImage ?? hooks.pushImage, ...(layerUploads ? { layerUploads } : {}) }, lazy);
  } finally {
    if (client) await (await client.catch(() => undefined))?.close();
  }
}
