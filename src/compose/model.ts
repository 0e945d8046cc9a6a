/**
 * The build sections of a loaded project, checked and typed: every Compose
 * build key is honoured or refused with an error that points at it, none is
 * read and dropped. Paths are resolved as Compose resolves them (`context`
 * and local `additional_contexts` against the project directory,
 * `dockerfile` against the context, secret files against the project).
 */
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { composeError, type ComposeLocation, type ComposePath, type LoadedProject } from './load.js';

/** Where a build secret comes from. */
export type ComposeSecretSource = { file: string } | { env: string } | { value: string };

/** One service's build, as the Compose file (and `--set`) says, typed and with paths resolved. */
export interface ComposeBuild {
  /** The service's name. */
  service: string;
  /** `image:`, the image's name (else Compose's `<project>-<service>`). */
  image: string;
  /** True when `image:` was written (only such names are pushed). */
  imageGiven: boolean;
  /** The context directory (absolute). */
  context: string;
  /** The Dockerfile (absolute; default `<context>/Dockerfile`; for a git context, relative to it), unless `dockerfileInline`. */
  dockerfile?: string;
  /** `dockerfile_inline`: the Dockerfile's text. */
  dockerfileInline?: string;
  /** Build args, values resolved (a name without a value takes the environment's; unset there: left out). */
  args: Record<string, string>;
  target?: string;
  /** `tags`: more names besides `image`. */
  tags: string[];
  labels: Record<string, string>;
  /** `platforms` (else the service's `platform`, if any). */
  platforms: string[];
  cacheFrom: string[];
  cacheTo: string[];
  /** Build secrets by id (the id a `RUN --mount=type=secret,id=...` names). */
  secrets: Record<string, ComposeSecretSource>;
  /** `ssh`: agent sockets or keys by id (`[]`: `$SSH_AUTH_SOCK`). */
  ssh: Record<string, string[]>;
  /** `additional_contexts`: local paths made absolute; `service:NAME` kept (the runner maps it to that service's image). */
  additionalContexts: Record<string, string>;
  network?: 'default' | 'none' | 'host';
  /** `extra_hosts` as `HOST:IP` strings. */
  extraHosts: string[];
  noCache: boolean;
  pull: boolean;
  /** `shm_size` as written (`64m`, or bytes). */
  shmSize?: string;
  /** `ulimits` as `NAME=SOFT:HARD` strings. */
  ulimits: string[];
  /** `privileged: true` or `entitlements: [security.insecure]`. */
  allowInsecure: boolean;
  /** Services whose image this one's `additional_contexts` name (`service:NAME`): they build first. */
  dependsOn: string[];
  /** Where a key of this service's build was written (a path below `services.<name>`). */
  where(p: ComposePath): ComposeLocation | undefined;
}

/** The build keys of the Compose Specification, and what becomes of the ones ocibuild cannot honour. */
const BUILD_KEYS = new Set([
  'context', 'dockerfile', 'dockerfile_inline', 'args', 'ssh', 'cache_from', 'cache_to', 'additional_contexts', 'extra_hosts',
  'isolation', 'labels', 'no_cache', 'privileged', 'pull', 'network', 'shm_size', 'target', 'secrets', 'tags', 'ulimits', 'platforms',
  'entitlements', 'provenance', 'sbom',
]);
const REFUSED: Record<string, string> = {
  isolation: 'build.isolation selects Windows container isolation, which ocibuild does not build',
  provenance: 'build.provenance: ocibuild attaches no provenance attestations yet',
  sbom: 'build.sbom: ocibuild attaches no SBOM attestations yet',
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const GIT_URL = /^(?:git@|git:\/\/|ssh:\/\/|https?:\/\/|github\.com\/)/;

/** Names of the project's services that have a `build` section, in file order. */
export function buildServiceNames(project: LoadedProject): string[] {
  const services = project.data.services;
  if (!isRecord(services)) return [];
  return Object.entries(services).filter(([, s]) => isRecord(s) && s.build !== undefined && s.build !== null).map(([n]) => n);
}

/** The checked build of `service` (which must have a `build` section). */
export function serviceBuild(project: LoadedProject, service: string): ComposeBuild {
  const services = project.data.services;
  if (!isRecord(services)) throw composeError('services: expected a mapping of services', project.where(['services']));
  const svc = services[service];
  const base = ['services', service] as const;
  const where = (p: ComposePath) => project.where([...base, ...p]);
  if (!isRecord(svc)) throw composeError(`service ${JSON.stringify(service)}: expected a mapping`, where([]));
  const b = svc.build;
  if (!isRecord(b)) throw composeError(`service ${JSON.stringify(service)}: build: expected a context path or a mapping`, where(['build']));
  const at = (...p: (string | number)[]) => where(['build', ...p]);
  const fail = (p: (string | number)[], message: string, code?: 'UNSUPPORTED') => composeError(`services.${service}.build.${p.join('.')}: ${message}`, at(...p), code ?? 'COMPOSE_INVALID');

  for (const k of Object.keys(b)) {
    if (k.startsWith('x-')) continue; // extensions are for other tools
    if (!BUILD_KEYS.has(k)) throw fail([k], `unknown build key (the Compose Specification's build keys: ${[...BUILD_KEYS].join(', ')})`);
    if (REFUSED[k] !== undefined && b[k] !== null && b[k] !== false) throw composeError(REFUSED[k]!, at(k), 'UNSUPPORTED');
  }

  const str = (k: string, v: unknown = b[k]): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw fail([k], `expected a string, got ${JSON.stringify(v)}`);
  };
  const bool = (k: string): boolean => {
    const v = b[k];
    if (v === undefined || v === null) return false;
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
    throw fail([k], `expected true or false, got ${JSON.stringify(v)}`);
  };
  const strings = (k: string): string[] => {
    const v = b[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw fail([k], `expected a list of strings, got ${JSON.stringify(v)}`);
    return v.map((x, i) => {
      if (typeof x !== 'string') throw fail([k, i], `expected a string, got ${JSON.stringify(x)}`);
      return x;
    });
  };
  const map = (k: string): Record<string, string | null> => {
    const v = b[k];
    if (v === undefined || v === null) return {};
    if (!isRecord(v)) throw fail([k], `expected a mapping or a list of KEY=VALUE, got ${JSON.stringify(v)}`);
    const out: Record<string, string | null> = {};
    for (const [key, x] of Object.entries(v)) {
      if (x === null) out[key] = null;
      else if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out[key] = String(x);
      else throw fail([k, key], `expected a string, got ${JSON.stringify(x)}`);
    }
    return out;
  };
  const resolveLocal = (p: string) => path.resolve(project.directory, p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p);

  // context
  const contextText = str('context') ?? '.';
  // A git URL is passed on as it is: build() checks it out (the Dockerfile path is inside it).
  const git = GIT_URL.test(contextText);
  const context = git ? contextText : resolveLocal(contextText);
  if (!git && (!existsSync(context) || !statSync(context).isDirectory())) {
    throw new OcibuildError('CONTEXT_NOT_FOUND', `services.${service}.build.context: ${context} is not a directory`, locate(at('context')));
  }

  // dockerfile / dockerfile_inline
  const dockerfileText = str('dockerfile');
  const dockerfileInline = str('dockerfile_inline');
  if (dockerfileText !== undefined && dockerfileInline !== undefined) throw fail(['dockerfile_inline'], 'dockerfile and dockerfile_inline cannot both be set');

  // args: a name without a value takes the environment's (left out when unset there)
  const args: Record<string, string> = {};
  for (const [k, v] of Object.entries(map('args'))) {
    const value = v ?? project.env[k];
    if (value !== undefined) args[k] = value;
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(map('labels'))) labels[k] = v ?? '';

  // platforms, and the service's platform
  let platforms = strings('platforms');
  const platform = str('platform', svc.platform);
  if (platform !== undefined) {
    if (platforms.length === 0) platforms = [platform];
    else if (!platforms.includes(platform)) throw composeError(`services.${service}.platform ${platform} is not one of build.platforms (${platforms.join(', ')})`, where(['platform']));
  }

  // secrets: short (a name) or long ({ source, target }) syntax over the top-level secrets
  const secrets: Record<string, ComposeSecretSource> = {};
  const list = b.secrets;
  if (list !== undefined && list !== null && !Array.isArray(list)) throw fail(['secrets'], 'expected a list of secret names or { source, target }');
  for (const [i, entry] of ((list as unknown[] | undefined) ?? []).entries()) {
    let source: string;
    let id: string;
    if (typeof entry === 'string') source = id = entry;
    else if (isRecord(entry)) {
      for (const k of Object.keys(entry)) {
        if (k === 'source' || k === 'target') continue;
        if (k === 'uid' || k === 'gid' || k === 'mode') throw composeError(`services.${service}.build.secrets[${i}].${k}: a build secret's owner and mode are set where it is mounted (RUN --mount=type=secret,${k}=...)`, at('secrets', i), 'UNSUPPORTED');
        throw fail(['secrets', i, k], 'unknown key (source, target)');
      }
      if (typeof entry.source !== 'string') throw fail(['secrets', i], 'source: expected the name of a top-level secret');
      source = entry.source;
      id = typeof entry.target === 'string' ? entry.target : source;
    } else throw fail(['secrets', i], 'expected a secret name or { source, target }');
    secrets[id] = topLevelSecret(project, source, at('secrets', i), resolveLocal);
  }

  // ssh: [default, id=path,...] or { id: path }
  const ssh: Record<string, string[]> = {};
  const sshValue = b.ssh;
  if (Array.isArray(sshValue)) {
    sshValue.forEach((x, i) => {
      if (typeof x !== 'string') throw fail(['ssh', i], `expected "default" or ID=PATH, got ${JSON.stringify(x)}`);
      const eq = x.indexOf('=');
      const id = eq < 0 ? x : x.slice(0, eq);
      if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw fail(['ssh', i], `invalid id ${JSON.stringify(id)}`);
      ssh[id] = eq < 0 ? [] : x.slice(eq + 1).split(',').filter(Boolean).map(resolveLocal);
    });
  } else if (isRecord(sshValue)) {
    for (const [id, x] of Object.entries(sshValue)) {
      if (x !== null && typeof x !== 'string') throw fail(['ssh', id], 'expected a socket or key path');
      ssh[id] = x ? x.split(',').filter(Boolean).map(resolveLocal) : [];
    }
  } else if (sshValue !== undefined && sshValue !== null) throw fail(['ssh'], 'expected a list ("default", ID=PATH) or a mapping');

  // additional_contexts: local paths against the project directory; other schemes as written
  const additionalContexts: Record<string, string> = {};
  const dependsOn: string[] = [];
  for (const [name, v] of Object.entries(map('additional_contexts'))) {
    if (v === null || v === '') throw fail(['additional_contexts', name], 'expected a path, docker-image://REF, oci-layout://DIR, target:STAGE or service:NAME');
    if (v.startsWith('service:')) {
      const dep = v.slice('service:'.length);
      if (!buildServiceNames(project).includes(dep)) throw fail(['additional_contexts', name], `${JSON.stringify(dep)} is not a service with a build section`);
      dependsOn.push(dep);
      additionalContexts[name] = v;
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || v.startsWith('target:')) additionalContexts[name] = v;
    else additionalContexts[name] = resolveLocal(v);
  }

  // network
  const networkText = str('network');
  let network: ComposeBuild['network'];
  if (networkText !== undefined) {
    if (networkText !== 'default' && networkText !== 'none' && networkText !== 'host') {
      throw composeError(`services.${service}.build.network: ${JSON.stringify(networkText)}: RUN steps join no Compose network; supported: default, none, host`, at('network'), 'UNSUPPORTED');
    }
    network = networkText;
  }

  // extra_hosts: ["host:ip", "host=ip"] or { host: ip | [ip, ...] }
  const extraHosts: string[] = [];
  const eh = b.extra_hosts;
  if (Array.isArray(eh)) {
    eh.forEach((x, i) => {
      if (typeof x !== 'string') throw fail(['extra_hosts', i], `expected HOST:IP, got ${JSON.stringify(x)}`);
      extraHosts.push(x);
    });
  } else if (isRecord(eh)) {
    for (const [host, ip] of Object.entries(eh)) {
      for (const one of Array.isArray(ip) ? ip : [ip]) {
        if (typeof one !== 'string') throw fail(['extra_hosts', host], `expected an IP address, got ${JSON.stringify(one)}`);
        extraHosts.push(`${host}=${one}`);
      }
    }
  } else if (eh !== undefined && eh !== null) throw fail(['extra_hosts'], 'expected a list of HOST:IP or a mapping');

  // shm_size, ulimits
  const shm = b.shm_size;
  if (shm !== undefined && shm !== null && typeof shm !== 'string' && typeof shm !== 'number') throw fail(['shm_size'], 'expected a size (64m) or a number of bytes');
  const ulimits: string[] = [];
  const ul = b.ulimits;
  if (isRecord(ul)) {
    for (const [name, v] of Object.entries(ul)) {
      if (typeof v === 'number' || (typeof v === 'string' && /^-?\d+$/.test(v))) ulimits.push(`${name}=${v}`);
      else if (isRecord(v) && (typeof v.soft === 'number' || typeof v.soft === 'string') && (typeof v.hard === 'number' || typeof v.hard === 'string')) ulimits.push(`${name}=${v.soft}:${v.hard}`);
      else throw fail(['ulimits', name], 'expected a number or { soft, hard }');
    }
  } else if (ul !== undefined && ul !== null) throw fail(['ulimits'], 'expected a mapping (nofile: { soft: 1024, hard: 2048 })');

  // privileged, entitlements
  let allowInsecure = bool('privileged');
  strings('entitlements').forEach((e, i) => {
    if (e === 'security.insecure') allowInsecure = true;
    else if (e !== 'network.host') throw fail(['entitlements', i], `unknown entitlement ${JSON.stringify(e)} (supported: security.insecure, network.host)`);
  });

  const imageText = str('image', svc.image);
  const tags = strings('tags');
  const target = str('target');
  return {
    service,
    image: imageText ?? `${project.name}-${service}`,
    imageGiven: imageText !== undefined,
    context,
    ...(dockerfileInline !== undefined ? { dockerfileInline } : { dockerfile: git ? (dockerfileText ?? 'Dockerfile') : path.resolve(context, dockerfileText ?? 'Dockerfile') }),
    args,
    ...(target !== undefined ? { target } : {}),
    tags,
    labels,
    platforms,
    cacheFrom: strings('cache_from'),
    cacheTo: strings('cache_to'),
    secrets,
    ssh,
    additionalContexts,
    ...(network ? { network } : {}),
    extraHosts,
    noCache: bool('no_cache'),
    pull: bool('pull'),
    ...(shm !== undefined && shm !== null ? { shmSize: String(shm) } : {}),
    ulimits,
    allowInsecure,
    dependsOn,
    where,
  };
}

function locate(l: ComposeLocation | undefined): { file?: string; range?: ComposeLocation['range'] } {
  return l ? { file: l.file, range: l.range } : {};
}

function topLevelSecret(project: LoadedProject, name: string, usedAt: ComposeLocation | undefined, resolveLocal: (p: string) => string): ComposeSecretSource {
  const all = project.data.secrets;
  const def = isRecord(all) ? all[name] : undefined;
  if (!isRecord(def)) throw composeError(`secret ${JSON.stringify(name)} is not defined in the top-level secrets:`, usedAt);
  const where = (k?: string) => project.where(['secrets', name, ...(k ? [k] : [])]);
  for (const k of Object.keys(def)) {
    if (k === 'file' || k === 'environment' || k === 'name' || k.startsWith('x-')) continue;
    if (k === 'external') {
      if (def.external === false || def.external === null) continue;
      throw composeError(`secrets.${name}: an external secret lives in a container platform; a build reads a file or an environment variable`, where(k), 'UNSUPPORTED');
    }
    throw composeError(`secrets.${name}.${k}: unknown key (file, environment)`, where(k));
  }
  const hasFile = typeof def.file === 'string';
  const hasEnv = typeof def.environment === 'string';
  if (hasFile === hasEnv) throw composeError(`secrets.${name}: give exactly one of file or environment`, where());
  if (hasFile) {
    const file = resolveLocal(def.file as string);
    // As docker buildx: a secret file that is not there fails before the build starts.
    if (!existsSync(file)) throw composeError(`secrets.${name}.file: ${file}: no such file`, where('file'));
    return { file };
  }
  // A variable of the process is read when a RUN mounts it; one only `.env` defines is taken from there.
  const variable = def.environment as string;
  const value = project.dotenv.get(variable);
  return value !== undefined && !project.processEnvHas(variable) ? { value } : { env: variable };
}
