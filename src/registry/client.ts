import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { OcibuildError, isOcibuildError } from '../errors.js';
import { parseWwwAuthenticate, formatScopes, tokenExpiry, type AuthChallenge, type CachedToken, type RepositoryScope } from './auth.js';
import { resolveCredentials, type Credentials, type ResolvedCredentials } from './credentials.js';
import { redactUrl, registryError } from './errors.js';
import { BODY_TIMEOUT, CONNECT_TIMEOUT, HEADERS_TIMEOUT, HttpTransport, discardBody, type ChunkBody, type ResponseBody, type TransportRequest, type TransportResponse } from './transport.js';
import { backoffDelay, isRetryableError, isRetryableStatus, parseRetryAfter, resolveRetry, sleep, type ResolvedRetry, type RetryOptions } from './retry.js';

/** Options of a {@link RegistryClient}. Every field is optional. */
export interface RegistryClientOptions {
  /**
   * Environment for credential lookup (`DOCKER_CONFIG`, `HOME`,
   * `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `PATH` for credential helpers) and
   * `NODE_EXTRA_CA_CERTS`. No credential file is read when absent.
   */
  env?: Record<string, string | undefined>;
  /** Explicit credentials by registry host; they win over config files. */
  creds?: Record<string, Credentials>;
  /** Where `creds` came from, for messages (`--creds`). Default `the creds option`. */
  credsSource?: string;
  /** PEM files with extra CA certificates trusted beside the system CAs (`--registry-ca`). */
  registryCa?: string[];
  /**
   * `host[:port]` entries reached over plain HTTP (after HTTPS without
   * certificate verification fails), as Docker's `--insecure-registry`.
   * Loopback hosts (127.0.0.0/8, ::1, localhost) may always use plain HTTP.
   */
  insecureRegistries?: string[];
  /** Pull mirrors by registry (`{ 'docker.io': ['mirror.local:5000'] }`); pulls fall back to the origin. */
  mirrors?: Record<string, string | string[]>;
  /** Retry policy for 5xx, 429 and connection failures. */
  retry?: RetryOptions;
  /** `User-Agent` header. */
  userAgent?: string;
  /** Receives one line per request (method, redacted URL, status); never headers or secrets. */
  debug?: (line: string) => void;
  /** Clock in epoch ms (token expiry, Retry-After dates). Default Date.now. */
  now?: () => number;
  /** Random source in [0,1) for backoff jitter. Default Math.random. */
  random?: () => number;
  /** Connections per origin. Default 8. */
  connections?: number;
  /**
   * Bounded waits of every request (pings, tokens, manifests, blobs, uploads).
   * A request that times out is retried like a reset, within `retry.retries`.
   */
  timeouts?: RegistryTimeouts;
  /**
   * Receives a notice for every request that has waited `timeouts.noticeMs`
   * (and again each `noticeMs` after), and one when a wait ended in a timeout.
   */
  onWait?: (wait: RegistryWait) => void;
}

/** Bounded waits of registry requests, in milliseconds. */
export interface RegistryTimeouts {
  /** Connecting: TCP connect and TLS handshake. Default 10 000. */
  connectMs?: number;
  /** Time to the response headers (refreshed while a request body is being sent). Default 30 000. */
  responseMs?: number;
  /** Longest pause between two chunks of a response body. Default 30 000. */
  idleMs?: number;
  /** A request waiting this long is reported through `onWait`. Default 5 000. */
  noticeMs?: number;
}

/** The timeouts with defaults filled in. */
export type ResolvedTimeouts = Required<RegistryTimeouts>;

/** Fill the defaults of {@link RegistryTimeouts} and validate them. */
export function resolveTimeouts(t: RegistryTimeouts = {}): ResolvedTimeouts {
  const r = { connectMs: t.connectMs ?? 10_000, responseMs: t.responseMs ?? 30_000, idleMs: t.idleMs ?? 30_000, noticeMs: t.noticeMs ?? 5_000 };
  for (const [k, v] of Object.entries(r)) {
    if (!Number.isFinite(v) || v <= 0) throw new OcibuildError('USAGE', `registry timeout ${k} must be a positive number of milliseconds, got ${v}`);
  }
  return r;
}

/** A registry request that is waiting, or whose wait ended in a timeout. */
export interface RegistryWait {
  /** What the request is for ("pull blob sha256:... of 127.0.0.1:5000/app"). */
  what: string;
  method: string;
  /** Redacted URL. */
  url: string;
  /** `connect`/`response`: no answer yet; `body`: the response body paused. */
  stage: 'response' | 'body';
  waitedMs: number;
  /** The limit in force for this wait. */
  timeoutMs: number;
  /** 0-based attempt of the request. */
  attempt: number;
  /** The wait ended in a timeout (`connect`, `response` or `body`). */
  timedOut?: 'connect' | 'response' | 'body';
}

/** Which timeout an error is, if any. */
export function timeoutKind(e: unknown): 'connect' | 'response' | 'body' | undefined {
  let cur: unknown = e;
  for (let i = 0; cur && i < 6; i++) {
    const code = (cur as { code?: unknown }).code;
    if (code === CONNECT_TIMEOUT || code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect';
    if (code === HEADERS_TIMEOUT || code === 'UND_ERR_HEADERS_TIMEOUT') return 'response';
    if (code === BODY_TIMEOUT || code === 'UND_ERR_BODY_TIMEOUT') return 'body';
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The REGISTRY_TIMEOUT error for a request that timed out on its last
 * attempt, naming the request and the wait; undefined when `e` is no timeout.
 */
export function timeoutError(e: unknown, what: string, method: string, url: string | URL, attempts: number, timeouts: ResolvedTimeouts): OcibuildError | undefined {
  const kind = timeoutKind(e);
  if (!kind) return undefined;
  const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  const why =
    kind === 'connect' ? `could not connect within ${secs(timeouts.connectMs)}`
    : kind === 'response' ? `no response within ${secs(timeouts.responseMs)}`
    : `the response stalled: no data for ${secs(timeouts.idleMs)}`;
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  const shown = typeof url === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : redactUrl(url);
  return new OcibuildError('REGISTRY_TIMEOUT', `${what}: ${method} ${shown}: ${why} (${tries})`, {
    cause: e,
    hint: 'the registry or the network is stalled; retry later, or allow longer waits with --registry-timeout SECONDS (OCIBUILD_REGISTRY_TIMEOUT)',
    details: { url: shown, method, timeout: kind, attempts },
  });
}

/** A request to a registry. */
export interface RegistryRequest {
  /** Registry host as in a reference (`docker.io`, `127.0.0.1:5000`). */
  registry: string;
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** A path (`/v2/...`) on the registry, or an absolute URL (an upload `Location`). */
  path: string;
  headers?: Record<string, string>;
  /**
   * The request body. A function is called again for each attempt, so a
   * request with a function body (or none) can be retried and re-sent after
   * a 401; a plain stream is sent once. A {@link ChunkBody} (chunks in reused
   * buffers) comes only from a function.
   */
  body?: string | Buffer | Readable | (() => Promise<string | Buffer | Readable | ChunkBody> | string | Buffer | Readable | ChunkBody);
  /** Scopes the token must carry. */
  scopes?: RepositoryScope[];
  /** Statuses that count as success (besides those, 2xx). */
  accept?: number[];
  /** Words for error messages ("pull manifest docker.io/library/busybox:latest"). */
  what: string;
  /** Retry transient failures. Default true when the body is replayable. */
  retry?: boolean;
  signal?: AbortSignal;
  /** Told about this request's waits (besides the client's `onWait`). */
  onWait?: (wait: RegistryWait) => void;
  /** Takes a 2xx body chunk by chunk, synchronously, each valid only during the call (see {@link TransportRequest.direct}). */
  direct?: (chunk: Buffer) => void;
}

/** A registry response; the caller must consume or dump `body`. */
export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
  /** The URL that answered (after redirects). */
  url: URL;
}

interface Endpoint {
  /** `https://host` or `http://host`. */
  origin: string;
  /** Skip certificate verification (explicitly insecure registries only). */
  insecure: boolean;
  /** Auth challenge of the ping, if any. */
  challenge?: AuthChallenge;
}

const MAX_ERROR_BODY = 64 * 1024;
const MAX_REDIRECTS = 5;

function header(h: RegistryResponse['headers'], name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Read a response body as text, at most `limit` bytes (the rest is discarded). */
export async function readLimited(body: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    if (n < limit) chunks.push(b.subarray(0, limit - n));
    n += b.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** True for 127.0.0.0/8, ::1 and localhost (with or without a port). */
export function isLoopbackHost(host: string): boolean {
  let h = host;
  if (h.startsWith('[')) h = h.slice(1, h.indexOf(']'));
  else if (h.includes(':') && h.split(':').length === 2) h = h.slice(0, h.indexOf(':'));
  h = h.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

const TLS_VERIFY_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;

function errorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; cur && i < 5; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return (e as { code?: string } | undefined)?.code;
}

/** Map the host of a reference to the API host (Docker Hub's API lives at registry-1.docker.io). */
export function apiHost(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/**
 * A client for the OCI Distribution API. Holds its own connection pool,
 * auth challenges per registry and tokens per scope; create one per
 * command/build and `close()` it at the end.
 */
export class RegistryClient {
  readonly options: Readonly<RegistryClientOptions>;
  private readonly agent: HttpTransport;
  private insecureAgent?: HttpTransport;
  private readonly retryPolicy: ResolvedRetry;
  private readonly now: () => number;
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  /** Aborted by {@link close}: ends the pings {@link prepare} started, which no caller waits on. */
  private readonly closing = new AbortController();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pendingTokens = new Map<string, Promise<CachedToken>>();
  private readonly credentials = new Map<string, Promise<ResolvedCredentials | undefined>>();
  private readonly insecure: Set<string>;
  /** The bounded waits in force. */
  readonly timeouts: ResolvedTimeouts;

  /** Build a client; reads the `registryCa` files (and NODE_EXTRA_CA_CERTS from `env` when set). */
  static async create(options: RegistryClientOptions = {}): Promise<RegistryClient> {
    let ca: string[] | undefined;
    const files = [...(options.registryCa ?? [])];
    if (files.length) {
      // Passing `ca` replaces Node's defaults, so add back the system roots and NODE_EXTRA_CA_CERTS.
      const extra = options.env?.NODE_EXTRA_CA_CERTS;
      if (extra) files.push(extra);
      // node:tls loads here, not with the client: a plain-HTTP pull or push never needs it (issue 8).
      ca = [...(await import('node:tls')).rootCertificates];
      for (const f of files) {
        try {
          ca.push(await readFile(f, 'utf8'));
        } catch (e) {
          throw new OcibuildError('USAGE', `cannot read CA file ${f}: ${(e as Error).message}`, { cause: e });
        }
      }
    }
    return new RegistryClient(options, ca);
  }

  /** Prefer {@link RegistryClient.create}; `ca` replaces the trusted CA list when given. */
  constructor(options: RegistryClientOptions = {}, ca?: string[]) {
    this.options = options;
    this.retryPolicy = resolveRetry(options.retry);
    this.now = options.now ?? Date.now;
    this.insecure = new Set((options.insecureRegistries ?? []).map((h) => h.toLowerCase()));
    this.timeouts = resolveTimeouts(options.timeouts);
    this.agent = new HttpTransport({
      connections: options.connections ?? 8,
      connectMs: this.timeouts.connectMs,
      responseMs: this.timeouts.responseMs,
      idleMs: this.timeouts.idleMs,
      ...(ca ? { ca } : {}),
    });
  }

  /** Close every connection. */
  async close(): Promise<void> {
    this.closing.abort(new OcibuildError('INTERRUPTED', 'the registry client was closed'));
    await Promise.all([this.agent.close(), this.insecureAgent?.close()]);
  }

  /** The mirrors configured for `registry` (empty when none). */
  mirrorsFor(registry: string): string[] {
    const m = this.options.mirrors?.[registry];
    return m === undefined ? [] : Array.isArray(m) ? m : [m];
  }

  private debug(line: string): void {
    this.options.debug?.(line);
  }

  private dispatcherFor(ep: Endpoint): HttpTransport {
    if (!ep.insecure) return this.agent;
    this.insecureAgent ??= new HttpTransport({
      connections: this.options.connections ?? 8,
      connectMs: this.timeouts.connectMs,
      responseMs: this.timeouts.responseMs,
      idleMs: this.timeouts.idleMs,
      rejectUnauthorized: false,
    });
    return this.insecureAgent;
  }

  /** Report a wait (to the request's own hook, then the client's). */
  notifyWait(wait: RegistryWait, hook?: (w: RegistryWait) => void): void {
    hook?.(wait);
    this.options.onWait?.(wait);
  }

  /**
   * `dispatcher.request` with a notice every `noticeMs` while no response has
   * come, and one when it ends in a timeout.
   */
  private async send(
    dispatcher: HttpTransport,
    options: TransportRequest,
    info: { what: string; url: string | URL; attempt: number; onWait?: (w: RegistryWait) => void },
  ): Promise<TransportResponse> {
    let started = Date.now();
    const base = { what: info.what, method: options.method, url: redactUrl(info.url), attempt: info.attempt };
    let ticks = 0;
    // A body still going out is no wait for the registry (a layer streamed as it is written takes
    // as long as the build): the wait counts from the last part sent, as the response timeout does.
    let sent = false;
    const onBodyProgress = () => {
      sent = true;
      started = Date.now();
    };
    const timer = setInterval(() => {
      if (sent) {
        sent = false;
        ticks = 0;
        return;
      }
      // The clock and the timers round differently (a 250 ms notice could read 249 ms): a notice
      // never says less than the waits it counts.
      ticks++;
      this.notifyWait({ ...base, stage: 'response', waitedMs: Math.max(Date.now() - started, ticks * this.timeouts.noticeMs), timeoutMs: this.timeouts.responseMs }, info.onWait);
    }, this.timeouts.noticeMs);
    timer.unref?.();
    try {
      return await dispatcher.request({ ...options, onBodyProgress });
    } catch (e) {
      const kind = timeoutKind(e);
      if (kind) {
        const timeoutMs = kind === 'connect' ? this.timeouts.connectMs : this.timeouts.responseMs;
        this.notifyWait({ ...base, stage: 'response', waitedMs: Date.now() - started, timeoutMs, timedOut: kind }, info.onWait);
      }
      throw e;
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * Watch a response body being read: `touch()` on every chunk; a pause of
   * `noticeMs` is reported (and again each `noticeMs`); `stop()` at the end.
   */
  watchBody(info: { what: string; method: string; url: string | URL; attempt: number; onWait?: (w: RegistryWait) => void }): { touch(): void; stop(): void } {
    let last = Date.now();
    const base = { what: info.what, method: info.method, url: redactUrl(info.url), attempt: info.attempt };
    const timer = setInterval(() => {
      const waited = Date.now() - last;
      if (waited >= this.timeouts.noticeMs) {
        this.notifyWait({ ...base, stage: 'body', waitedMs: waited, timeoutMs: this.timeouts.idleMs }, info.onWait);
      }
    }, this.timeouts.noticeMs);
    timer.unref?.();
    return {
      touch: () => {
        last = Date.now();
      },
      stop: () => clearInterval(timer),
    };
  }

  private userAgent(): string {
    return this.options.userAgent ?? 'ocibuild';
  }

  /** Find how to talk to a registry: scheme, TLS verification, auth challenge (`GET /v2/`). */
  endpoint(registry: string, signal?: AbortSignal): Promise<Endpoint> {
    const host = apiHost(registry);
    let p = this.endpoints.get(host);
    if (!p) {
      p = this.ping(host, signal);
      this.endpoints.set(host, p);
      p.catch(() => this.endpoints.delete(host));
    }
    return p;
  }

  /**
   * Starts finding the endpoint of `registry` (its ping: scheme, TLS, auth challenge) without
   * waiting for it, so that the round trips overlap what the caller does meanwhile (a command
   * opening its store; issue 8). Its first request there then finds it done or under way; a
   * failure is that request's to report (a failed ping is forgotten, see {@link endpoint}).
   */
  prepare(registry: string): void {
    // Bounded by the client's life: a command that fails before its first request (no such image,
    // a store that cannot open) closes the client and must not wait on an unanswered ping.
    this.endpoint(registry, this.closing.signal).catch(() => undefined);
  }

  /** One plain-HTTP `GET /v2/` to a loopback host: the endpoint when it answers as a registry, else undefined. */
  private async probePlainHttp(host: string, signal?: AbortSignal): Promise<Endpoint | undefined> {
    const ep: Endpoint = { origin: `http://${host}`, insecure: false };
    const url = `${ep.origin}/v2/`;
    let res: TransportResponse;
    try {
      res = await this.send(this.agent, { origin: ep.origin, path: '/v2/', method: 'GET', headers: { 'user-agent': this.userAgent() }, signal }, { what: `registry ${host} ping`, url, attempt: 0 });
    } catch (e) {
      if (signal?.aborted) throw e;
      this.debug(`GET ${redactUrl(url)} failed: ${errorCode(e) ?? (e as Error).message}`);
      return undefined;
    }
    await readLimited(res.body, MAX_ERROR_BODY).catch(() => '');
    this.debug(`GET ${redactUrl(url)} -> ${res.statusCode}`);
    if (res.statusCode >= 200 && res.statusCode < 300) return ep;
    if (res.statusCode !== 401) return undefined;
    const www = header(res.headers, 'www-authenticate');
    const challenges = www ? parseWwwAuthenticate(www) : [];
    const challenge = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    return challenge ? { ...ep, challenge } : undefined;
  }

  private async ping(host: string, signal?: AbortSignal): Promise<Endpoint> {
    const explicitInsecure = this.insecure.has(host.toLowerCase());
    const mayUseHttp = explicitInsecure || isLoopbackHost(host);
    if (!explicitInsecure && isLoopbackHost(host)) {
      // A loopback registry is almost always plain HTTP: one plain request first
      // saves the failing TLS handshake (and loading TLS at all: ~80 ms of CPU
      // per pull or push). Only an answer that can come from a registry's
      // `/v2/` (2xx, or 401 with a challenge) is taken; anything else (a TLS
      // server's 400 to plain HTTP, a refused connection) falls through to the
      // usual order below. The ping carries no credentials.
      const probe = await this.probePlainHttp(host, signal);
      if (probe) return probe;
    }
    const candidates: Endpoint[] = [{ origin: `https://${host}`, insecure: explicitInsecure }];
    if (mayUseHttp) candidates.push({ origin: `http://${host}`, insecure: false });
    let lastError: unknown;
    for (const ep of candidates) {
      for (let attempt = 0; ; attempt++) {
        const url = `${ep.origin}/v2/`;
        try {
          const res = await this.send(
            this.dispatcherFor(ep),
            { origin: ep.origin, path: '/v2/', method: 'GET', headers: { 'user-agent': this.userAgent() }, signal },
            { what: `registry ${host} ping`, url, attempt },
          );
          const body = await readLimited(res.body, MAX_ERROR_BODY);
          this.debug(`GET ${redactUrl(url)} -> ${res.statusCode}`);
          if (res.statusCode === 401) {
            const www = header(res.headers, 'www-authenticate');
            const challenges = www ? parseWwwAuthenticate(www) : [];
            const challenge = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
            return { ...ep, ...(challenge ? { challenge } : {}) };
          }
          if (res.statusCode >= 200 && res.statusCode < 300) return ep;
          if (isRetryableStatus(res.statusCode) && attempt < this.retryPolicy.retries) {
            await sleep(this.retryDelay(attempt, header(res.headers, 'retry-after')), signal);
            continue;
          }
          if (res.statusCode === 404) {
            throw new OcibuildError('REGISTRY_ERROR', `${host} does not implement the registry API v2 (GET ${redactUrl(url)}: HTTP 404)`);
          }
          throw registryError(`registry ${host} ping`, 'GET', url, res.statusCode, body);
        } catch (e) {
          if (isOcibuildError(e)) throw e;
          if (signal?.aborted) throw e;
          lastError = e;
          const code = errorCode(e);
          this.debug(`GET ${redactUrl(url)} failed: ${code ?? (e as Error).message}`);
          if (code && TLS_VERIFY_CODES.test(code)) {
            throw new OcibuildError('REGISTRY_UNREACHABLE', `TLS certificate of ${host} is not trusted (${code})`, {
              cause: e,
              hint: 'pass the CA certificate that signed it with --registry-ca (or NODE_EXTRA_CA_CERTS)',
              details: { url: redactUrl(url) },
            });
          }
          // A TLS handshake against a plain-HTTP server fails at once: try the next candidate.
          const tlsMismatch = ep.origin.startsWith('https:') && mayUseHttp;
          if (!tlsMismatch && isRetryableError(e) && attempt < this.retryPolicy.retries) {
            await sleep(this.retryDelay(attempt), signal);
            continue;
          }
          lastError = timeoutError(e, `registry ${host} ping`, 'GET', url, attempt + 1, this.timeouts) ?? e;
          break;
        }
      }
    }
    if (isOcibuildError(lastError)) throw lastError;
    const code = errorCode(lastError);
    const message = (lastError as Error | undefined)?.message ?? '';
    const plainHttp = !mayUseHttp && (code === 'EPROTO' || /wrong version number|WRONG_VERSION_NUMBER|packet length too long/i.test(`${code} ${message}`));
    throw new OcibuildError('REGISTRY_UNREACHABLE', `cannot reach registry ${host}: ${code ?? (message || 'unknown error')}`, {
      cause: lastError,
      ...(plainHttp ? { hint: `${host} does not speak TLS; if it is a plain-HTTP registry, mark it insecure (--insecure-registry ${host})` } : {}),
    });
  }

  private retryDelay(attempt: number, retryAfter?: string): number {
    const ra = parseRetryAfter(retryAfter, this.now());
    if (ra !== undefined) return Math.min(ra, this.retryPolicy.maxDelayMs);
    return backoffDelay(this.retryPolicy, attempt, this.options.random);
  }

  private credentialsFor(registry: string): Promise<ResolvedCredentials | undefined> {
    let p = this.credentials.get(registry);
    if (!p) {
      p = resolveCredentials(registry, { env: this.options.env, creds: this.options.creds });
      this.credentials.set(registry, p);
      p.catch(() => this.credentials.delete(registry));
    }
    return p;
  }

  /** Where the credentials offered to `registry` came from; undefined when none were. */
  private async offeredCredentials(registry: string): Promise<string | undefined> {
    const resolved = await this.credentialsFor(registry).catch(() => undefined);
    const c = resolved?.credentials;
    if (!c || (c.username === undefined && !c.identityToken && !c.registryToken)) return undefined;
    return resolved.source === 'options' ? (this.options.credsSource ?? 'the creds option') : resolved.source;
  }

  /** The `Authorization` header for a request, or undefined for anonymous access. */
  private async authorization(registry: string, ep: Endpoint, scopes: RepositoryScope[], signal?: AbortSignal): Promise<string | undefined> {
    const ch = ep.challenge;
    if (!ch) return undefined;
    const resolved = await this.credentialsFor(registry);
    const creds = resolved?.credentials;
    if (ch.scheme === 'basic') {
      if (!creds || creds.username === undefined) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
    }
    if (ch.scheme !== 'bearer') return undefined;
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const token = await this.token(registry, ch, scopes, creds, signal);
    return `Bearer ${token.token}`;
  }

  private tokenKey(ch: AuthChallenge, scopes: RepositoryScope[]): string {
    return [ch.params.realm ?? '', ch.params.service ?? '', ...formatScopes(scopes)].join('\n');
  }

  private async token(
    registry: string,
    ch: AuthChallenge,
    scopes: RepositoryScope[],
    creds: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<CachedToken> {
    const key = this.tokenKey(ch, scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.now()) return cached;
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = this.fetchToken(registry, ch, scopes, creds, signal).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    const t = await pending;
    this.tokens.set(key, t);
    return t;
  }

  /** Forget the cached token for these scopes (after a 401). */
  private dropToken(ch: AuthChallenge | undefined, scopes: RepositoryScope[]): void {
    if (ch) this.tokens.delete(this.tokenKey(ch, scopes));
  }

  private async fetchToken(
    registry: string,
    ch: AuthChallenge,
    scopes: RepositoryScope[],
    creds: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<CachedToken> {
    const realm = ch.params.realm;
    if (!realm) throw new OcibuildError('REGISTRY_ERROR', `registry ${registry} sent a Bearer challenge without a realm`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new OcibuildError('REGISTRY_ERROR', `registry ${registry} sent an invalid token realm`);
    }
    if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') {
      throw new OcibuildError('REGISTRY_ERROR', `registry ${registry} sent a token realm with scheme ${realmUrl.protocol}`);
    }
    const scopeStrings = formatScopes(scopes);
    const headers: Record<string, string> = { 'user-agent': this.userAgent(), accept: 'application/json' };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant, as Docker does with an identity token.
      method = 'POST';
      const form = new URLSearchParams();
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', creds.identityToken);
      form.set('client_id', 'ocibuild');
      if (ch.params.service) form.set('service', ch.params.service);
      if (scopeStrings.length) form.set('scope', scopeStrings.join(' '));
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (ch.params.service) realmUrl.searchParams.set('service', ch.params.service);
      for (const s of scopeStrings) realmUrl.searchParams.append('scope', s);
      if (creds?.username) {
        realmUrl.searchParams.set('account', creds.username);
        headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
      }
    }
    const ep: Endpoint = { origin: realmUrl.origin, insecure: false };
    for (let attempt = 0; ; attempt++) {
      let res: TransportResponse;
      try {
        res = await this.send(
          this.dispatcherFor(ep),
          { origin: realmUrl.origin, path: realmUrl.pathname + realmUrl.search, method, headers, body, signal },
          { what: `token for ${registry}`, url: realmUrl, attempt },
        );
      } catch (e) {
        if (!signal?.aborted && isRetryableError(e) && attempt < this.retryPolicy.retries) {
          await sleep(this.retryDelay(attempt), signal);
          continue;
        }
        const timedOut = timeoutError(e, `token for ${registry}`, method, realmUrl, attempt + 1, this.timeouts);
        if (timedOut) throw timedOut;
        throw new OcibuildError('REGISTRY_UNREACHABLE', `cannot reach token service of ${registry} (${redactUrl(realmUrl)}): ${errorCode(e) ?? (e as Error).message}`, { cause: e });
      }
      const text = await readLimited(res.body, 1024 * 1024);
      this.debug(`${method} ${redactUrl(realmUrl)} -> ${res.statusCode}`);
      if (isRetryableStatus(res.statusCode) && attempt < this.retryPolicy.retries) {
        await sleep(this.retryDelay(attempt, header(res.headers, 'retry-after')), signal);
        continue;
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const status = res.statusCode === 401 || res.statusCode === 403 ? res.statusCode : res.statusCode;
        const offered = status === 401 && (creds?.username !== undefined || creds?.identityToken) ? await this.offeredCredentials(registry) : undefined;
        throw registryError(`authentication to ${registry} failed`, method, realmUrl, status, text, undefined, offered);
      }
      let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        throw new OcibuildError('REGISTRY_ERROR', `token service of ${registry} sent a response that is not JSON`);
      }
      const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
      if (typeof token !== 'string' || !token) {
        throw new OcibuildError('REGISTRY_ERROR', `token service of ${registry} sent no token`);
      }
      return { token, expiresAt: tokenExpiry(this.now(), parsed.expires_in, parsed.issued_at) };
    }
  }

  /**
   * Send a request with auth, redirects (Authorization dropped when the
   * redirect leaves the registry's host), re-authentication after a 401 and
   * retries with backoff for 5xx, 429 and connection failures. Resolves with
   * the response on 2xx or a status listed in `accept`; otherwise throws the
   * registry's error (REGISTRY_DENIED, REGISTRY_UNAUTHORIZED, REGISTRY_NOT_FOUND,
   * REGISTRY_ERROR) or REGISTRY_UNREACHABLE.
   */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    const ep = await this.endpoint(req.registry, req.signal);
    const scopes = req.scopes ?? [];
    const replayable = req.body === undefined || typeof req.body === 'function' || typeof req.body === 'string' || Buffer.isBuffer(req.body);
    const canRetry = (req.retry ?? true) && replayable;
    let authRetried = false;
    let attempt = 0;
    let redirects = 0;
    const base = new URL(req.path, `${ep.origin}/`);
    let url = base;
    const registryOrigin = new URL(ep.origin).host;
    let method = req.method;
    for (;;) {
      const sameHost = url.host === registryOrigin;
      const headers: Record<string, string> = { 'user-agent': this.userAgent(), ...(req.headers ?? {}) };
      if (sameHost) {
        const auth = await this.authorization(req.registry, ep, scopes, req.signal);
        if (auth) headers.authorization = auth;
      }
      let body: string | Buffer | Readable | ChunkBody | undefined;
      if (method !== 'GET' && method !== 'HEAD') {
        body = typeof req.body === 'function' ? await req.body() : req.body;
      }
      let res: TransportResponse;
      const dispatcher = sameHost ? this.dispatcherFor(ep) : this.agent;
      try {
        res = await this.send(
          dispatcher,
          { origin: url.origin, path: url.pathname + url.search, method, headers, body: body ?? null, signal: req.signal, ...(req.direct ? { direct: req.direct } : {}) },
          { what: req.what, url, attempt, ...(req.onWait ? { onWait: req.onWait } : {}) },
        );
      } catch (e) {
        discardBody(body);
        this.debug(`${method} ${redactUrl(url)} failed: ${errorCode(e) ?? (e as Error).message}`);
        if (req.signal?.aborted) throw e;
        if (canRetry && isRetryableError(e) && attempt < this.retryPolicy.retries) {
          await sleep(this.retryDelay(attempt), req.signal);
          attempt++;
          continue;
        }
        if (isOcibuildError(e)) throw e;
        const timedOut = timeoutError(e, req.what, method, url, attempt + 1, this.timeouts);
        if (timedOut) throw timedOut;
        throw new OcibuildError('REGISTRY_UNREACHABLE', `${req.what}: ${method} ${redactUrl(url)} failed: ${errorCode(e) ?? (e as Error).message}`, {
          cause: e,
          details: { url: redactUrl(url), method },
        });
      }
      const status = res.statusCode;
      this.debug(`${method} ${redactUrl(url)} -> ${status}`);
      const response: RegistryResponse = { status, headers: res.headers, body: res.body, url };
      if ((status >= 200 && status < 300) || req.accept?.includes(status)) return response;

      if (status === 401 && sameHost && !authRetried && replayable) {
        await res.body.dump();
        authRetried = true;
        const www = header(res.headers, 'www-authenticate');
        const challenges = www ? parseWwwAuthenticate(www) : [];
        const ch = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
        this.dropToken(ep.challenge, scopes);
        if (ch) {
          // The registry may have switched realm or scheme; keep the newest challenge.
          ep.challenge = ch;
          this.dropToken(ch, scopes);
        }
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(status) && header(res.headers, 'location')) {
        await res.body.dump();
        if (++redirects > MAX_REDIRECTS) {
          throw new OcibuildError('REGISTRY_ERROR', `${req.what}: too many redirects (${redactUrl(base)})`);
        }
        const next = new URL(header(res.headers, 'location')!, url);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') {
          throw new OcibuildError('REGISTRY_ERROR', `${req.what}: redirect to unsupported scheme ${next.protocol}`);
        }
        if (url.protocol === 'https:' && next.protocol === 'http:' && !isLoopbackHost(next.host)) {
          throw new OcibuildError('REGISTRY_ERROR', `${req.what}: refusing a redirect from HTTPS to plain HTTP (${redactUrl(next)})`);
        }
        if (status === 303) method = 'GET';
        url = next;
        continue;
      }
      if (canRetry && isRetryableStatus(status) && attempt < this.retryPolicy.retries) {
        await res.body.dump();
        await sleep(this.retryDelay(attempt, header(res.headers, 'retry-after')), req.signal);
        attempt++;
        continue;
      }
      const text = method === 'HEAD' ? '' : await readLimited(res.body, MAX_ERROR_BODY).catch(() => '');
      // Basic auth: a 401 to a request that carried the credentials means they are wrong.
      const offered = status === 401 && sameHost && ep.challenge?.scheme === 'basic' && headers.authorization ? await this.offeredCredentials(req.registry) : undefined;
      let err = registryError(req.what, method, url, status, text, undefined, offered);
      if (status === 401 && !(err.details?.errors as unknown[] | undefined)?.length) {
        // HEAD answers have no body: the challenge's error says why (e.g. insufficient_scope).
        const www = header(res.headers, 'www-authenticate');
        const ch = www ? parseWwwAuthenticate(www)[0] : undefined;
        if (ch?.params.error) {
          const body = JSON.stringify({ errors: [{ code: ch.params.error.toUpperCase(), message: ch.params.error_description ?? 'authentication required' }] });
          err = registryError(req.what, method, url, status, body, undefined, offered);
        }
      }
      const retryAfter = header(res.headers, 'retry-after');
      if (retryAfter && err.details) err.details.retryAfter = retryAfter;
      throw err;
    }
  }

  /** Send a request and return the response headers; the body is drained. */
  async requestHeaders(req: RegistryRequest): Promise<Pick<RegistryResponse, 'status' | 'headers' | 'url'>> {
    const res = await this.request(req);
    await res.body.dump();
    return { status: res.status, headers: res.headers, url: res.url };
  }

  /** Retry delay for callers running their own retry loops (uploads). */
  backoff(attempt: number, retryAfter?: string): number {
    return this.retryDelay(attempt, retryAfter);
  }

  /** The retry policy in force. */
  get retry(): ResolvedRetry {
    return this.retryPolicy;
  }
}

/** Get one header as a string. */
export function getHeader(res: Pick<RegistryResponse, 'headers'>, name: string): string | undefined {
  return header(res.headers, name);
}
