/**
 * A git smart-HTTP server for tests: `git http-backend` as CGI behind
 * node:http on 127.0.0.1, serving the bare repositories under `root`.
 */
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitHttpServer {
  /** `http://127.0.0.1:PORT`: a repository `root/repo.git` is `${base}/repo.git`. */
  base: string;
  /**
   * What each upload-pack POST asked: `fetch` (objects sent) or `ls-refs` (protocol v2's ref
   * listing, what `git ls-remote` sends); a protocol v0 POST is always a fetch.
   */
  commands: string[];
  close(): Promise<void>;
}

export async function startGitHttpServer(root: string): Promise<GitHttpServer> {
  const commands: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const child = spawn('git', ['http-backend'], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method!,
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        HTTP_GIT_PROTOCOL: (req.headers['git-protocol'] as string | undefined) ?? '',
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    if (req.method === 'POST') {
      let seen = '';
      req.on('data', (d: Buffer) => {
        if (seen.length < 4096) seen += d.toString('latin1');
      });
      req.on('end', () => commands.push(seen.includes('command=ls-refs') ? 'ls-refs' : 'fetch'));
    }
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let headerDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headerDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const sep = head.indexOf('\r\n\r\n');
      if (sep < 0) return;
      headerDone = true;
      let status = 200;
      for (const line of head.subarray(0, sep).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = parseInt(v, 10);
        else res.setHeader(k, v);
      }
      res.writeHead(status);
      res.write(head.subarray(sep + 4));
    });
    child.stdout.on('end', () => res.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    commands,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Runs git in `cwd` with a fixed author, committer and date (1400000000) and `home` as HOME; its trimmed output. */
export function gitIn(cwd: string, home: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e', GIT_AUTHOR_DATE: '1400000000 +0000', GIT_COMMITTER_DATE: '1400000000 +0000', GIT_CONFIG_NOSYSTEM: '1', HOME: home },
  })
    .toString()
    .trim();
}
