/**
 * Test harness: a real CNCF distribution registry (Debian `docker-registry`)
 * on 127.0.0.1 with its own config: no auth, htpasswd Basic auth, or token
 * auth backed by a small token server made here; optionally TLS with a CA
 * made by openssl.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSign, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Run a program; reject with its stderr on failure. */
export async function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Certificates made with openssl for a test. */
export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
}

/** A CA and a server certificate for 127.0.0.1/localhost, made with openssl. */
export async function makePki(dir: string): Promise<TestPki> {
  const p = (n: string) => path.join(dir, n);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=ocibuild test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.crt'), '-days', '2', '-extfile', p('server.ext')]);
  return { dir, caCert: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key') };
}

/** One request the token server answered. */
export interface TokenRequest {
  account?: string;
  service?: string;
  scopes: string[];
  granted: Array<{ type: string; name: string; actions: string[] }>;
  grantType?: string;
}

/** The token server of a token-auth registry. */
export interface TokenServer {
  url: string;
  requests: TokenRequest[];
  /** Lifetime announced in `expires_in`, seconds (default 300). */
  expiresIn: number;
  /** Real lifetime (JWT `exp`) in seconds; default: `expiresIn`. Shorter makes tokens die early (401 mid-upload). */
  jwtLifetime?: number;
  stop(): Promise<void>;
}

/** Access policy: which actions `account` (undefined: anonymous) gets on a repository. */
export type Acl = (account: string | undefined, repository: string, requested: string[]) => string[];

async function startTokenServer(dir: string, options: { users: Record<string, string>; acl: Acl; refreshTokens: Record<string, string>; service: string; issuer: string }): Promise<TokenServer & { bundle: string }> {
  const key = path.join(dir, 'token.key');
  const cert = path.join(dir, 'token.crt');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=ocibuild test token signer']);
  const keyPem = await readFile(key, 'utf8');
  const certDer = new X509Certificate(await readFile(cert)).raw.toString('base64');
  const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const state: TokenServer = { url: '', requests: [], expiresIn: 300, stop: async () => undefined };

  const issue = (account: string | undefined, scopes: string[]) => {
    const granted: TokenRequest['granted'] = [];
    for (const s of scopes) {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop()!.split(',');
      const name = rest.join(':');
      if (type !== 'repository') continue;
      const ok = options.acl(account, name, actions);
      if (ok.length) granted.push({ type, name, actions: ok });
    }
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer] };
    const claims = { iss: options.issuer, sub: account ?? '', aud: options.service, exp: now + (state.jwtLifetime ?? state.expiresIn), nbf: now - 1, iat: now, jti: randomUUID(), access: granted };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(input).sign(keyPem);
    return { token: `${input}.${b64url(sig)}`, granted };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      let account: string | undefined;
      let scopes = u.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
      let grantType: string | undefined;
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        grantType = form.get('grant_type') ?? undefined;
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const user = options.refreshTokens[form.get('refresh_token') ?? ''];
        if (grantType !== 'refresh_token' || !user) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid refresh token"}');
          return;
        }
        account = user;
      } else {
        const auth = req.headers.authorization;
        if (auth?.startsWith('Basic ')) {
          const [user, ...pw] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
          if (options.users[user!] !== pw.join(':')) {
            res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
            return;
          }
          account = user;
        }
      }
      const { token, granted } = issue(account, scopes);
      state.requests.push({ account, service: u.searchParams.get('service') ?? undefined, scopes, granted, grantType });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token, access_token: token, expires_in: state.expiresIn, issued_at: new Date().toISOString() }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/token`;
  state.stop = () => new Promise<void>((r) => server.close(() => r()));
  return Object.assign(state, { bundle: cert });
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  auth: 'none' | 'htpasswd' | 'token';
  tls?: boolean;
  /** Users for htpasswd and token auth. Default `{ alice: 'wonderland-secret' }`. */
  users?: Record<string, string>;
  /** Token auth policy. Default: a known user gets what it asks; anonymous gets pull only. */
  acl?: Acl;
  /** Refresh tokens (identity tokens) the token server accepts, mapped to their account. */
  refreshTokens?: Record<string, string>;
  /** Address to listen on (default 127.0.0.1); a non-loopback address tests insecure-registry handling. */
  bindAddress?: string;
}

/** A running registry. */
export interface TestRegistry {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** `http(s)://127.0.0.1:<port>`. */
  url: string;
  port: number;
  dir: string;
  storage: string;
  users: Record<string, string>;
  pki?: TestPki;
  tokenServer?: TokenServer;
  /** skopeo flags to reach this registry as a destination/source (`--dest-...` or `--src-...`). */
  skopeoFlags(kind: 'src' | 'dest', user?: string): string[];
  stop(): Promise<void>;
}

async function waitForHttp(url: string, proc: ChildProcess, logs: () => string, ca?: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connect: ca ? { ca: await readFile(ca, 'utf8') } : {} });
  try {
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`registry exited (${proc.exitCode}): ${logs()}`);
      try {
        const res = await request(`${url}/v2/`, { dispatcher: agent });
        await res.body.dump();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`registry did not start: ${logs()}`);
  } finally {
    await agent.close();
  }
}

/** Start a registry on a free port of 127.0.0.1 with its own temp dir and config. */
export async function startRegistry(options: StartRegistryOptions): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-registry-'));
  const storage = path.join(dir, 'storage');
  const users = options.users ?? { alice: 'wonderland-secret' };
  const port = await freePort();
  const host = `${options.bindAddress ?? '127.0.0.1'}:${port}`;
  const pki = options.tls ? await makePki(dir) : undefined;
  let tokenServer: (TokenServer & { bundle: string }) | undefined;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomUUID()}`,
  ];
  if (pki) lines.push('  tls:', `    certificate: ${pki.serverCert}`, `    key: ${pki.serverKey}`);
  if (options.auth === 'htpasswd') {
    const file = path.join(dir, 'htpasswd');
    let content = '';
    for (const [u, p] of Object.entries(users)) content += await run('htpasswd', ['-Bbn', u, p]);
    await writeFile(file, content.split('\n').filter(Boolean).join('\n') + '\n');
    lines.push('auth:', '  htpasswd:', '    realm: ocibuild-test', `    path: ${file}`);
  } else if (options.auth === 'token') {
    const service = 'ocibuild-test-registry';
    const issuer = 'ocibuild-test-issuer';
    const acl: Acl =
      options.acl ?? ((account, _repo, requested) => (account && users[account] !== undefined ? requested : requested.filter((a) => a === 'pull')));
    tokenServer = await startTokenServer(dir, { users, acl, refreshTokens: options.refreshTokens ?? {}, service, issuer });
    lines.push('auth:', '  token:', `    realm: ${tokenServer.url}`, `    service: ${service}`, `    issuer: ${issuer}`, `    rootcertbundle: ${tokenServer.bundle}`);
  }
  const config = path.join(dir, 'config.yml');
  await writeFile(config, lines.join('\n') + '\n');
  // setpriv (util-linux) execs the registry with a parent-death signal: a test run that is killed
  // (Ctrl-C, a jest worker stopped) leaves no registry behind, as the RUN sandbox does for builds.
  const proc = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'docker-registry', 'serve', config], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  proc.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  const url = `${pki ? 'https' : 'http'}://${host}`;
  try {
    await waitForHttp(url, proc, () => log, pki?.caCert);
  } catch (e) {
    proc.kill('SIGKILL');
    await tokenServer?.stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const stop = async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    await tokenServer?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const skopeoFlags = (kind: 'src' | 'dest', user?: string): string[] => {
    const flags: string[] = [];
    if (pki) flags.push(`--${kind}-cert-dir`, path.dirname(pki.caCert));
    else flags.push(`--${kind}-tls-verify=false`);
    const u = user ?? (options.auth === 'none' ? undefined : Object.keys(users)[0]);
    if (u !== undefined && options.auth !== 'none') flags.push(`--${kind}-creds`, `${u}:${users[u]}`);
    if (options.auth === 'none') flags.push(`--${kind}-no-creds`);
    return flags;
  };
  if (pki) {
    // skopeo's --cert-dir wants *.crt files as CAs; only the CA must be in the dir it reads.
    const caDir = path.join(dir, 'ca');
    await run('mkdir', ['-p', caDir]);
    await run('cp', [pki.caCert, path.join(caDir, 'ca.crt')]);
    pki.caCert = path.join(caDir, 'ca.crt');
  }
  return { host, url, port, dir, storage, users, ...(pki ? { pki } : {}), ...(tokenServer ? { tokenServer } : {}), skopeoFlags, stop };
}

/** `skopeo inspect --raw` digest (sha256 of the raw manifest) and raw bytes. */
export async function skopeoRawManifest(registry: TestRegistry, ref: string): Promise<Buffer> {
  const { stdout } = await exec('skopeo', ['inspect', '--raw', ...registry.skopeoFlags('src').map((f) => f.replace('--src-', '--')), `docker://${registry.host}/${ref}`], {
    encoding: 'buffer',
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/**
 * Upload sessions the registry keeps open for `repo`: distribution's `_uploads/<id>` with its
 * `startedat` (a cancelled session leaves at most a hash state behind, and answers 404).
 */
export async function openUploadSessions(registry: Pick<TestRegistry, 'storage'>, repo: string): Promise<string[]> {
  const dir = path.join(registry.storage, 'docker/registry/v2/repositories', repo, '_uploads');
  const open: string[] = [];
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    if (await stat(path.join(dir, id, 'startedat')).then(() => true, () => false)) open.push(id);
  }
  return open;
}
