import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { OcibuildError } from '../errors.js';

/** Credentials for one registry. Never printed or logged. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (`identitytoken` in Docker's config). */
  identityToken?: string;
  /** A bearer token to send as is (`registrytoken`). */
  registryToken?: string;
}

/** Options of {@link resolveCredentials}. */
export interface CredentialSourceOptions {
  /**
   * Environment to read `DOCKER_CONFIG`, `HOME`, `REGISTRY_AUTH_FILE`,
   * `XDG_RUNTIME_DIR` and `PATH` (for credential helpers) from. Nothing is
   * read from disk when absent.
   */
  env?: Record<string, string | undefined>;
  /** Explicit credentials by registry host (`docker.io`, `127.0.0.1:5000`); they win over files. */
  creds?: Record<string, Credentials>;
}

const DOCKER_HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1', 'https://registry-1.docker.io'];

/** The host part of a config key (`https://host:port/v1/` → `host:port`). */
export function normalizeAuthKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') return 'docker.io';
  return k;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

async function readConfig(file: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new OcibuildError('CREDENTIALS_ERROR', `cannot read credentials file ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as ConfigFile;
  } catch (e) {
    // Never echo the file content: it holds secrets.
    throw new OcibuildError('CREDENTIALS_ERROR', `credentials file ${file} is not valid JSON`, { cause: undefined, details: { file, reason: (e as Error).name } });
  }
}

function entryFor(auths: Record<string, AuthEntry> | undefined, host: string): AuthEntry | undefined {
  if (!auths) return undefined;
  const want = normalizeAuthKey(host);
  // Exact keys first, then any key that normalises to the host.
  const exact = want === 'docker.io' ? DOCKER_HUB_KEYS : [host, want];
  for (const k of exact) if (auths[k]) return auths[k];
  for (const [k, v] of Object.entries(auths)) if (normalizeAuthKey(k) === want) return v;
  return undefined;
}

function decodeEntry(entry: AuthEntry, file: string, host: string): Credentials | undefined {
  const out: Credentials = {};
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new OcibuildError('CREDENTIALS_ERROR', `invalid "auth" value for ${host} in ${file}: not base64 of user:password`);
    }
    out.username = decoded.slice(0, colon);
    out.password = decoded.slice(colon + 1);
  } else if (entry.username !== undefined || entry.password !== undefined) {
    out.username = entry.username ?? '';
    out.password = entry.password ?? '';
  }
  if (entry.identitytoken) out.identityToken = entry.identitytoken;
  if (entry.registrytoken) out.registryToken = entry.registrytoken;
  return Object.keys(out).length ? out : undefined;
}

/** The server URL a credential helper is asked about. */
function helperServerUrl(host: string): string {
  return normalizeAuthKey(host) === 'docker.io' ? 'https://index.docker.io/v1/' : host;
}

/**
 * Run `docker-credential-<helper> get` with the server URL on stdin, as the
 * Docker CLI does. Returns undefined when the helper knows no credentials.
 */
export async function runCredentialHelper(
  helper: string,
  host: string,
  env: Record<string, string | undefined>,
): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
    throw new OcibuildError('CREDENTIALS_ERROR', `invalid credential helper name ${JSON.stringify(helper)}`);
  }
  const program = `docker-credential-${helper}`;
  const serverUrl = helperServerUrl(host);
  // node:child_process loads when a helper runs, not with the client (issue 8: start-up).
  const { spawn } = await import('node:child_process');
  const { code, stdout, stderrText, spawnError } = await new Promise<{
    code: number | null;
    stdout: string;
    stderrText: string;
    spawnError?: Error;
  }>((resolve) => {
    const child = spawn(program, ['get'], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => resolve({ code: null, stdout: '', stderrText: '', spawnError: e }));
    child.on('close', (c) => resolve({ code: c, stdout: Buffer.concat(out).toString('utf8'), stderrText: Buffer.concat(err).toString('utf8') }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(serverUrl);
  });
  if (spawnError) {
    throw new OcibuildError('CREDENTIALS_ERROR', `credential helper ${program} could not be run: ${(spawnError as NodeJS.ErrnoException).code ?? spawnError.message}`, {
      hint: `install ${program} or remove it from your Docker config`,
    });
  }
  if (code !== 0) {
    const msg = (stdout + stderrText).trim();
    if (/credentials not found/i.test(msg)) return undefined;
    // The helper's own message, cut short; helpers do not print secrets on failure.
    throw new OcibuildError('CREDENTIALS_ERROR', `credential helper ${program} failed for ${serverUrl} (exit ${code}): ${msg.slice(0, 200)}`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown };
  } catch {
    throw new OcibuildError('CREDENTIALS_ERROR', `credential helper ${program} printed invalid JSON for ${serverUrl}`);
  }
  const username = typeof parsed.Username === 'string' ? parsed.Username : '';
  const secret = typeof parsed.Secret === 'string' ? parsed.Secret : '';
  if (!secret) return undefined;
  if (username === '<token>') return { identityToken: secret };
  return { username, password: secret };
}

/** Where credentials were found, for messages (never the secret itself). */
export interface ResolvedCredentials {
  credentials: Credentials;
  /**
   * `options` (explicit `creds`), `REGISTRY_AUTH_FILE <path>`, a config file
   * path, or `credential helper docker-credential-<name> (named in <path>)`.
   */
  source: string;
}

/**
 * Find credentials for a registry host, in this order: explicit `creds`,
 * `REGISTRY_AUTH_FILE` (or `$XDG_RUNTIME_DIR/containers/auth.json`, as
 * podman/skopeo), then Docker's `$DOCKER_CONFIG/config.json` (default
 * `~/.docker/config.json`): `credHelpers[host]`, `credsStore`, `auths`.
 * Returns undefined for anonymous access.
 */
export async function resolveCredentials(host: string, options: CredentialSourceOptions): Promise<ResolvedCredentials | undefined> {
  const want = normalizeAuthKey(host);
  if (options.creds) {
    for (const [k, v] of Object.entries(options.creds)) {
      if (normalizeAuthKey(k) === want) return { credentials: v, source: 'options' };
    }
  }
  const env = options.env;
  if (!env) return undefined;

  const containerFiles: string[] = [];
  if (env.REGISTRY_AUTH_FILE) containerFiles.push(env.REGISTRY_AUTH_FILE);
  else if (env.XDG_RUNTIME_DIR) containerFiles.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  for (const file of containerFiles) {
    const cfg = await readConfig(file);
    if (!cfg) continue;
    const found = await fromDockerStyleConfig(cfg, file, host, env, env.REGISTRY_AUTH_FILE ? `REGISTRY_AUTH_FILE ${file}` : file);
    if (found) return found;
  }

  const dockerDir = env.DOCKER_CONFIG ?? (env.HOME ? path.join(env.HOME, '.docker') : undefined);
  if (dockerDir) {
    const file = path.join(dockerDir, 'config.json');
    const cfg = await readConfig(file);
    if (cfg) {
      const found = await fromDockerStyleConfig(cfg, file, host, env);
      if (found) return found;
    }
  }
  return undefined;
}

async function fromDockerStyleConfig(
  cfg: ConfigFile,
  file: string,
  host: string,
  env: Record<string, string | undefined>,
  label: string = file,
): Promise<ResolvedCredentials | undefined> {
  const want = normalizeAuthKey(host);
  let helper: string | undefined;
  if (cfg.credHelpers) {
    for (const [k, v] of Object.entries(cfg.credHelpers)) if (normalizeAuthKey(k) === want) helper = v;
  }
  helper ??= cfg.credsStore;
  if (helper) {
    const creds = await runCredentialHelper(helper, host, env);
    if (creds) return { credentials: creds, source: `credential helper docker-credential-${helper} (named in ${label})` };
  }
  const entry = entryFor(cfg.auths, host);
  if (entry) {
    const creds = decodeEntry(entry, file, host);
    if (creds) return { credentials: creds, source: label };
  }
  return undefined;
}
