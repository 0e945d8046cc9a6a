// Part of scripts/bundle.mjs: the smallest registry (the distribution API's requests a push and
// a pull send, in memory, on 127.0.0.1) that the push/pull bundle's code cache is made against,
// so the cache holds the functions a push and a pull run, not only the top level. Not a registry
// to test against (test/registry has those): no auth, no errors, no ranges, no mounts.
import { createHash } from 'node:crypto';
import http from 'node:http';

export async function startWarmRegistry() {
  const blobs = new Map();
  const manifests = new Map();
  const uploads = new Map();
  let next = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, 'http://localhost');
      const p = url.pathname;
      const send = (status, headers = {}, data = Buffer.alloc(0)) => {
        res.writeHead(status, { 'content-length': String(data.length), ...headers });
        res.end(req.method === 'HEAD' ? undefined : data);
      };
      let m;
      if (p === '/v2/') return send(200, { 'content-type': 'application/json' }, Buffer.from('{}'));
      if ((m = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(p)) && req.method === 'POST') {
        const id = String(next++);
        uploads.set(id, []);
        return send(202, { location: `/v2/${m[1]}/blobs/uploads/${id}`, range: '0-0' });
      }
      if ((m = /^\/v2\/(.+)\/blobs\/uploads\/(\d+)$/.exec(p)) && uploads.has(m[2])) {
        const parts = uploads.get(m[2]);
        parts.push(body);
        const held = parts.reduce((n, b) => n + b.length, 0);
        if (req.method === 'PATCH') return send(202, { location: p, range: `0-${Math.max(held - 1, 0)}` });
        const data = Buffer.concat(parts);
        const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
        if (digest !== url.searchParams.get('digest')) return send(400);
        blobs.set(digest, data);
        uploads.delete(m[2]);
        return send(201, { location: `/v2/${m[1]}/blobs/${digest}`, 'docker-content-digest': digest });
      }
      if ((m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(p))) {
        const data = blobs.get(m[2]);
        return data ? send(200, { 'docker-content-digest': m[2], 'content-type': 'application/octet-stream' }, data) : send(404);
      }
      if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(p))) {
        if (req.method === 'PUT') {
          const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
          const entry = { type: req.headers['content-type'], body, digest };
          manifests.set(`${m[1]}:${m[2]}`, entry);
          manifests.set(`${m[1]}:${digest}`, entry);
          return send(201, { location: `/v2/${m[1]}/manifests/${digest}`, 'docker-content-digest': digest });
        }
        const entry = manifests.get(`${m[1]}:${m[2]}`);
        return entry ? send(200, { 'content-type': entry.type, 'docker-content-digest': entry.digest }, entry.body) : send(404);
      }
      send(404);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { host: `127.0.0.1:${server.address().port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}
