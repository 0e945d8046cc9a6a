/**
 * A GET over plain HTTP whose 2xx body goes to a synchronous consumer (a blob
 * being pulled into the store), read from the socket into one buffer that is
 * reused: no fresh memory per read (issue 8). Node's `http` allocates a new
 * 64 KiB buffer for every socket read and copies every body chunk again; on
 * this kind of machine the page faults of that fresh memory cost more than
 * the download itself (a 43 MB blob from a loopback registry: 0.03 s read so,
 * 0.15-0.20 s through `http`).
 *
 * The request is HTTP/1.0 with `Connection: close`, so the answer has no
 * chunked encoding and the connection is not reused: the body is what follows
 * the head up to `Content-Length` (or to the end of the connection when
 * there is none); fewer bytes is a reset, more a protocol error. Other
 * statuses (redirects, errors) come in `body` as copies, for the client to
 * read as usual. Same bounded waits as the transport: connect, response head,
 * idle body.
 */
import net from 'node:net';
import { BODY_TIMEOUT, Body, CONNECT_TIMEOUT, HEADERS_TIMEOUT, codedError } from './http-body.js';

const READ_BYTES = 1024 * 1024;
const MAX_HEAD = 64 * 1024;

/** A GET of {@link rawGet}. */
export interface RawGetRequest {
  url: URL;
  headers: Record<string, string>;
  connectMs: number;
  responseMs: number;
  idleMs: number;
  signal?: AbortSignal;
  /** Takes the 2xx body chunk by chunk; a chunk is valid only during the call. A throw fails the response. */
  direct: (chunk: Buffer) => void;
}

/** The head of the answer; `body` ends (2xx: without data) or fails. */
export interface RawGetResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Body;
}

function requestHead(url: URL, headers: Record<string, string>): string {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.0`, `host: ${url.host}`];
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (name === 'host' || name === 'connection' || name === 'content-length') continue;
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name) || /[\r\n\0]/.test(v)) throw codedError(`invalid request header ${JSON.stringify(k)}`, 'ERR_INVALID_CHAR');
    lines.push(`${name}: ${v}`);
  }
  lines.push('connection: close', '', '');
  return lines.join('\r\n');
}

function parseHead(text: string): { statusCode: number; headers: Record<string, string> } {
  const [statusLine, ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine ?? '');
  if (!m) throw codedError(`invalid HTTP response ${JSON.stringify((statusLine ?? '').slice(0, 40))}`, 'HPE_INVALID_CONSTANT');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) throw codedError(`invalid HTTP response header ${JSON.stringify(line.slice(0, 40))}`, 'HPE_INVALID_HEADER_TOKEN');
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { statusCode: Number(m[1]), headers };
}

/** Send the GET; resolves at the response head. */
export function rawGet(req: RawGetRequest): Promise<RawGetResponse> {
  return new Promise<RawGetResponse>((resolve, reject) => {
    if (req.signal?.aborted) {
      reject(req.signal.reason ?? codedError('aborted', 'ABORT_ERR'));
      return;
    }
    let head: Buffer = Buffer.alloc(0);
    let body: Body | undefined;
    let direct = false;
    /** Body bytes still to come; -1: up to the end of the connection. */
    let remaining = -1;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let paused = false;
    const wait = (ms: number, code: string, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        // A reader that is behind (a copied body waiting to be read) is not the registry's stall.
        if (code === BODY_TIMEOUT && paused) wait(ms, code, what);
        else socket.destroy(codedError(what, code));
      }, ms);
      timer.unref?.();
    };
    const onAbort = () => socket.destroy(req.signal?.reason ?? codedError('aborted', 'ABORT_ERR'));
    const fail = (e: Error) => {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      if (!settled) {
        settled = true;
        reject(e);
      } else if (body && !body.destroyed && !body.writableEnded) body.destroy(e);
    };
    const finish = () => {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      body!.end();
      socket.destroy();
    };
    const deliver = (chunk: Buffer) => {
      if (remaining >= 0 && chunk.length > remaining) throw codedError('the response is longer than its Content-Length', 'HPE_INVALID_CONTENT_LENGTH');
      if (direct) req.direct(chunk);
      else if (!body!.write(Buffer.from(chunk))) {
        paused = true;
        socket.pause();
      }
      if (remaining >= 0) {
        remaining -= chunk.length;
        if (remaining === 0) finish();
      }
    };
    const onRead = (view: Buffer) => {
      if (body) {
        wait(req.idleMs, BODY_TIMEOUT, `response body stalled for ${req.idleMs} ms`);
        deliver(view);
        return;
      }
      head = Buffer.concat([head, view]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD) throw codedError('response headers too large', 'HPE_HEADER_OVERFLOW');
        return;
      }
      const parsed = parseHead(head.subarray(0, end).toString('latin1'));
      if (parsed.headers['transfer-encoding'] !== undefined) throw codedError('a Transfer-Encoding in the answer to HTTP/1.0', 'HPE_UNEXPECTED_CONTENT_LENGTH');
      const len = parsed.headers['content-length'];
      if (len !== undefined && !/^\d+$/.test(len)) throw codedError(`invalid Content-Length ${JSON.stringify(len)}`, 'HPE_INVALID_CONTENT_LENGTH');
      remaining = len === undefined ? -1 : Number(len);
      direct = parsed.statusCode >= 200 && parsed.statusCode < 300;
      const out = new Body({ highWaterMark: 64 * 1024 });
      out.on('drain', () => {
        paused = false;
        socket.resume();
      });
      out.on('close', () => {
        if (!out.writableEnded) socket.destroy();
      });
      // A failure before the reader listens stays in the stream's state for it (no unhandled 'error').
      out.on('error', () => undefined);
      body = out;
      settled = true;
      wait(req.idleMs, BODY_TIMEOUT, `response body stalled for ${req.idleMs} ms`);
      resolve({ statusCode: parsed.statusCode, headers: parsed.headers, body: out });
      const rest = head.subarray(end + 4);
      head = Buffer.alloc(0);
      // The rest of this read once the caller has the response (and listens): no read comes between.
      socket.pause();
      setImmediate(() => {
        if (out.destroyed) return;
        try {
          if (rest.length > 0) deliver(rest);
          else if (remaining === 0) finish();
          if (!paused) socket.resume();
        } catch (e) {
          socket.destroy(e as Error);
        }
      });
    };
    const socket = net.connect({
      host: req.url.hostname.startsWith('[') ? req.url.hostname.slice(1, -1) : req.url.hostname,
      port: Number(req.url.port || 80),
      onread: {
        buffer: Buffer.allocUnsafeSlow(READ_BYTES),
        callback: (n: number, buf: Uint8Array) => {
          try {
            onRead(Buffer.from(buf.buffer, buf.byteOffset, n));
          } catch (e) {
            socket.destroy(e as Error);
          }
          return true;
        },
      },
    });
    req.signal?.addEventListener('abort', onAbort, { once: true });
    wait(req.connectMs, CONNECT_TIMEOUT, `could not connect within ${req.connectMs} ms`);
    socket.on('connect', () => {
      wait(req.responseMs, HEADERS_TIMEOUT, `no response headers within ${req.responseMs} ms`);
      try {
        socket.write(requestHead(req.url, req.headers));
      } catch (e) {
        socket.destroy(e as Error);
      }
    });
    socket.on('error', fail);
    socket.on('end', () => {
      if (!body) fail(codedError('other side closed', 'ECONNRESET'));
      else if (remaining > 0) fail(codedError('other side closed before the end of the body', 'ECONNRESET'));
      else if (remaining === -1) finish();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!body) fail(codedError('other side closed', 'ECONNRESET'));
      else if (!body.writableEnded) fail(codedError('other side closed', 'ECONNRESET'));
    });
  });
}
