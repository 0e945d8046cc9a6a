/**
 * The registry client's HTTP/1.1 transport on Node's own `http`/`https`
 * (keep-alive agents, one pool per client): requests with bounded waits
 * (connect, response headers, idle body) and response bodies that can be
 * drained with `dump()`.
 *
 * Why not undici: loading undici and compiling its llhttp WebAssembly parser
 * costs about 0.35 s of CPU in every process that makes its first request
 * (measured: `node -e` with one GET to a local registry, user+sys 0.50-0.60 s
 * with undici's Agent against 0.13-0.16 s with `node:http`), which was
 * more than skopeo's whole push or pull of a 43 MB image. Node's built-in
 * parser is native and already loaded.
 */
import http from 'node:http';
import type https from 'node:https';
import type { Readable } from 'node:stream';
import { processSecureContext } from '../tls-trust.js';
import { BODY_TIMEOUT, Body, CONNECT_TIMEOUT, HEADERS_TIMEOUT, codedError, type ResponseBody } from './http-body.js';
import { rawGet } from './raw-get.js';

export { BODY_TIMEOUT, CONNECT_TIMEOUT, HEADERS_TIMEOUT, type ResponseBody } from './http-body.js';

/**
 * A request body whose producer reuses its buffers (a blob read from the
 * store): the transport asks for the next chunk only once the previous one
 * has been written to the socket, so no chunk is held after that. `close()`
 * releases a body that is not read to its end (a request that failed first).
 */
export interface ChunkBody extends AsyncIterable<Buffer> {
  close(): Promise<void>;
}

/** A request body that is a stream (a Readable), not a string, Buffer or {@link ChunkBody}. */
export function isStreamBody(body: unknown): body is Readable {
  return typeof body === 'object' && body !== null && typeof (body as Readable).pipe === 'function';
}

/** Release a body that was not sent (a stream is destroyed, a {@link ChunkBody} closed). */
export function discardBody(body: TransportRequest['body'] | undefined): void {
  if (isStreamBody(body)) body.destroy();
  else if (typeof body === 'object' && body !== null && !Buffer.isBuffer(body)) void body.close().catch(() => undefined);
}

/** One request on a {@link HttpTransport}. */
export interface TransportRequest {
  /** `http://host[:port]` or `https://host[:port]`. */
  origin: string;
  /** Path and query. */
  path: string;
  method: string;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable | ChunkBody | null;
  signal?: AbortSignal;
  /**
   * Takes a 2xx response's body chunk by chunk, synchronously; each chunk is
   * valid only during the call. The response's `body` then carries no data,
   * it only ends or fails (a throw fails it). Other statuses arrive in `body`
   * as usual. A plain-HTTP GET with `direct` reads into one reused buffer
   * (raw-get.ts); over HTTPS the chunks are Node's.
   */
  direct?: (chunk: Buffer) => void;
  /** Told each time a part of the request body went out (the wait for the answer starts again). */
  onBodyProgress?: () => void;
}

/** The answer to a {@link TransportRequest}. */
export interface TransportResponse {
  statusCode: number;
  /** Lower-case names. */
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
}

/** Settings of a {@link HttpTransport}. */
export interface TransportOptions {
  /** Connections per origin. */
  connections: number;
  connectMs: number;
  /** Wait for the response headers (re-armed while the request body is being sent). */
  responseMs: number;
  /** Longest pause between two chunks of a response body (not counted while the reader is behind). */
  idleMs: number;
  /** Trusted CAs (replaces Node's defaults). */
  ca?: string[];
  /** false: skip TLS certificate verification (explicitly insecure registries). */
  rejectUnauthorized?: boolean;
}

/**
 * Write a {@link ChunkBody}: each chunk goes to the request and is written to
 * the socket before the next is asked for (its buffer is then reused).
 * Rejects when the body fails (a blob that does not verify) or the request
 * closes first; the caller then destroys the request, so a partial body is
 * never taken for a whole one.
 */
async function writeChunks(r: http.ClientRequest, body: ChunkBody, progress: () => void): Promise<void> {
  let closed: (() => void) | undefined;
  const onClose = () => closed?.();
  r.on('close', onClose);
  try {
    for await (const chunk of body) {
      progress();
      await new Promise<void>((resolve, reject) => {
        closed = () => reject(codedError('the request closed while its body was being sent', 'ECONNRESET'));
        r.write(chunk, (e) => (e ? reject(e) : resolve()));
      });
      closed = undefined;
    }
    progress();
  } finally {
    r.off('close', onClose);
    await body.close();
  }
}

/** Idle time a server allows a kept-alive connection (`Keep-Alive: timeout=N`), by socket. */
const keepAliveHints = new WeakMap<object, number>();

/**
 * Drop an idle connection a second before the server's `Keep-Alive: timeout`
 * says it will close it (as undici does): reusing a connection the server is
 * closing fails the request before the server sees it. Node's agent honours
 * the hint only when it is below its own `timeout`, which is unset here.
 */
function expireIdle(socket: NodeJS.Socket & { setTimeout(ms: number): unknown }): void {
  const ms = keepAliveHints.get(socket);
  if (ms !== undefined) socket.setTimeout(Math.max(ms - 1000, 500));
}

class HttpAgent extends http.Agent {
  // Node returns whether the socket was kept (its types say void).
  override keepSocketAlive(socket: import('node:net').Socket): void {
    const kept: unknown = super.keepSocketAlive(socket);
    if (kept !== false) expireIdle(socket);
    return kept as void;
  }
}

/** HTTP/1.1 with keep-alive connection pools (plain and TLS) and bounded waits. */
export class HttpTransport {
  private readonly httpAgent: http.Agent;
  /** For close(): the agent {@link tls} made, once it has. */
  private httpsAgent?: https.Agent;
  private https?: Promise<{ mod: typeof https; agent: https.Agent }>;

  constructor(private readonly options: TransportOptions) {
    this.httpAgent = new HttpAgent(this.agentOptions());
  }

  private agentOptions() {
    return { keepAlive: true, maxSockets: this.options.connections, scheduling: 'lifo' as const };
  }

  /** `node:https` and its agent, made once, at the first HTTPS request (loading TLS costs ~50 ms of CPU). */
  private tls(): Promise<{ mod: typeof https; agent: https.Agent }> {
    this.https ??= (async () => {
      const mod = (await import('node:https')).default;
      // NODE_EXTRA_CA_CERTS when bin/ocibuild kept it from Node's start (src/tls-trust.ts); a `ca` list has it already.
      const secureContext = this.options.ca ? undefined : await processSecureContext();
      const Agent = class extends mod.Agent {
        override keepSocketAlive(socket: import('node:net').Socket): void {
          const kept: unknown = super.keepSocketAlive(socket);
          if (kept !== false) expireIdle(socket);
          return kept as void;
        }
      };
      this.httpsAgent = new Agent({
        ...this.agentOptions(),
        ...(this.options.ca ? { ca: this.options.ca } : {}),
        ...(secureContext ? { secureContext } : {}),
        ...(this.options.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
      });
      return { mod, agent: this.httpsAgent };
    })();
    return this.https;
  }

  /** Close every connection (idle ones at once, busy ones are destroyed). */
  close(): Promise<void> {
    this.httpAgent.destroy();
    this.httpsAgent?.destroy();
    return Promise.resolve();
  }

  /** Send one request; resolves at the response headers with the body still to read. */
  request(req: TransportRequest): Promise<TransportResponse> {
    // Plain HTTP sends at once (in this tick, as before the lazy TLS load); HTTPS after loading TLS.
    if (new URL(req.origin).protocol === 'https:') return this.tls().then((secure) => this.send(req, secure));
    if (req.direct && req.method === 'GET' && (req.body === undefined || req.body === null)) {
      const { connectMs, responseMs, idleMs } = this.options;
      const url = new URL(req.path, req.origin);
      return rawGet({ url, headers: req.headers ?? {}, connectMs, responseMs, idleMs, direct: req.direct, ...(req.signal ? { signal: req.signal } : {}) });
    }
    return this.send(req, undefined);
  }

  private send(req: TransportRequest, secure: { mod: typeof https; agent: https.Agent } | undefined): Promise<TransportResponse> {
    const { connectMs, responseMs, idleMs } = this.options;
    return new Promise<TransportResponse>((resolve, reject) => {
      if (req.signal?.aborted) {
        discardBody(req.body);
        reject(req.signal.reason ?? codedError('aborted', 'ABORT_ERR'));
        return;
      }
      const url = new URL(req.path, req.origin);
      const tls = url.protocol === 'https:' && secure !== undefined;
      const body = req.body;
      const headers: Record<string, string> = { ...(req.headers ?? {}) };
      if ((typeof body === 'string' || Buffer.isBuffer(body)) && headers['content-length'] === undefined) {
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      let settled = false;
      let responseTimer: NodeJS.Timeout | undefined;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(responseTimer);
        discardBody(body);
        reject(e);
      };
      const options: https.RequestOptions = {
        protocol: url.protocol,
        hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
        port: url.port || (tls ? 443 : 80),
        path: url.pathname + url.search,
        method: req.method,
        headers,
        agent: secure ? secure.agent : this.httpAgent,
        ...(tls && url.hostname && !/^[\d.]+$|^\[/.test(url.hostname) ? { servername: url.hostname } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      };
      const r = (secure ? secure.mod : http).request(options);
      const armResponse = () => {
        clearTimeout(responseTimer);
        responseTimer = setTimeout(() => r.destroy(codedError(`no response headers within ${responseMs} ms`, HEADERS_TIMEOUT)), responseMs);
        responseTimer.unref?.();
      };
      armResponse();
      r.on('socket', (socket) => {
        const s = socket as NodeJS.Socket & { connecting?: boolean };
        // A reused connection: its idle expiry does not apply while it carries a request.
        if (keepAliveHints.has(socket)) socket.setTimeout(0);
        if (!s.connecting) return;
        const t = setTimeout(() => r.destroy(codedError(`could not connect within ${connectMs} ms`, CONNECT_TIMEOUT)), connectMs);
        t.unref?.();
        const clear = () => {
          clearTimeout(t);
          armResponse();
        };
        socket.once(tls ? 'secureConnect' : 'connect', clear);
        socket.once('close', () => clearTimeout(t));
      });
      r.on('error', fail);
      r.on('response', (res: http.IncomingMessage) => {
        clearTimeout(responseTimer);
        const hint = /(?:^|,)\s*timeout=(\d+)/i.exec(String(res.headers['keep-alive'] ?? ''))?.[1];
        if (hint) keepAliveHints.set(res.socket, Number(hint) * 1000);
        if (settled) {
          res.destroy();
          return;
        }
        settled = true;
        const out = new Body({ highWaterMark: 64 * 1024 });
        // Idle body timeout: re-armed on every chunk; a reader that is behind
        // (out's buffer full, so `res` is paused) is not the registry's stall.
        let idle: NodeJS.Timeout | undefined;
        const armIdle = () => {
          if (idle) {
            idle.refresh();
            return;
          }
          idle = setTimeout(() => {
            if (out.writableNeedDrain || res.isPaused()) armIdle();
            else res.destroy(codedError(`response body stalled for ${idleMs} ms`, BODY_TIMEOUT));
          }, idleMs);
          idle.unref?.();
        };
        armIdle();
        const direct = req.direct;
        const status = res.statusCode ?? 0;
        if (direct && status >= 200 && status < 300) {
          // Taken as it arrives: never paused.
          res.on('data', (c: Buffer) => {
            armIdle();
            try {
              direct(c);
            } catch (e) {
              res.destroy(e as Error);
            }
          });
        } else {
          res.on('data', (c: Buffer) => {
            armIdle();
            if (!out.write(c)) res.pause();
          });
          out.on('drain', () => res.resume());
        }
        res.on('end', () => {
          clearTimeout(idle);
          out.end();
        });
        res.on('error', (e) => {
          clearTimeout(idle);
          out.destroy(e);
        });
        res.on('close', () => {
          clearTimeout(idle);
          // Closed before its end: the connection dropped mid-body.
          if (!res.complete && !out.destroyed) out.destroy(codedError('other side closed', 'ECONNRESET'));
        });
        out.on('close', () => {
          clearTimeout(idle);
          if (!res.complete) res.destroy();
        });
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: out });
      });
      // A part of the body went out: the response's wait starts again, and the caller is told.
      const sent = () => {
        armResponse();
        req.onBodyProgress?.();
      };
      if (body === undefined || body === null) r.end();
      else if (typeof body === 'string' || Buffer.isBuffer(body)) r.end(body);
      else if (isStreamBody(body)) {
        body.on('error', (e) => r.destroy(e));
        body.on('data', sent);
        body.on('end', sent);
        body.pipe(r);
      } else {
        writeChunks(r, body, sent).then(
          () => r.end(),
          (e: Error) => r.destroy(e),
        );
      }
    });
  }
}
