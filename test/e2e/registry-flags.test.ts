/**
 * The CLI's registry flags do what they say, against the real registry:
 * --registry-ca trusts a private CA (TLS), --creds authenticates, and
 * without them the failure names the cause.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../cli-io.js';
import { run, startRegistry, type TestRegistry } from '../registry/harness.js';
import { makeBusyboxImage } from '../registry/base-image.js';

describe('registry flags (TLS registry with htpasswd)', () => {
  let tmp: string;
  let reg: TestRegistry;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-regflags-'));
    reg = await startRegistry({ auth: 'htpasswd', tls: true });
    const layout = path.join(tmp, 'layout');
    await makeBusyboxImage(layout);
    await run('skopeo', ['copy', ...reg.skopeoFlags('dest', 'alice'), `oci:${layout}:latest`, `docker://${reg.host}/base/busybox:1`]);
    env = { PATH: process.env.PATH, HOME: tmp, OCIBUILD_HOME: path.join(tmp, 'store') };
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('--registry-ca and --creds make a TLS pull work; without the CA the error says so', async () => {
    const creds = `${reg.host}=alice:${reg.users.alice}`;
    const untrusted = await runCli(['pull', `${reg.host}/base/busybox:1`, '--creds', creds], { env });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/certificate|TLS|self.signed/i);
    expect(untrusted.stderr).not.toMatch(reg.users.alice!);
    const noCreds = await runCli(['pull', `${reg.host}/base/busybox:1`, '--registry-ca', reg.pki!.caCert], { env });
    expect(noCreds.code).toBe(1);
    expect(noCreds.stderr).toMatch(/UNAUTHORIZED/);
    const ok = await runCli(['pull', `${reg.host}/base/busybox:1`, '--registry-ca', reg.pki!.caCert, '--creds', creds], { env });
    if (ok.code !== 0) throw new Error(ok.stderr);
    expect(ok.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('push with --creds given without a registry applies to the pushed name\'s registry', async () => {
    const pulled = await runCli(['pull', `${reg.host}/base/busybox:1`, '--registry-ca', reg.pki!.caCert, '--creds', `alice:${reg.users.alice}`], { env });
    if (pulled.code !== 0) throw new Error(pulled.stderr);
    const r = await runCli(['push', `${reg.host}/base/busybox:1`, `${reg.host}/copy/busybox:2`, '--registry-ca', reg.pki!.caCert, '--creds', `alice:${reg.users.alice}`], { env });
    if (r.code !== 0) throw new Error(r.stderr);
    const inspected = JSON.parse(await run('skopeo', ['inspect', '--cert-dir', path.dirname(reg.pki!.caCert), '--creds', `alice:${reg.users.alice}`, `docker://${reg.host}/copy/busybox:2`]));
    expect(inspected.Digest).toBe(r.stdout.trim());
  });
});
