import { createHash } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { HttpTransport } from './transport.js';

/** A TCP server that records each request's head and answers with `answer(socket)`. */
async function rawServer(answer: (socket: net.Socket, head: string) => void): Promise<{ origin: string; heads: string[]; close: () => Promise<void> }> {
  const heads: string[] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0 && heads.length < 1000 && !socket.readableEnded) {
        const head = buf.slice(0, end);
        buf = '';
        heads.push(head);
        answer(socket, head);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    heads,
    close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), srv.close(() => r()))),
  };
}

const options = { connections: 4, connectMs: 2000, responseMs: 2000, idleMs: 300 };
const MiB = 1024 * 1024;

function bytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 9)) & 0xff;
  return b;
}

test('a plain-HTTP GET with `direct` hands the body over in one reused read buffer; the request is HTTP/1.0 with Connection: close', async () => {
  const data = bytes(5 * MiB + 123);
  const s = await rawServer((socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\nX-Two: a\r\nX-Two: b\r\n\r\n`);
    // Written in pieces, with pauses, so that the client reads many times.
    let off = 0;
    const next = () => {
      if (off >= data.length) return;
      const end = Math.min(off + 700 * 1024, data.length);
      socket.write(data.subarray(off, end), () => setTimeout(next, 2));
      off = end;
    };
    next();
  });
  const t = new HttpTransport(options);
  try {
    const h = createHash('sha256');
    let n = 0;
    const buffers = new Set<ArrayBufferLike>();
    let calls = 0;
    const r = await t.request({ origin: s.origin, path: '/v2/x/blobs/sha256:1?a=b', method: 'GET', headers: { 'user-agent': 'test', authorization: 'Bearer t' }, direct: (c) => (h.update(c), (n += c.length), calls++, buffers.add(c.buffer)) });
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-two']).toBe('a, b');
    r.body.resume();
    await new Promise((res, rej) => (r.body.on('end', res), r.body.on('error', rej)));
    expect(n).toBe(data.length);
    expect(h.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // After the first read (the head and the start of the body, copied once), every chunk is in
    // the connection's one buffer: no fresh memory per read.
    expect(calls).toBeGreaterThan(4);
    expect(buffers.size).toBeLessThanOrEqual(2);
    expect(s.heads[0]).toMatch(/^GET \/v2\/x\/blobs\/sha256:1\?a=b HTTP\/1\.0\r\n/);
    expect(s.heads[0]).toContain('\r\nauthorization: Bearer t');
    expect(s.heads[0]).toContain('\r\nconnection: close');
  } finally {
    await t.close();
    await s.close();
  }
});

test('a `direct` GET answered with another status gives its body as a stream (copied), for the client to read', async () => {
  const s = await rawServer((socket) => socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{"errors":[{"code":"NO"}]}'));
  const t = new HttpTransport(options);
  try {
    const taken: Buffer[] = [];
    const r = await t.request({ origin: s.origin, path: '/v2/', method: 'GET', direct: (c) => taken.push(c) });
    expect(r.statusCode).toBe(404);
    const chunks: Buffer[] = [];
    for await (const c of r.body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('{"errors":[{"code":"NO"}]}');
    expect(taken).toEqual([]);
  } finally {
    await t.close();
    await s.close();
  }
});

test.each([
  ['fewer bytes than Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345', 'ECONNRESET'],
  ['more bytes than Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n12345', 'HPE_INVALID_CONTENT_LENGTH'],
  ['a chunked answer to HTTP/1.0', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n0\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  ['no HTTP at all', 'SSH-2.0-OpenSSH\r\n\r\n', 'HPE_INVALID_CONSTANT'],
])('a `direct` GET fails on %s', async (_what, answer, code) => {
  const s = await rawServer((socket) => socket.end(answer));
  const t = new HttpTransport(options);
  try {
    let n = 0;
    const outcome = (async () => {
      const r = await t.request({ origin: s.origin, path: '/b', method: 'GET', direct: (c) => (n += c.length) });
      r.body.resume();
      await new Promise((res, rej) => (r.body.on('end', res), r.body.on('error', rej)));
    })();
    await expect(outcome).rejects.toMatchObject({ code });
    expect(n).toBeLessThanOrEqual(5);
  } finally {
    await t.close();
    await s.close();
  }
});

test('a `direct` consumer that throws fails the body with its error; a stalled body times out', async () => {
  const s = await rawServer((socket, head) => {
    if (head.includes('/stall')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n12345');
    else socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345');
  });
  const t = new HttpTransport(options);
  try {
    const r = await t.request({ origin: s.origin, path: '/throw', method: 'GET', direct: () => {
      throw Object.assign(new Error('too much'), { code: 'SIZE_MISMATCH' });
    } }).catch((e: unknown) => e);
    const settled = r instanceof Error ? Promise.reject(r) : new Promise((res, rej) => ((r as { body: NodeJS.ReadableStream }).body.on('end', res), (r as { body: NodeJS.ReadableStream }).body.on('error', rej), (r as { body: NodeJS.ReadableStream }).body.resume()));
    await expect(settled).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    const stalled = await t.request({ origin: s.origin, path: '/stall', method: 'GET', direct: () => undefined });
    stalled.body.resume();
    await expect(new Promise((res, rej) => (stalled.body.on('end', res), stalled.body.on('error', rej)))).rejects.toMatchObject({ code: 'ERR_REGISTRY_BODY_TIMEOUT' });
  } finally {
    await t.close();
    await s.close();
  }
});
