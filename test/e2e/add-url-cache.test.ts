/**
 * ADD <url> and the step cache, through build() against a local HTTP server that counts its
 * requests. `ADD --checksum=sha256:... <url>` names its bytes in the step, so its key needs no
 * download: a rebuild, or a build in an empty store with the cache elsewhere, asks the server
 * nothing (BuildKit's HTTP source does the same: such a step's cache key is the checksum).
 * Without a checksum the step is keyed by the bytes downloaded, and a rebuild first asks with the
 * ETag it kept (a HEAD with If-None-Match): a 304 is a hit with no download, as BuildKit does.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BuildOptions } from '../../src/index.js';
import { buildOnce as buildInStore } from './build-once.js';

let tmp: string;
let server: http.Server;
let base: string;
const requests: string[] = [];
const bodies: Record<string, string> = { '/tool.txt': 'tool version 1\n', '/other.txt': 'another file\n', '/noetag.txt': 'no etag here\n', '/nohead.txt': 'HEAD is refused\n' };
const etagOf = (body: string) => `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-add-url-cache-'));
  server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const body = bodies[req.url ?? ''];
    if (body === undefined) {
      res.statusCode = 404;
      res.end();
      return;
    }
    if (req.url === '/nohead.txt' && req.method === 'HEAD') {
      res.statusCode = 405;
      res.end();
      return;
    }
    res.setHeader('last-modified', 'Tue, 01 Dec 2026 10:00:00 GMT');
    if (req.url !== '/noetag.txt') {
      const etag = etagOf(body);
      if (req.headers['if-none-match'] === etag) {
        res.statusCode = 304;
        res.end();
        return;
      }
      res.setHeader('etag', etag);
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(tmp, { recursive: true, force: true });
});

const buildOnce = (dockerfile: string, storeRoot: string, extra: Partial<BuildOptions> = {}) => buildInStore(tmp, dockerfile, storeRoot, extra);

test('ADD --checksum <url>: a rebuild hits without asking the server, and gives the same image', async () => {
  const storeRoot = path.join(tmp, 'store-pinned');
  const dockerfile = `FROM scratch\nADD --checksum=${sha(bodies['/tool.txt']!)} ${base}/tool.txt /opt/tool.txt\n`;
  requests.length = 0;
  const first = await buildOnce(dockerfile, storeRoot);
  expect(first.cached).toEqual([false]);
  expect(requests).toEqual(['GET /tool.txt']);
  requests.length = 0;
  const second = await buildOnce(dockerfile, storeRoot);
  expect(second.cached).toEqual([true]);
  expect(requests).toEqual([]);
  expect(second.result.descriptor.digest).toBe(first.result.descriptor.digest);
});

test('another checksum (other bytes) misses, and a wrong one still fails the step', async () => {
  const storeRoot = path.join(tmp, 'store-pinned');
  requests.length = 0;
  const other = await buildOnce(`FROM scratch\nADD --checksum=${sha(bodies['/other.txt']!)} ${base}/other.txt /opt/tool.txt\n`, storeRoot);
  expect(other.cached).toEqual([false]);
  expect(requests).toEqual(['GET /other.txt']);
  const wrong = buildOnce(`FROM scratch\nADD --checksum=${sha('not these bytes')} ${base}/tool.txt /opt/tool.txt\n`, storeRoot);
  await expect(wrong).rejects.toMatchObject({ code: 'ADD_CHECKSUM' });
});

test('ADD <url> with an ETag: a rebuild asks with If-None-Match, gets 304 and hits without downloading', async () => {
  const storeRoot = path.join(tmp, 'store-etag');
  const dockerfile = `FROM scratch\nADD ${base}/tool.txt /opt/tool.txt\n`;
  requests.length = 0;
  const first = await buildOnce(dockerfile, storeRoot);
  expect([first.cached, requests]).toEqual([[false], ['GET /tool.txt']]);
  requests.length = 0;
  const second = await buildOnce(dockerfile, storeRoot);
  expect([second.cached, requests]).toEqual([[true], ['HEAD /tool.txt']]);
  expect(second.result.descriptor.digest).toBe(first.result.descriptor.digest);
  // New bytes behind the URL (a new ETag): downloaded again, a miss, another image.
  const before = bodies['/tool.txt']!;
  bodies['/tool.txt'] = 'tool version 2\n';
  try {
    requests.length = 0;
    const third = await buildOnce(dockerfile, storeRoot);
    expect([third.cached, requests]).toEqual([[false], ['HEAD /tool.txt', 'GET /tool.txt']]);
    expect(third.result.descriptor.digest).not.toBe(first.result.descriptor.digest);
  } finally {
    bodies['/tool.txt'] = before;
  }
  // Back to the first bytes: their layer is still cached (keyed by the bytes), after one download.
  requests.length = 0;
  const fourth = await buildOnce(dockerfile, storeRoot);
  expect([fourth.cached, requests]).toEqual([[true], ['HEAD /tool.txt', 'GET /tool.txt']]);
  expect(fourth.result.descriptor.digest).toBe(first.result.descriptor.digest);
});

test('ADD <url> without an ETag, or whose server refuses HEAD: downloaded by every build, a hit when the bytes are the same', async () => {
  const storeRoot = path.join(tmp, 'store-noetag');
  for (const file of ['/noetag.txt', '/nohead.txt']) {
    const dockerfile = `FROM scratch\nADD ${base}${file} /opt/file.txt\n`;
    const first = await buildOnce(dockerfile, storeRoot);
    expect(first.cached).toEqual([false]);
    requests.length = 0;
    const second = await buildOnce(dockerfile, storeRoot);
    expect([second.cached, requests]).toEqual([[true], file === '/noetag.txt' ? [`GET ${file}`] : [`HEAD ${file}`, `GET ${file}`]]);
    expect(second.result.descriptor.digest).toBe(first.result.descriptor.digest);
  }
});

test('ADD --checksum <url> from a remote cache: an empty store hits without asking the server', async () => {
  const dockerfile = `FROM scratch\nADD --checksum=${sha(bodies['/tool.txt']!)} ${base}/tool.txt /opt/tool.txt\n`;
  const cacheDir = path.join(tmp, 'remote-cache');
  requests.length = 0;
  const first = await buildOnce(dockerfile, path.join(tmp, 'store-runner-1'), { cacheTo: [`type=local,dest=${cacheDir},mode=max`] });
  expect(requests).toEqual(['GET /tool.txt']);
  requests.length = 0;
  const second = await buildOnce(dockerfile, path.join(tmp, 'store-runner-2'), { cacheFrom: [`type=local,src=${cacheDir}`] });
  expect(second.cached).toEqual([true]);
  expect(requests).toEqual([]);
  expect(second.result.descriptor.digest).toBe(first.result.descriptor.digest);
});
