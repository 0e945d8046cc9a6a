import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { composeBuildPlan } from './build-compose.js';
import { OcibuildError } from './errors.js';

describe('composeBuildPlan: Compose build keys onto build() options (issue 12)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'compose-plan-'));
    for (const d of ['web', 'api', 'shared', 'base']) await mkdir(path.join(dir, d));
    await writeFile(path.join(dir, 'token.txt'), 't');
    await writeFile(path.join(dir, '.env'), 'VERSION=3\n');
    await writeFile(
      path.join(dir, 'compose.yaml'),
      `
services:
  base:
    build: ./base
  web:
    image: registry.example.com/web:\${VERSION}
    build:
      context: ./web
      dockerfile: build/Dockerfile
      target: runtime
      args:
        VERSION: \${VERSION}
        FROM_ENV:
      tags: [registry.example.com/web:latest]
      labels: { team: infra }
      platforms: [linux/amd64, linux/arm64]
      cache_from: ["type=registry,ref=registry.example.com/web:cache"]
      cache_to: ["type=registry,ref=registry.example.com/web:cache,mode=max"]
      additional_contexts:
        shared: ./shared
        alpine: docker-image://alpine:3.20
        basesvc: service:base
      secrets: [token]
      ssh: [default]
      network: none
      extra_hosts: ["db:10.0.0.5"]
      shm_size: 128m
      no_cache: true
      pull: true
  api:
    build:
      context: ./api
      dockerfile_inline: |
        FROM scratch
        COPY . /
  db:
    image: postgres
secrets:
  token:
    file: ./token.txt
`,
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('maps every key of a service', async () => {
    const plan = await composeBuildPlan({ cwd: dir, env: { FROM_ENV: 'e' }, push: true });
    expect(plan.services.map((s) => s.service)).toEqual(['base', 'web', 'api']);
    const web = plan.services.find((s) => s.service === 'web')!;
    expect(web.options).toEqual({
      context: path.join(dir, 'web'),
      file: path.join(dir, 'web', 'build', 'Dockerfile'),
      target: 'runtime',
      buildArgs: { VERSION: '3', FROM_ENV: 'e' },
      platforms: ['linux/amd64', 'linux/arm64'],
      tags: ['registry.example.com/web:3', 'registry.example.com/web:latest'],
      labels: { team: 'infra' },
      outputs: [{ type: 'registry', names: ['registry.example.com/web:3', 'registry.example.com/web:latest'] }],
      pull: true,
      noCache: true,
      buildContexts: { shared: path.join(dir, 'shared'), alpine: 'docker-image://alpine:3.20', basesvc: `docker-image://${path.basename(dir).toLowerCase().replace(/[^a-z0-9_-]/g, '')}-base` },
      cacheFrom: ['type=registry,ref=registry.example.com/web:cache'],
      cacheTo: ['type=registry,ref=registry.example.com/web:cache,mode=max'],
      run: {
        network: 'none',
        addHosts: [{ host: 'db', ip: '10.0.0.5' }],
        shmSize: 128 * 1024 * 1024,
        secrets: { token: { file: path.join(dir, 'token.txt') } },
        ssh: { default: [] },
      },
      env: { FROM_ENV: 'e' },
    });
    expect(web.build.dependsOn).toEqual(['base']);
    // Without image:, a service is tagged <project>-<service> locally and not pushed (a warning says so).
    const base = plan.services.find((s) => s.service === 'base')!;
    expect(base.pushNames).toEqual([]);
    expect(base.options.outputs).toBeUndefined();
    expect(plan.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/service base has no image: and no tags to push/), expect.stringMatching(/service api has no image:/)]);
  });

  it('dockerfile_inline is the Dockerfile text, named after the key so errors point at it', async () => {
    const plan = await composeBuildPlan({ cwd: dir, env: {}, services: ['api'] });
    const api = plan.services[0]!;
    expect(api.options.dockerfile).toBe('FROM scratch\nCOPY . /\n');
    expect(api.options.file).toBe('compose.yaml (services.api.build.dockerfile_inline)');
    expect(plan.sources.get(api.options.file!)).toBe('FROM scratch\nCOPY . /\n');
  });

  it('selecting a service also plans the services its additional contexts name', async () => {
    const plan = await composeBuildPlan({ cwd: dir, env: {}, services: ['web'] });
    expect(plan.services.map((s) => s.service)).toEqual(['base', 'web']);
  });

  it('options of the wrong type are USAGE errors naming the option', async () => {
    await expect(composeBuildPlan({ cwd: dir, services: 'web' } as never)).rejects.toThrow('compose() option "services": expected an array of strings');
    await expect(composeBuildPlan({ cwd: dir, concurrency: 0 })).rejects.toThrow('compose() option "concurrency": expected a whole number >= 1');
    await expect(composeBuildPlan(null as never)).rejects.toThrow('compose() takes an options object');
  });

  it('unknown services, services without build, bad values: clear errors', async () => {
    await expect(composeBuildPlan({ cwd: dir, env: {}, services: ['nope'] })).rejects.toThrow('no such service: nope');
    await expect(composeBuildPlan({ cwd: dir, env: {}, services: ['db'] })).rejects.toThrow('service db has no build section');
    const err = (await composeBuildPlan({ cwd: dir, env: {}, set: ['web.extra_hosts=db:not-an-ip'] }).catch((e) => e)) as OcibuildError;
    expect(err.code).toBe('COMPOSE_INVALID');
    expect(err.message).toMatch(/services\.web\.build\.extra_hosts: .*is not an IP address/);
    const tag = (await composeBuildPlan({ cwd: dir, env: {}, set: ['web.tags=Bad Tag'] }).catch((e) => e)) as OcibuildError;
    expect(tag.message).toMatch(/services\.web\.build\.tags\[0\]/);
  });
});
