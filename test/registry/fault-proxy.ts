/**
 * A fault-injecting HTTP proxy in front of a real registry (plain node:http
 * and node:net). Each request is numbered and offered to `decide`, which may
 * script a fault for it: a connection reset (before or part-way through the
 * request body), an error status (500/503/429 with Retry-After), or a
 * response truncated at a byte offset.
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from './harness.js';

/** A fault for one request. */
export type Fault =
  | { type: 'reset' }
  /** Forward the request, but cut the connection after this many request-body bytes. */
  | { type: 'reset-after-upload'; bytes: number }
  | { type: 'status'; status: number; retryAfter?: string; body?: string }
  /** Forward, then cut the response body after this many bytes (the connection is destroyed). */
  | { type: 'truncate'; at: number }
  /** Forward, adding these response headers (e.g. `OCI-Chunk-Min-Length`). */
  | { type: 'add-headers'; headers: Record<string, string> }
  /** Take the request and never answer (the connection stays open). */
  | { type: 'hang' }
  /** Forward, send the headers and this many body bytes, then send nothing more (the connection stays open). */
  | { type: 'stall-body'; at: number }
  /** Forward the request this many milliseconds late (the response follows as usual). */
  | { type: 'delay'; ms: number };

/** What the proxy saw. */
export interface ProxyRequest {
  n: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The client's port: one per client connection, so keep-alive reuse can be counted. */
  remotePort?: number;
  fault?: Fault;
  status?: number;
  /** Response headers from the registry (forwarded requests only). */
  responseHeaders?: http.IncomingHttpHeaders;
  /** Request body bytes forwarded to the registry, and their SHA-256 (hex), once the request ended. */
  forwarded?: { bytes: number; sha256: string };
  /** Request body bytes forwarded so far (grows while the body arrives). */
  received: number;
  /** Times (ms since epoch) the request arrived and its response ended (forwarded requests only). */
  startedAt: number;
  endedAt?: number;
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** `127.0.0.1:<port>` of the registry behind the proxy (plain HTTP). */
  upstream: string;
  /** Decide a fault for request number `n` (0-based). */
  decide?: (req: { n: number; method: string; url: string; headers: http.IncomingHttpHeaders }) => Fault | undefined;
  /** After `reset-after-upload` cut the registry's side, wait this long before cutting the client's. Default 1000. */
  settleMs?: number;
}

/** A running proxy. */
export interface FaultProxy {
  host: string;
  requests: ProxyRequest[];
  /** Replace the fault script. */
  setDecide(fn: FaultProxyOptions['decide']): void;
  stop(): Promise<void>;
}

/** Start the proxy on a free port of 127.0.0.1. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  let decide = options.decide;
  const settleMs = options.settleMs ?? 1000;
  const requests: ProxyRequest[] = [];
  const sockets = new Set<net.Socket>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const [upHost, upPort] = options.upstream.split(':');

  const server = http.createServer((req, res) => {
    const n = requests.length;
    const entry: ProxyRequest = { n, method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, remotePort: req.socket.remotePort, received: 0, startedAt: Date.now() };
    requests.push(entry);
    const fault = decide?.({ n, method: entry.method, url: entry.url, headers: req.headers });
    if (fault) entry.fault = fault;
    if (fault?.type === 'delay') {
      req.pause();
      setTimeout(() => {
        serve(req, res, entry, undefined);
        req.resume(); // paused above: listeners alone would not start it again
      }, fault.ms);
      return;
    }
    serve(req, res, entry, fault);
  });

  function serve(req: http.IncomingMessage, res: http.ServerResponse, entry: ProxyRequest, fault: Fault | undefined): void {

    if (fault?.type === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.type === 'hang') {
      req.resume();
      return;
    }
    if (fault?.type === 'status') {
      req.resume();
      req.on('end', () => {
        entry.status = fault.status;
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
        res.writeHead(fault.status, headers);
        res.end(fault.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected ${fault.status}` }] }));
      });
      return;
    }

    const upstream = http.request(
      { host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        entry.status = up.statusCode;
        entry.responseHeaders = up.headers;
        res.writeHead(up.statusCode ?? 502, fault?.type === 'add-headers' ? { ...up.headers, ...fault.headers } : up.headers);
        if (fault?.type === 'stall-body') {
          let sent = 0;
          up.on('data', (c: Buffer) => {
            if (sent >= fault.at) return;
            const part = c.subarray(0, fault.at - sent);
            sent += part.length;
            res.write(part);
          });
          // Keep reading upstream (and drop it) so the registry is not held up.
          return;
        }
        if (fault?.type === 'truncate') {
          let sent = 0;
          up.on('data', (c: Buffer) => {
            if (sent >= fault.at) return;
            const room = fault.at - sent;
            const part = c.length > room ? c.subarray(0, room) : c;
            sent += part.length;
            res.write(part);
            if (sent >= fault.at) {
              // Let the bytes leave, then drop the connection mid-body.
              setImmediate(() => {
                req.socket.destroy();
                up.destroy();
              });
            }
          });
          up.on('end', () => res.end());
          return;
        }
        up.pipe(res);
        res.on('finish', () => (entry.endedAt = Date.now()));
      },
    );
    const hash = createHash('sha256');
    let forwardedBytes = 0;
    const forward = (c: Buffer) => {
      hash.update(c);
      forwardedBytes += c.length;
      entry.received = forwardedBytes;
      if (!upstream.write(c)) {
        req.pause();
        upstream.once('drain', () => req.resume());
      }
    };
    const finishForward = () => {
      entry.forwarded = { bytes: forwardedBytes, sha256: hash.digest('hex') };
    };
    let resetting = false;
    upstream.on('error', () => {
      // A reset the fault scripted is the client's answer: no 502 in between (a 502 would hand
      // the client a finished response, and its next request could then go out on the socket
      // the timer below is about to destroy: an unscripted reset, seen under load).
      if (resetting) return;
      if (!res.headersSent) res.writeHead(502).end();
      else req.socket.destroy();
    });
    if (fault?.type === 'reset-after-upload') {
      let seen = 0;
      req.on('data', (c: Buffer) => {
        if (seen >= fault.bytes) return;
        const room = fault.bytes - seen;
        const part = c.length > room ? c.subarray(0, room) : c;
        seen += part.length;
        forward(part);
        if (seen >= fault.bytes) {
          finishForward();
          // The registry sees a client that went away mid-body; so does the client, once the
          // registry has had time to store what it got (so what the client sees next does not
          // depend on how loaded the machine is).
          resetting = true;
          setTimeout(() => upstream.destroy(), 50);
          setTimeout(() => req.socket.destroy(), 50 + settleMs);
        }
      });
      // Past the cut, the registry's side is never ended cleanly: a body that ended before the
      // timer would reach the registry as a whole (shorter) request, answered, and the client
      // could then reuse the socket the timer destroys (an unscripted reset of its next request).
      req.on('end', () => {
        if (seen < fault.bytes) upstream.end();
      });
      return;
    }
    req.on('data', forward);
    req.on('end', () => {
      finishForward();
      upstream.end();
    });
    // A client that drops its request mid-body drops it at the registry too, as a direct connection would.
    req.on('close', () => {
      if (!req.complete) upstream.destroy();
    });
  }
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    setDecide(fn) {
      decide = fn;
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** What {@link useProxiedRegistry} hands a test file. */
export interface ProxiedRegistry {
  registry: TestRegistry;
  proxy: FaultProxy;
  /** A temp dir of the test file, removed at its end. */
  tmp: string;
}

/**
 * For one test file: the real registry (no auth) with the fault proxy in front and a temp dir,
 * started before its tests (`set` receives them) and stopped after them.
 */
export function useProxiedRegistry(tmpPrefix: string, set: (r: ProxiedRegistry) => void): void {
  let r: Partial<ProxiedRegistry> = {};
  beforeAll(async () => {
    r.tmp = await mkdtemp(path.join(os.tmpdir(), tmpPrefix));
    r.registry = await startRegistry({ auth: 'none' });
    r.proxy = await startFaultProxy({ upstream: r.registry.host });
    set(r as ProxiedRegistry);
  });
  afterAll(async () => {
    await r.proxy?.stop();
    await r.registry?.stop();
    if (r.tmp) await rm(r.tmp, { recursive: true, force: true });
    r = {};
  });
}
