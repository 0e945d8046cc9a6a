/**
 * Issue 9: the tty progress display as a person sees it. bin/ocibuild runs in
 * a pseudo-terminal (tmux, on a socket of this test's own) and the screen is
 * read with `capture-pane` while a slow step runs (an ADD from a local HTTP
 * server that trickles its bytes) and after the build.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { ensureDist, repoRoot } from '../dist.js';

const exec = promisify(execFile);
const CHUNK = 64 * 1024;
const CHUNKS = 24;
const EVERY_MS = 150;

describe('--progress=tty in a terminal (tmux)', () => {
  let tmp: string;
  let server: http.Server;
  let url: string;
  let registry: http.Server | undefined;
  const socket = `ocibuild-test-${process.pid}`;
  const tmux = (...args: string[]) => exec('tmux', ['-L', socket, ...args]);
  const screen = async () => (await tmux('capture-pane', '-p', '-t', 'build')).stdout;

  beforeAll(async () => {
    await ensureDist();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-tty-'));
    server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(CHUNK * CHUNKS) });
      let sent = 0;
      const tick = () => {
        if (sent === CHUNKS) return void res.end();
        res.write(Buffer.alloc(CHUNK, sent));
        sent++;
        setTimeout(tick, EVERY_MS);
      };
      tick();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/big.bin`;
  }, 300_000);

  afterAll(async () => {
    await tmux('kill-server').catch(() => undefined);
    server?.closeAllConnections();
    server?.close();
    registry?.closeAllConnections();
    registry?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('shows the running ADD with its state and elapsed time, then every step collapsed to one line', async () => {
    const ctx = path.join(tmp, 'ctx');
    await mkdir(ctx);
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM scratch\nCOPY small.txt /small.txt\nADD ${url} /big.bin\nLABEL done=yes\n`);
    await writeFile(path.join(ctx, 'small.txt'), 'small\n');
    const bin = path.join(repoRoot, 'bin/ocibuild');
    const store = path.join(tmp, 'store');
    const cmd = `${process.execPath} ${bin} build --no-cache --store ${store} -t tty:1 ${ctx}; echo "EXIT=$?"; sleep 600`;
    await tmux('new-session', '-d', '-s', 'build', '-x', '120', '-y', '30', '-e', 'TERM=xterm-256color', cmd);

    // During the build: the slow step is on screen, running, its clock moving.
    const seen: string[] = [];
    let during: string | undefined;
    for (let i = 0; i < 200 && !during; i++) {
      const s = await screen();
      seen.push(s);
      if (/ADD http:\/\/127\.0\.0\.1:\d+\/big\.bin \/big\.bin +RUNNING [1-9]\.\ds/.test(s)) during = s;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(during).toBeDefined();
    expect(during).toMatch(/^\[\+\] Building \d+\.\ds \(\d\/\d\)$/m);
    expect(during).toMatch(/COPY small\.txt \/small\.txt +DONE \d+\.\ds$/m);
    // One frame on screen, redrawn in place: the header once.
    expect(during!.match(/\[\+\] Building/g)).toHaveLength(1);

    // After: the final frame stays, every step on one line, and the digest on stdout.
    let after = '';
    for (let i = 0; i < 300 && !/EXIT=\d+/.test(after); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await screen();
    }
    expect(after).toMatch(/EXIT=0/);
    expect(after).toMatch(/^\[\+\] Building FINISHED \d+\.\ds \(\d\/\d\)$/m);
    expect(after.match(/\[\+\] Building/g)).toHaveLength(1);
    expect(after).toMatch(/^ => \[[^\]]+\] COPY small\.txt \/small\.txt +DONE \d+\.\ds$/m);
    expect(after).toMatch(/^ => \[[^\]]+\] ADD http:\/\/127\.0\.0\.1:\d+\/big\.bin \/big\.bin +DONE \d+\.\ds$/m);
    expect(after).toMatch(/^ => exporting to image tty:1 +DONE \d+\.\ds$/m);
    expect(after).not.toMatch(/RUNNING/);
    expect(after).toMatch(/^sha256:[0-9a-f]{64}$/m);
  });

  it('shows a FROM pull with its bytes as they arrive (a registry that trickles a 4 MiB layer)', async () => {
    // A base image whose one layer is 4 MiB of incompressible bytes (the client reports every MiB),
    // served by a read-only registry that sends blobs 128 KiB every 100 ms.
    const blobs = new Map<string, { bytes: Buffer; type: string }>();
    const put = (bytes: Buffer, type: string) => {
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      blobs.set(digest, { bytes, type });
      return { mediaType: type, digest, size: bytes.length };
    };
    const rootfs = path.join(tmp, 'rootfs');
    await mkdir(rootfs);
    const raw = randomBytes(4 * 1024 * 1024);
    await writeFile(path.join(rootfs, 'noise.bin'), raw);
    await exec('tar', ['-C', rootfs, '--owner=0', '--group=0', '--numeric-owner', '-cf', path.join(tmp, 'layer.tar'), 'noise.bin']);
    const tarBytes = await readFile(path.join(tmp, 'layer.tar'));
    const diffId = `sha256:${createHash('sha256').update(tarBytes).digest('hex')}`;
    const layer = put(gzipSync(tarBytes), 'application/vnd.oci.image.layer.v1.tar+gzip');
    const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } })), 'application/vnd.oci.image.config.v1+json');
    const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] })), 'application/vnd.oci.image.manifest.v1+json');
    const blobOf = async (digest: string) => {
      const b = blobs.get(digest);
      if (!b) throw new Error('unknown');
      return b;
    };
    registry = http.createServer(async (req, res) => {
      const u = req.url ?? '';
      if (u === '/v2/' || u === '/v2') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      const m = /^\/v2\/.+\/(manifests|blobs)\/(.+)$/.exec(u);
      if (!m) return void res.writeHead(404).end();
      const digest = m[1] === 'manifests' && !m[2]!.startsWith('sha256:') ? manifest.digest : m[2]!;
      let bytes: Buffer;
      let type: string;
      try {
        ({ bytes, type } = await blobOf(digest));
      } catch {
        return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}');
      }
      if (m[1] === 'blobs') type = 'application/octet-stream';
      res.writeHead(200, { 'content-type': type, 'content-length': String(bytes.length), 'docker-content-digest': digest });
      if (req.method === 'HEAD') return void res.end();
      if (m[1] === 'manifests' || bytes.length < 64 * 1024) return void res.end(bytes);
      let at = 0;
      const tick = () => {
        if (res.destroyed) return;
        if (at >= bytes.length) return void res.end();
        res.write(bytes.subarray(at, at + 128 * 1024));
        at += 128 * 1024;
        setTimeout(tick, 100);
      };
      tick();
    });
    await new Promise<void>((r) => registry!.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
    const ctx = path.join(tmp, 'ctx-pull');
    await mkdir(ctx);
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${host}/base/noise:1\nCOPY small.txt /small.txt\n`);
    await writeFile(path.join(ctx, 'small.txt'), 'small\n');
    const cmd = `${process.execPath} ${path.join(repoRoot, 'bin/ocibuild')} build --store ${path.join(tmp, 'store-pull')} ${ctx}; echo "EXIT=$?"; sleep 600`;
    await tmux('new-session', '-d', '-s', 'pull', '-x', '120', '-y', '30', '-e', 'TERM=xterm-256color', cmd);
    const capture = async () => (await tmux('capture-pane', '-p', '-t', 'pull')).stdout;

    // During the pull: the pull vertex running, and under it a layer with bytes so far of its total.
    let during: string | undefined;
    let last = '';
    let running = '';
    for (let i = 0; i < 300 && !during; i++) {
      last = await capture();
      if (/RUNNING/.test(last)) running = last;
      const bytes = / => => layer sha256:[0-9a-f]{12} (\d+(?:\.\d+)?)(B|kB|MB) \/ (\d+\.\d+)(kB|MB) +\d+\.\ds$/m.exec(last);
      if (bytes && /\[internal\] pull .*noise:1 +RUNNING \d+\.\ds$/m.test(last) && bytes[1] !== bytes[3]) during = last;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect([during !== undefined, running]).toEqual([true, running]);

    let after = '';
    for (let i = 0; i < 300 && !/EXIT=\d+/.test(after); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await capture();
    }
    expect(after).toMatch(/EXIT=0/);
    expect(after).toMatch(/^ => \[internal\] pull .*noise:1 +DONE \d+\.\ds$/m);
    // Collapsed: the layer lines are gone once the pull is done.
    expect(after).not.toMatch(/ => => layer/);
  });
});
