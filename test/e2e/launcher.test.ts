/**
 * Issue 8 (start-up): bin/ocibuild run as a command keeps NODE_EXTRA_CA_CERTS from Node's start
 * (Node 20 parses it before any JavaScript: ~40 ms of every command) and gives it to our TLS
 * clients itself (src/tls-trust.ts). What a user must not notice, checked through the CLI:
 * - Node does not load the file at start (a missing file's warning is not printed by a command
 *   that makes no TLS connection), unless NODE_OPTIONS is set or node runs the file itself;
 * - an HTTPS registry whose CA is only in NODE_EXTRA_CA_CERTS is trusted by push and pull, and
 *   a credential helper sees the variable as the user set it (and not the launcher's hand-over);
 * - ADD <https url> from a server of that CA works too;
 * - without the variable both fail (the checks can fail).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureDist, repoRoot } from '../dist.js';
import { startRegistry, type TestRegistry } from '../registry/harness.js';

const bin = path.join(repoRoot, 'bin/ocibuild');
const PASSWORD = 'wonderland-secret';
let tmp: string;
let registry: TestRegistry;

beforeAll(async () => {
  await ensureDist();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-launcher-'));
  registry = await startRegistry({ auth: 'htpasswd', tls: true });
}, 300_000);
afterAll(async () => {
  await registry?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The test's environment without what decides the launcher's path (jest sets NODE_OPTIONS), plus `extra`. */
function envWith(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.OCIBUILD_UNLOADED_EXTRA_CA_CERTS;
  return { ...env, ...extra };
}

/** Runs `file args` (bin/ocibuild as a command, or node) and resolves with its exit code and output, failing or not. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('Node does not load NODE_EXTRA_CA_CERTS at the start of a command', () => {
  const missing = '/nonexistent/ocibuild-extra-ca.pem';
  const warning = /Ignoring extra certs from `\/nonexistent\/ocibuild-extra-ca\.pem`/;

  test('bin/ocibuild as a command: no start-up load (a missing file is not even warned about)', async () => {
    const res = await run(bin, ['--version'], envWith({ NODE_EXTRA_CA_CERTS: missing }));
    expect(res.code).toBe(0);
    expect(res.stderr).not.toMatch(warning);
  });

  test('node bin/ocibuild, or a set NODE_OPTIONS: Node loads it as usual', async () => {
    const direct = await run(process.execPath, [bin, '--version'], envWith({ NODE_EXTRA_CA_CERTS: missing }));
    expect(direct.code).toBe(0);
    expect(direct.stderr).toMatch(warning);
    const withOptions = await run(bin, ['--version'], envWith({ NODE_EXTRA_CA_CERTS: missing, NODE_OPTIONS: '--max-old-space-size=512' }));
    expect(withOptions.code).toBe(0);
    expect(withOptions.stderr).toMatch(warning);
  });
});

describe('TLS clients trust NODE_EXTRA_CA_CERTS as Node would have', () => {
  let store: string;
  let dockerConfig: string;
  let helperBin: string;
  let helperLog: string;

  beforeAll(async () => {
    store = path.join(tmp, 'store');
    const ctx = path.join(tmp, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
    await writeFile(path.join(ctx, 'hello.txt'), 'hello over TLS\n');
    const built = await run(bin, ['build', '-q', '--store', store, '-t', 'launcher/img:1', ctx], envWith({}));
    expect(built).toMatchObject({ code: 0 });
    // Credentials from a helper that records the environment it was given.
    dockerConfig = path.join(tmp, 'docker-config');
    helperBin = path.join(tmp, 'helper-bin');
    helperLog = path.join(tmp, 'helper-env.log');
    await mkdir(dockerConfig, { recursive: true });
    await mkdir(helperBin, { recursive: true });
    await writeFile(
      path.join(helperBin, 'docker-credential-launchertest'),
      `#!/bin/sh\nread server\nenv > ${helperLog}\nprintf '{"ServerURL":"%s","Username":"alice","Secret":"${PASSWORD}"}' "$server"\n`,
    );
    await chmod(path.join(helperBin, 'docker-credential-launchertest'), 0o755);
    await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'launchertest' } }));
  }, 300_000);

  const registryEnv = (extra: Record<string, string>) => envWith({ DOCKER_CONFIG: dockerConfig, PATH: `${helperBin}:${process.env.PATH}`, ...extra });

  test('push and pull to an HTTPS registry whose CA is only in NODE_EXTRA_CA_CERTS; the helper sees the variable as set', async () => {
    const ca = registry.pki!.caCert;
    const pushed = await run(bin, ['push', '--store', store, 'launcher/img:1', `${registry.host}/launcher/img:1`], registryEnv({ NODE_EXTRA_CA_CERTS: ca }));
    expect(pushed).toMatchObject({ code: 0 });
    const seen = (await readFile(helperLog, 'utf8')).split('\n');
    expect(seen).toContain(`NODE_EXTRA_CA_CERTS=${ca}`);
    expect(seen.filter((l) => l.startsWith('OCIBUILD_UNLOADED_EXTRA_CA_CERTS='))).toEqual([]);
    const pulled = await run(bin, ['pull', '--store', path.join(tmp, 'pull-store'), `${registry.host}/launcher/img:1`], registryEnv({ NODE_EXTRA_CA_CERTS: ca }));
    expect(pulled).toMatchObject({ code: 0 });
  }, 120_000);

  test('without the variable the same push is refused: the certificate is not trusted', async () => {
    const res = await run(bin, ['push', '--store', store, 'launcher/img:1', `${registry.host}/launcher/other:1`], registryEnv({}));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/not trusted/);
  }, 120_000);

  test('ADD <https url> from a server of that CA', async () => {
    const pki = registry.pki!;
    const body = 'downloaded over TLS\n';
    const server = https.createServer({ key: await readFile(pki.serverKey), cert: await readFile(pki.serverCert) }, (_req, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const ctx = path.join(tmp, 'add-ctx');
      await mkdir(ctx, { recursive: true });
      const sum = createHash('sha256').update(body).digest('hex');
      await writeFile(path.join(ctx, 'Dockerfile'), `FROM scratch\nADD --checksum=sha256:${sum} https://127.0.0.1:${port}/file.txt /file.txt\n`);
      const args = ['build', '-q', '--no-cache', '--store', path.join(tmp, 'add-store'), ctx];
      const trusted = await run(bin, args, envWith({ NODE_EXTRA_CA_CERTS: pki.caCert }));
      expect(trusted).toMatchObject({ code: 0 });
      const untrusted = await run(bin, args, envWith({}));
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(/cannot download/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 120_000);
});
