import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BODY_TIMEOUT, HttpTransport } from './transport.js';

async function server(handler: http.RequestListener, keepAliveMs = 5000): Promise<{ origin: string; connections: () => number; close: () => Promise<void> }> {
  const srv = http.createServer(handler);
  srv.keepAliveTimeout = keepAliveMs;
  let connections = 0;
  srv.on('connection', () => connections++);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise<void>((r) => (srv.closeAllConnections(), srv.close(() => r()))),
  };
}

const options = { connections: 4, connectMs: 2000, responseMs: 2000, idleMs: 300 };

test('requests reuse a kept-alive connection', async () => {
  const s = await server((_q, res) => res.end('ok'));
  const t = new HttpTransport(options);
  try {
    for (let i = 0; i < 5; i++) {
      const r = await t.request({ origin: s.origin, path: '/v2/', method: 'GET' });
      await r.body.dump();
      expect(r.statusCode).toBe(200);
    }
    expect(s.connections()).toBe(1);
  } finally {
    await t.close();
    await s.close();
  }
});

test("an idle connection is dropped a second before the server's Keep-Alive timeout, not reused as it closes", async () => {
  // The server announces `Keep-Alive: timeout=2`; after 1.3 s idle the client must not reuse the connection.
  const s = await server((_q, res) => res.end('ok'), 2000);
  const t = new HttpTransport(options);
  try {
    const r1 = await t.request({ origin: s.origin, path: '/', method: 'GET' });
    expect(r1.headers['keep-alive']).toBe('timeout=2');
    await r1.body.dump();
    await new Promise((r) => setTimeout(r, 1300));
    const r2 = await t.request({ origin: s.origin, path: '/', method: 'GET' });
    await r2.body.dump();
    expect(s.connections()).toBe(2);
  } finally {
    await t.close();
    await s.close();
  }
});

test('a stalled body fails with the body timeout; a slow reader does not', async () => {
  const s = await server((q, res) => {
    res.writeHead(200, { 'content-length': String(4 * 1024 * 1024) });
    if (q.url === '/stall') res.write(Buffer.alloc(1000));
    else res.end(Buffer.alloc(4 * 1024 * 1024));
  });
  const t = new HttpTransport(options);
  try {
    const stalled = await t.request({ origin: s.origin, path: '/stall', method: 'GET' });
    await expect((async () => { for await (const _ of stalled.body) void _; })()).rejects.toMatchObject({ code: BODY_TIMEOUT });
    // Reading slower than the idle limit, chunk by chunk, is the reader's pace, not a stall.
    const slow = await t.request({ origin: s.origin, path: '/slow', method: 'GET' });
    await new Promise((r) => setTimeout(r, 700));
    let n = 0;
    for await (const c of slow.body) n += (c as Buffer).length;
    expect(n).toBe(4 * 1024 * 1024);
  } finally {
    await t.close();
    await s.close();
  }
});
