import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { normalizeAuthKey, resolveCredentials, runCredentialHelper } from './credentials.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-creds-'));
});
afterAll(async () => rm(tmp, { recursive: true, force: true }));

async function dockerConfig(name: string, cfg: unknown): Promise<string> {
  const dir = path.join(tmp, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
  return dir;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('normalizeAuthKey', () => {
  const rows: Array<[string, string]> = [
    ['https://index.docker.io/v1/', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['http://localhost:5000', 'localhost:5000'],
    ['ghcr.io', 'ghcr.io'],
    ['https://Quay.IO/v2/', 'quay.io'],
  ];
  for (const [k, want] of rows) test(k, () => expect(normalizeAuthKey(k)).toBe(want));
});

describe('resolveCredentials', () => {
  test('nothing without env or creds', async () => {
    expect(await resolveCredentials('docker.io', {})).toBeUndefined();
  });
  test('explicit creds win', async () => {
    const dir = await dockerConfig('explicit', { auths: { 'r.example': { auth: b64('file:pw') } } });
    const r = await resolveCredentials('r.example', { env: { DOCKER_CONFIG: dir }, creds: { 'https://r.example/': { username: 'opt', password: 'x' } } });
    expect(r?.credentials.username).toBe('opt');
    expect(r?.source).toBe('options');
  });
  test('docker.io under the legacy https://index.docker.io/v1/ key', async () => {
    const dir = await dockerConfig('hub', { auths: { 'https://index.docker.io/v1/': { auth: b64('bob:p:w') } } });
    const r = await resolveCredentials('docker.io', { env: { DOCKER_CONFIG: dir } });
    expect(r?.credentials).toEqual({ username: 'bob', password: 'p:w' });
  });
  test('HOME/.docker/config.json, identitytoken', async () => {
    const home = path.join(tmp, 'home');
    await mkdir(path.join(home, '.docker'), { recursive: true });
    await writeFile(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'r.example:5000': { identitytoken: 'refresh' } } }));
    const r = await resolveCredentials('r.example:5000', { env: { HOME: home } });
    expect(r?.credentials).toEqual({ identityToken: 'refresh' });
  });
  test('invalid JSON does not echo the file (secrets)', async () => {
    const dir = await dockerConfig('broken', '{"auths": {"r": {"auth": "c2VjcmV0LXZhbHVl"}');
    let err: OcibuildError | undefined;
    try {
      await resolveCredentials('r', { env: { DOCKER_CONFIG: dir } });
    } catch (e) {
      err = e as OcibuildError;
    }
    expect(err?.code).toBe('CREDENTIALS_ERROR');
    expect(JSON.stringify({ m: err?.message, d: err?.details })).not.toContain('c2VjcmV0LXZhbHVl');
  });
  test('auth that is not user:password is a clear error', async () => {
    const dir = await dockerConfig('badauth', { auths: { r: { auth: b64('nocolon') } } });
    await expect(resolveCredentials('r', { env: { DOCKER_CONFIG: dir } })).rejects.toThrow(/not base64 of user:password/);
  });
  test('credsStore helper, "<token>" user means identity token; not found falls through to auths', async () => {
    const bin = path.join(tmp, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = path.join(bin, 'docker-credential-unit');
    await writeFile(
      helper,
      '#!/bin/sh\nread s\ncase "$s" in\n  tok.example) echo \'{"Username":"<token>","Secret":"idtok"}\';;\n  https://index.docker.io/v1/) echo \'{"Username":"hubuser","Secret":"hubpw"}\';;\n  *) echo "credentials not found in native keychain"; exit 1;;\nesac\n',
    );
    await chmod(helper, 0o755);
    const dir = await dockerConfig('store', { credsStore: 'unit', auths: { 'plain.example': { auth: b64('u:p') } } });
    const env = { DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH}` };
    expect((await resolveCredentials('tok.example', { env }))?.credentials).toEqual({ identityToken: 'idtok' });
    expect((await resolveCredentials('docker.io', { env }))?.credentials).toEqual({ username: 'hubuser', password: 'hubpw' });
    expect((await resolveCredentials('plain.example', { env }))?.credentials).toEqual({ username: 'u', password: 'p' });
    expect(await resolveCredentials('none.example', { env })).toBeUndefined();
  });
  test('a missing helper program is a CREDENTIALS_ERROR naming it', async () => {
    await expect(runCredentialHelper('does-not-exist-xyz', 'r', { PATH: '/nonexistent' })).rejects.toThrow(/docker-credential-does-not-exist-xyz/);
    await expect(runCredentialHelper('../evil', 'r', {})).rejects.toThrow(/invalid credential helper name/);
  });
});
