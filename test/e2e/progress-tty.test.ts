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
import { ensureDist, repoRoot } from '../dist.js';

const exec = promisify(execFile);
const CHUNK = 64 * 1024;
const CHUNKS = 24;
const EVERY_MS = 150;

describe('--progress=tty in a terminal (tmux)', () => {
  let tmp: string;
  let server: http.Server;
  let url: string;
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
    server?.close();
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
});
