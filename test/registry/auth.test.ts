/**
 * Auth and transport against the real registry: htpasswd Basic, token auth
 * with scopes (incl. the `from` scope of mounts), tokens dying mid-upload,
 * credentials from Docker config files and helpers, TLS with a test CA, and
 * a redirect to another host that must not carry Authorization.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Store } from '../../src/cache/store.js';
import { OcibuildError } from '../../src/errors.js';
import type { Digest } from '../../src/oci/digest.js';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { pullImage } from '../../src/registry/pull.js';
import { normalizeReference } from '../../src/oci/reference.js';
import { pushImage } from '../../src/push/push.js';
import { OciLayoutSource } from '../../src/push/oci-layout.js';
import { makeBusyboxImage, makeRandomImage } from './base-image.js';
import { makePki, skopeoRawManifest, startRegistry, type TestRegistry } from './harness.js';
import { spawn } from 'node:child_process';
import { main } from '../../src/cli/main.js';
import { runCli } from '../cli-io.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const PASSWORD = 'wonderland-secret';

let tmp: string;
let busyboxDir: string;
let busybox: OciLayoutSource;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-auth-'));
  busyboxDir = path.join(tmp, 'busybox');
  await makeBusyboxImage(busyboxDir);
  busybox = new OciLayoutSource(busyboxDir);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function withClient<T>(options: RegistryClientOptions, fn: (c: RegistryClient) => Promise<T>): Promise<T> {
  const c = await RegistryClient.create(options);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

async function catchError(p: Promise<unknown>): Promise<OcibuildError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(OcibuildError);
    return e as OcibuildError;
  }
  throw new Error('expected an error');
}

describe('htpasswd Basic auth', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'htpasswd' });
  });
  afterAll(async () => registry?.stop());

  test('push and pull with explicit creds; skopeo sees the image', async () => {
    const descriptor = await busybox.resolve();
    const debug: string[] = [];
    await withClient({ creds: { [registry.host]: { username: 'alice', password: PASSWORD } }, debug: (l) => debug.push(l) }, async (c) => {
      await pushImage(c, busybox, { reference: normalizeReference(`${registry.host}/basic/img`), descriptor, tags: ['1'] });
      const res = await pullImage(c, `${registry.host}/basic/img:1`, { sink: await Store.open(path.join(tmp, 'basic-store')) });
      expect(res.descriptor.digest).toBe(descriptor.digest);
    });
    expect(sha(await skopeoRawManifest(registry, 'basic/img:1'))).toBe(descriptor.digest);
    expect(debug.length).toBeGreaterThan(0);
    expect(debug.join('\n')).not.toContain(PASSWORD);
    expect(debug.join('\n')).not.toContain(Buffer.from(`alice:${PASSWORD}`).toString('base64'));
  });

  test('anonymous is REGISTRY_UNAUTHORIZED, with the registry code', async () => {
    const err = await catchError(withClient({}, (c) => pullImage(c, `${registry.host}/basic/img:1`, { sink: new MemorySink() })));
    expect(err.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(err.message).toContain('UNAUTHORIZED');
    expect(err.hint).toMatch(/log in/);
  });

  test('wrong password: REGISTRY_UNAUTHORIZED, and the secret never appears', async () => {
    const wrong = 'not-the-password-123';
    const debug: string[] = [];
    const err = await catchError(
      withClient({ creds: { [registry.host]: { username: 'alice', password: wrong } }, debug: (l) => debug.push(l) }, (c) =>
        pullImage(c, `${registry.host}/basic/img:1`, { sink: new MemorySink() }),
      ),
    );
    expect(err.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(err.details?.status).toBe(401);
    expect((err.details?.errors as Array<{ code: string }>)[0]!.code).toBe('UNAUTHORIZED');
    const everything = [err.message, JSON.stringify(err.details), err.hint ?? '', debug.join('\n')].join('\n');
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(Buffer.from(`alice:${wrong}`).toString('base64'));
  });

  test('issue 7: a wrong password says the registry rejected the credentials, and where they came from', async () => {
    const wrong = 'not-the-password-456';
    const b64 = Buffer.from(`alice:${wrong}`).toString('base64');
    const pull = (options: RegistryClientOptions) => catchError(withClient(options, (c) => pullImage(c, `${registry.host}/basic/img:1`, { sink: new MemorySink() })));
    const check = (err: OcibuildError, source: string) => {
      expect(err.code).toBe('REGISTRY_UNAUTHORIZED');
      expect(err.message).toContain(`the registry rejected the credentials from ${source}: UNAUTHORIZED`);
      expect(err.hint).toContain(`check the user name and password from ${source}`);
      expect(err.hint).not.toMatch(/^log in/);
      expect((err.details?.errors as Array<{ code: string }>)[0]!.code).toBe('UNAUTHORIZED');
      const everything = [err.message, JSON.stringify(err.details), err.hint ?? ''].join('\n');
      expect(everything).not.toContain(wrong);
      expect(everything).not.toContain(b64);
    };
    // Explicit credentials (the CLI's --creds).
    check(await pull({ creds: { [registry.host]: { username: 'alice', password: wrong } }, credsSource: '--creds' }), '--creds');
    // $DOCKER_CONFIG/config.json, by path.
    const dir = path.join(tmp, 'wrong-docker-config');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: b64 } } }));
    check(await pull({ env: { DOCKER_CONFIG: dir } }), path.join(dir, 'config.json'));
    // REGISTRY_AUTH_FILE.
    const authFile = path.join(tmp, 'wrong-auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { [registry.host]: { auth: b64 } } }));
    check(await pull({ env: { REGISTRY_AUTH_FILE: authFile } }), `REGISTRY_AUTH_FILE ${authFile}`);
    // A credential helper, by name.
    const hdir = path.join(tmp, 'wrong-helper-config');
    const bin = path.join(tmp, 'wrong-bin');
    await mkdir(hdir, { recursive: true });
    await mkdir(bin, { recursive: true });
    await writeFile(path.join(bin, 'docker-credential-wrongpw'), `#!/bin/sh\nread server\nprintf '{"ServerURL":"%s","Username":"alice","Secret":"${wrong}"}' "$server"\n`);
    await chmod(path.join(bin, 'docker-credential-wrongpw'), 0o755);
    await writeFile(path.join(hdir, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'wrongpw' } }));
    check(await pull({ env: { DOCKER_CONFIG: hdir, PATH: `${bin}:${process.env.PATH}` } }), `credential helper docker-credential-wrongpw (named in ${path.join(hdir, 'config.json')})`);
    // No credentials at all: still "authentication required", with the hint to log in.
    const anon = await pull({ env: { DOCKER_CONFIG: path.join(tmp, 'no-such-dir') } });
    expect(anon.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(anon.message).not.toContain('rejected');
    expect(anon.hint).toMatch(/log in/);
  });

  test('issue 7: --creds USER takes the password from --password-stdin, or asks on the terminal', async () => {
    const descriptor = await busybox.resolve();
    await withClient({ creds: { [registry.host]: { username: 'alice', password: PASSWORD } } }, (c) =>
      pushImage(c, busybox, { reference: normalizeReference(`${registry.host}/basic/stdin`), descriptor, tags: ['1'] }),
    );
    const ref = `${registry.host}/basic/stdin:1`;
    const store = path.join(tmp, 'stdin-store');
    const env = { PATH: process.env.PATH, HOME: path.join(tmp, 'no-home') };
    // --password-stdin: one trailing newline is dropped, as docker login does.
    const ok = await runCli(['pull', ref, '--store', store, '--creds', 'alice', '--password-stdin'], { env, stdin: `${PASSWORD}\n` });
    expect(ok.stderr).not.toContain('error');
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).toBe(descriptor.digest);
    // A wrong one is rejected by the registry, named as coming from --creds, never printed.
    const bad = await runCli(['pull', ref, '--store', store, '--creds', `${registry.host}=alice`, '--password-stdin'], { env, stdin: 'nope-nope\n' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('the registry rejected the credentials from --creds');
    expect(bad.stderr).not.toContain('nope-nope');
    // --password-stdin with nothing to take it, or an empty stdin: usage errors.
    const none = await runCli(['pull', ref, '--store', store, '--password-stdin'], { env, stdin: 'x\n' });
    expect(none.stderr).toContain('--password-stdin needs a --creds USER given without a password');
    const empty = await runCli(['pull', ref, '--store', store, '--creds', 'alice', '--password-stdin'], { env, stdin: '' });
    expect(empty.stderr).toContain('--password-stdin: stdin is empty');
    // No password, no --password-stdin and no terminal: say so instead of trying without one.
    const noTty = await runCli(['pull', ref, '--store', store, '--creds', 'alice'], { env });
    expect(noTty.code).not.toBe(0);
    expect(noTty.stderr).toContain('--creds alice: no password given and stdin is not a terminal to ask for one');
    // On a terminal the CLI asks (the prompt names user and registry, not the password).
    const prompts: string[] = [];
    let out = '';
    let err = '';
    const code = await main(['pull', ref, '--store', store, '--creds', 'alice'], {
      stdout: { write: (x: string) => (out += x) },
      stderr: { write: (x: string) => (err += x) },
      env,
      cwd: tmp,
      readStdin: async () => '',
      promptSecret: async (prompt) => {
        prompts.push(prompt);
        return PASSWORD;
      },
    });
    expect(err).not.toContain('error');
    expect(err).not.toContain(PASSWORD);
    expect(code).toBe(0);
    expect(out.trim()).toBe(descriptor.digest);
    expect(prompts).toEqual([`Password for alice at ${registry.host}: `]);
  });

  test('issue 7: the terminal prompt reads the password from a real pseudo-terminal without echoing it', async () => {
    // Transpile io.ts and errors.ts (no type check) so a child node runs them under `script`'s pty.
    const ts = (await import('typescript')).default;
    const out = path.join(tmp, 'tty-driver');
    await mkdir(path.join(out, 'cli'), { recursive: true });
    for (const [from, to] of [['src/errors.ts', 'errors.js'], ['src/cli/io.ts', 'cli/io.js']] as const) {
      const js = ts.transpileModule(await readFile(from, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      await writeFile(path.join(out, to), js);
    }
    await writeFile(path.join(out, 'package.json'), '{"type":"module"}');
    await writeFile(
      path.join(out, 'driver.js'),
      "import { processIo } from './cli/io.js';\nimport { createHash } from 'node:crypto';\n" +
        "const pw = await processIo().promptSecret('Password for alice at reg: ');\n" +
        "console.log('GOT ' + createHash('sha256').update(pw).digest('hex') + ' ' + pw.length);\n",
    );
    const child = spawn('script', ['-q', '-e', '-c', `node ${path.join(out, 'driver.js')}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let text = '';
    const prompted = new Promise<void>((resolve) => {
      child.stdout.on('data', (b: Buffer) => {
        text += b.toString();
        if (text.includes('Password for alice at reg: ')) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await prompted;
    const typed = 'pty-secret-42';
    child.stdin.write(`${typed.slice(0, 4)}X\u007f${typed.slice(4)}\r`);
    expect(await exited).toBe(0);
    child.stdin.end();
    expect(text).toContain(`GOT ${createHash('sha256').update(typed).digest('hex')} ${typed.length}`);
    // Nothing typed came back to the terminal.
    expect(text).not.toContain('pty-');
    expect(text).not.toContain('secret-42');
  });

  test('credentials from $DOCKER_CONFIG/config.json (auths.auth base64)', async () => {
    const dir = path.join(tmp, 'docker-config');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [`https://${registry.host}`]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } } }));
    const res = await withClient({ env: { DOCKER_CONFIG: dir } }, (c) => pullImage(c, `${registry.host}/basic/img:1`, { sink: new MemorySink() }));
    expect(res.descriptor.digest).toBe((await busybox.resolve()).digest);
  });

  test('credentials from a credHelpers program (docker-credential-<name> get)', async () => {
    const dir = path.join(tmp, 'helper-config');
    const bin = path.join(tmp, 'bin');
    await mkdir(dir, { recursive: true });
    await mkdir(bin, { recursive: true });
    const log = path.join(tmp, 'helper.log');
    const script = `#!/bin/sh\nread server\necho "$1 $server" >> ${log}\nif [ "$server" = "${registry.host}" ]; then printf '{"ServerURL":"%s","Username":"alice","Secret":"${PASSWORD}"}' "$server"; else echo "credentials not found in native keychain"; exit 1; fi\n`;
    await writeFile(path.join(bin, 'docker-credential-ocitest'), script);
    await chmod(path.join(bin, 'docker-credential-ocitest'), 0o755);
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'ocitest' } }));
    const env = { DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH}` };
    const res = await withClient({ env }, (c) => pullImage(c, `${registry.host}/basic/img:1`, { sink: new MemorySink() }));
    expect(res.descriptor.digest).toBe((await busybox.resolve()).digest);
    expect(await readFile(log, 'utf8')).toContain(`get ${registry.host}`);
  });

  test('REGISTRY_AUTH_FILE (containers auth.json) wins over the Docker config', async () => {
    const file = path.join(tmp, 'auth.json');
    await writeFile(file, JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } } }));
    const dir = path.join(tmp, 'bad-docker-config');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('alice:wrong').toString('base64') } } }));
    const res = await withClient({ env: { REGISTRY_AUTH_FILE: file, DOCKER_CONFIG: dir } }, (c) =>
      pullImage(c, `${registry.host}/basic/img:1`, { sink: new MemorySink() }),
    );
    expect(res.descriptor.digest).toBe((await busybox.resolve()).digest);
  });
});

describe('token auth', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({
      auth: 'token',
      refreshTokens: { 'refresh-abc': 'alice' },
      acl: (account, repo, requested) => {
        if (account === 'alice') return requested;
        if (repo.startsWith('public/')) return requested.filter((a) => a === 'pull');
        return [];
      },
    });
  });
  afterAll(async () => registry?.stop());

  test('issue 7: a wrong password at the token service says the credentials were rejected, and from where', async () => {
    const wrong = 'wrong-token-password';
    const err = await catchError(
      withClient({ creds: { [registry.host]: { username: 'alice', password: wrong } }, credsSource: '--creds' }, (c) =>
        pullImage(c, `${registry.host}/public/base:1`, { sink: new MemorySink() }),
      ),
    );
    expect(err.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(err.message).toContain(`authentication to ${registry.host} failed: the registry rejected the credentials from --creds`);
    expect([err.message, JSON.stringify(err.details), err.hint ?? ''].join('\n')).not.toContain(wrong);
  });

  test('push and pull with scopes; mount asks for the from-repository pull scope', async () => {
    const descriptor = await busybox.resolve();
    const ts = registry.tokenServer!;
    await withClient({ creds: { [registry.host]: { username: 'alice', password: PASSWORD } } }, async (c) => {
      await pushImage(c, busybox, { reference: normalizeReference(`${registry.host}/public/base`), descriptor, tags: ['1'] });
      const res = await pushImage(c, busybox, { reference: normalizeReference(`${registry.host}/team/app`), descriptor, tags: ['1'], mountFrom: ['public/base'] });
      expect(res.mounted).toBe(2);
    });
    const scopes = ts.requests.map((r) => r.scopes.join(' '));
    expect(scopes).toContain('repository:public/base:pull,push');
    expect(scopes).toContain('repository:public/base:pull repository:team/app:pull,push');
    expect(ts.requests.every((r) => r.account === 'alice' && r.service === 'ocibuild-test-registry')).toBe(true);
    // Tokens are cached per scope: far fewer token requests than registry requests.
    expect(ts.requests.length).toBeLessThanOrEqual(4);
  });

  test('anonymous pull of a public repository; anonymous push is refused', async () => {
    const res = await withClient({}, (c) => pullImage(c, `${registry.host}/public/base:1`, { sink: new MemorySink() }));
    expect(res.descriptor.digest).toBe((await busybox.resolve()).digest);
    const err = await catchError(
      withClient({}, async (c) =>
        pushImage(c, busybox, { reference: normalizeReference(`${registry.host}/team/other`), descriptor: await busybox.resolve(), tags: ['1'] }),
      ),
    );
    expect(['REGISTRY_UNAUTHORIZED', 'REGISTRY_DENIED']).toContain(err.code);
    expect(err.message).toMatch(/UNAUTHORIZED|DENIED|INSUFFICIENT_SCOPE/);
  });

  test('identity token (refresh-token grant) from config.json', async () => {
    const dir = path.join(tmp, 'identity-config');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { identitytoken: 'refresh-abc' } } }));
    const before = registry.tokenServer!.requests.length;
    const res = await withClient({ env: { DOCKER_CONFIG: dir } }, (c) => pullImage(c, `${registry.host}/team/app:1`, { sink: new MemorySink() }));
    expect(res.descriptor.digest).toBe((await busybox.resolve()).digest);
    const mine = registry.tokenServer!.requests.slice(before);
    expect(mine[0]!.grantType).toBe('refresh_token');
    expect(mine[0]!.account).toBe('alice');
  });

  test('token dies mid-upload: 401 on a chunk, new token, upload completes', async () => {
    const ts = registry.tokenServer!;
    const dir = path.join(tmp, 'random-small');
    await makeRandomImage(dir, [1_200_000]);
    const layout = new OciLayoutSource(dir);
    const descriptor = await layout.resolve();
    // A slow source: each chunk opens 900 ms late, so short-lived tokens expire between chunks.
    const slow = {
      has: (d: Digest) => layout.has(d),
      open: (d: Digest, s?: number) => layout.open(d, s),
      openRange: async (d: Digest, start: number, end: number): Promise<Readable> => {
        await new Promise((r) => setTimeout(r, 900));
        return layout.openRange(d, start, end);
      },
    };
    ts.expiresIn = 300; // announced lifetime: the client believes the token is good
    // Real lifetime: distribution accepts tokens up to 60 s past `exp` (leeway), so this token dies about 2 s after issue.
    ts.jwtLifetime = -58;
    const before = ts.requests.length;
    const debug: string[] = [];
    try {
      const res = await withClient({ creds: { [registry.host]: { username: 'alice', password: PASSWORD } }, debug: (l) => debug.push(l) }, (c) =>
        pushImage(c, slow, { reference: normalizeReference(`${registry.host}/team/slow`), descriptor, tags: ['1'], monolithicThreshold: 0, chunkSize: 200 * 1024 }),
      );
      expect(res.uploaded).toBe(2);
    } finally {
      ts.jwtLifetime = undefined;
    }
    expect(debug.some((l) => /^PATCH .* -> 401$/.test(l))).toBe(true);
    expect(ts.requests.length - before).toBeGreaterThanOrEqual(2);
    expect(sha(await skopeoRawManifest(registry, 'team/slow:1'))).toBe(descriptor.digest);
  });
});

describe('TLS with a test CA', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'htpasswd', tls: true });
  });
  afterAll(async () => registry?.stop());

  test('trusted through registryCa: push and pull over HTTPS', async () => {
    const descriptor = await busybox.resolve();
    await withClient({ registryCa: [registry.pki!.caCert], creds: { [registry.host]: { username: 'alice', password: PASSWORD } } }, async (c) => {
      await pushImage(c, busybox, { reference: normalizeReference(`${registry.host}/tls/img`), descriptor, tags: ['1'] });
      const res = await pullImage(c, `${registry.host}/tls/img:1`, { sink: new MemorySink() });
      expect(res.descriptor.digest).toBe(descriptor.digest);
    });
    expect(sha(await skopeoRawManifest(registry, 'tls/img:1'))).toBe(descriptor.digest);
  });

  test('NODE_EXTRA_CA_CERTS from env is trusted beside registryCa files', async () => {
    // An unrelated CA as the registryCa file: the registry's CA comes only from NODE_EXTRA_CA_CERTS.
    const otherDir = path.join(tmp, 'other-pki');
    await mkdir(otherDir, { recursive: true });
    const other = (await makePki(otherDir)).caCert;
    const res = await withClient(
      { registryCa: [other], env: { NODE_EXTRA_CA_CERTS: registry.pki!.caCert }, creds: { [registry.host]: { username: 'alice', password: PASSWORD } } },
      (c) => pullImage(c, `${registry.host}/tls/img:1`, { sink: new MemorySink() }),
    );
    expect(res.descriptor.digest).toBe((await busybox.resolve()).digest);
  });

  test('untrusted certificate: REGISTRY_UNREACHABLE with a hint, no plain-HTTP fallback', async () => {
    const err = await catchError(withClient({ retry: { retries: 0 } }, (c) => pullImage(c, `${registry.host}/tls/img:1`, { sink: new MemorySink() })));
    expect(err.code).toBe('REGISTRY_UNREACHABLE');
    expect(err.message).toMatch(/not trusted/);
    expect(err.hint).toMatch(/--registry-ca/);
  });

  test('insecureRegistries skips verification', async () => {
    const res = await withClient({ insecureRegistries: [registry.host], creds: { [registry.host]: { username: 'alice', password: PASSWORD } } }, (c) =>
      pullImage(c, `${registry.host}/tls/img:1`, { sink: new MemorySink() }),
    );
    expect(res.descriptor.digest).toBe((await busybox.resolve()).digest);
  });
});

describe('redirects', () => {
  test('a blob redirect to another host does not carry Authorization', async () => {
    const layout = busybox;
    const descriptor = await layout.resolve();
    const manifestBytes = await readFile(path.join(busyboxDir, 'blobs', 'sha256', descriptor.digest.slice(7)));
    const manifest = JSON.parse(manifestBytes.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const seen: Array<{ host: string; url: string; auth?: string }> = [];
    const blobServer = http.createServer((req, res) => {
      seen.push({ host: 'blobs', url: req.url ?? '', auth: req.headers.authorization });
      const digest = (req.url ?? '').split('/').pop()!;
      readFile(path.join(busyboxDir, 'blobs', 'sha256', digest.replace('sha256:', '')))
        .then((b) => res.writeHead(200, { 'content-length': String(b.length) }).end(b))
        .catch(() => res.writeHead(404).end());
    });
    await new Promise<void>((r) => blobServer.listen(0, '127.0.0.1', r));
    const blobPort = (blobServer.address() as net.AddressInfo).port;
    const expectedAuth = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
    const api = http.createServer((req, res) => {
      seen.push({ host: 'api', url: req.url ?? '', auth: req.headers.authorization });
      if (req.headers.authorization !== expectedAuth) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      if (req.url === '/v2/r/manifests/t') {
        return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': descriptor.digest }).end(manifestBytes);
      }
      const m = /^\/v2\/r\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
      if (m) return void res.writeHead(307, { location: `http://localhost:${blobPort}/storage/${m[1]}` }).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    const apiHost = `127.0.0.1:${(api.address() as net.AddressInfo).port}`;
    try {
      const res = await withClient({ creds: { [apiHost]: { username: 'alice', password: PASSWORD } } }, (c) =>
        pullImage(c, `${apiHost}/r:t`, { sink: new MemorySink() }),
      );
      expect(res.descriptor.digest).toBe(descriptor.digest);
      const blobHits = seen.filter((s) => s.host === 'blobs');
      expect(blobHits.map((s) => s.url.split('/').pop()).sort()).toEqual([manifest.config.digest, ...manifest.layers.map((l) => l.digest)].sort());
      expect(blobHits.every((s) => s.auth === undefined)).toBe(true);
      expect(seen.filter((s) => s.host === 'api' && s.url.includes('/blobs/')).every((s) => s.auth === expectedAuth)).toBe(true);
    } finally {
      await new Promise((r) => api.close(r));
      await new Promise((r) => blobServer.close(r));
    }
  });
});

/** A sink that keeps blobs in memory (small test images only). */
class MemorySink {
  readonly blobs = new Map<string, Buffer>();
  async has(d: Digest): Promise<boolean> {
    return this.blobs.has(d);
  }
  async ingest(source: Readable, expected?: { digest: Digest; size: number }): Promise<{ digest: Digest; size: number }> {
    const chunks: Buffer[] = [];
    for await (const c of source) chunks.push(c as Buffer);
    const b = Buffer.concat(chunks);
    const digest = sha(b) as Digest;
    if (expected && (expected.digest !== digest || expected.size !== b.length)) throw new OcibuildError('DIGEST_MISMATCH', 'test sink: mismatch');
    this.blobs.set(digest, b);
    return { digest, size: b.length };
  }
  async writeBlob(data: string | Uint8Array): Promise<{ digest: Digest; size: number }> {
    const b = Buffer.from(data);
    const digest = sha(b) as Digest;
    this.blobs.set(digest, b);
    return { digest, size: b.length };
  }
}
