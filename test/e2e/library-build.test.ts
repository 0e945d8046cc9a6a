/**
 * Issue 9: build() as a Node build script uses it. Without pullImage/pushImage
 * hooks it pulls bases and pushes with the CLI's defaults (config.json,
 * REGISTRY_AUTH_FILE, `registry` options); its options are checked at run
 * time with an error naming the option.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, OcibuildError, Store, type ProgressEvent } from '../../src/index.js';
import { run, startRegistry, type TestRegistry } from '../registry/harness.js';
import { makeBusyboxImage } from '../registry/base-image.js';

describe('build() options are checked at run time', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-libopts-'));
    await writeFile(path.join(tmp, 'Dockerfile'), 'FROM scratch\n');
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  const cases: [string, unknown, RegExp][] = [
    ['store given as a path', { store: '/some/dir' }, /option "store": expected a Store \(await Store\.open\(dir\)\); for a directory use storeRoot, got a string "\/some\/dir"/],
    ['tags as a string', { tags: 'app:1' }, /option "tags": expected an array of strings, got a string "app:1"/],
    ['a build arg that is a number', { buildArgs: { X: 1 } }, /option "buildArgs\.X": expected a string, got a number 1/],
    ['platforms as a string', { platforms: 'linux/amd64' }, /option "platforms": expected an array/],
    ['an output without a type', { outputs: [{ dest: 'x' }] }, /option "outputs\[0\]": expected a string like "type=oci,dest=out"/],
    ['push as a string', { push: 'yes' }, /option "push": expected true or false/],
    ['onProgress not a function', { onProgress: true }, /option "onProgress": expected a function/],
    ['a negative epoch', { sourceDateEpoch: -1 }, /option "sourceDateEpoch"/],
    ['registry CAs as a string', { registry: { registryCa: 'ca.pem' } }, /option "registry\.registryCa": expected an array of strings/],
  ];
  it.each(cases)('%s', async (_what, extra, message) => {
    const storeRoot = path.join(tmp, 'store');
    const err = await build({ context: tmp, storeRoot, ...(extra as object) } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OcibuildError);
    expect((err as OcibuildError).code).toBe('USAGE');
    expect((err as Error).message).toMatch(message);
    expect(existsSync(storeRoot)).toBe(false);
  });

  it('no options object, no context; credentials are never echoed', async () => {
    await expect(build(undefined as never)).rejects.toThrow(/build\(\) takes an options object/);
    await expect(build({} as never)).rejects.toThrow(/option "context": expected a non-empty string, got undefined/);
    const err = (await build({ context: tmp, registry: { creds: { 'r.example': 's3cret' } } } as never).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/registry\.creds\.r\.example/);
    expect(err.message).not.toMatch(/s3cret/);
  });
});

describe('build() pulls and pushes without hooks (local registry)', () => {
  let tmp: string;
  let reg: TestRegistry;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-libreg-'));
    reg = await startRegistry({ auth: 'htpasswd' });
    const layout = path.join(tmp, 'busybox-layout');
    await makeBusyboxImage(layout);
    await run('skopeo', ['copy', ...reg.skopeoFlags('dest', 'alice'), `oci:${layout}:latest`, `docker://${reg.host}/base/busybox:1`]);
    // Credentials from REGISTRY_AUTH_FILE, as podman and skopeo keep them.
    const authFile = path.join(tmp, 'auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`alice:${reg.users.alice}`).toString('base64') } } }));
    env = { PATH: process.env.PATH, HOME: tmp, REGISTRY_AUTH_FILE: authFile };
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('FROM <registry image>, tags, push: true; skopeo reads the pushed digest', async () => {
    const ctx = path.join(tmp, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${reg.host}/base/busybox:1\nCOPY msg /msg\n`);
    await writeFile(path.join(ctx, 'msg'), 'from a build script\n');
    const store = await Store.open(path.join(tmp, 'store'));
    const events: ProgressEvent[] = [];
    const result = await build({ context: ctx, tags: [`${reg.host}/team/lib:1`], push: true, store, env, onProgress: (e) => events.push(e) });
    expect(result.bases).toEqual([expect.stringMatching(/\/base\/busybox@sha256:[0-9a-f]{64}$/)]);
    const inspected = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `alice:${reg.users.alice}`, `docker://${reg.host}/team/lib:1`]));
    expect(inspected.Digest).toBe(result.descriptor.digest);
    expect(events.some((e) => e.type === 'vertex.started' && e.kind === 'pull')).toBe(true);
    expect(events.some((e) => e.type === 'vertex.completed')).toBe(true);
  });

  it('explicit registry credentials win; wrong ones are refused by the registry', async () => {
    const ctx = path.join(tmp, 'ctx2');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${reg.host}/base/busybox:1\n`);
    const err = await build({ context: ctx, storeRoot: path.join(tmp, 'store2'), env: { PATH: process.env.PATH, HOME: tmp }, registry: { creds: { [reg.host]: { username: 'alice', password: 'wrong' } } } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OcibuildError);
    expect((err as OcibuildError).code).toMatch(/^REGISTRY_/);
    const ok = await build({ context: ctx, storeRoot: path.join(tmp, 'store2'), env: { PATH: process.env.PATH, HOME: tmp }, registry: { creds: { [reg.host]: { username: 'alice', password: reg.users.alice! } } } });
    expect(ok.bases).toHaveLength(1);
  });
});
