/**
 * `ocibuild compose` (issue 12): the services of a Compose file build at once
 * in one process and share their common steps (one build runs a shared step,
 * the other waits and hits: shown with the progress events' timestamps); a
 * failing service stops the others unless keepGoing; and, against the real
 * registry, three services (two sharing a base stage, one dockerfile_inline,
 * args from .env) are built, tagged and pushed, each with the digest
 * `ocibuild build` gives that service alone.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../cli-io.js';
import { run, startRegistry, type TestRegistry } from '../registry/harness.js';
import { makeBusyboxImage } from '../registry/base-image.js';
import { compose } from '../../src/build-compose.js';
import { Store } from '../../src/cache/store.js';
import { readImage } from '../../src/image/read.js';
import type { ProgressEvent } from '../../src/engine/progress.js';

const LONG = 300_000;

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-compose-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

/** A project whose services web and api share a base stage with a large COPY (slow enough for both to reach it at once). */
async function sharedProject(name: string, first = ''): Promise<string> {
  const dir = path.join(tmp, name);
  await mkdir(path.join(dir, 'app'), { recursive: true });
  await writeFile(path.join(dir, 'app', 'big.bin'), randomBytes(24 * 1024 * 1024));
  await writeFile(path.join(dir, 'app', 'web.txt'), 'web\n');
  await writeFile(path.join(dir, 'app', 'api.txt'), 'api\n');
  await writeFile(path.join(dir, 'app', 'Dockerfile'), 'FROM scratch AS base\nCOPY big.bin /big.bin\n\nFROM base AS web\nCOPY web.txt /\n\nFROM base AS api\nCOPY api.txt /\n');
  await writeFile(
    path.join(dir, 'compose.yaml'),
    `services:\n${first}  web:\n    image: shop/web:1\n    build: { context: ./app, target: web }\n  api:\n    image: shop/api:1\n    build: { context: ./app, target: api }\n`,
  );
  return dir;
}

describe('compose(): concurrent services share steps (issue 12)', () => {
  it('a step two services share runs once: the other waits for it, then hits; both get the same layer', async () => {
    const dir = await sharedProject('shared');
    const events: ProgressEvent[] = [];
    const result = await compose({ cwd: dir, env: {}, storeRoot: path.join(tmp, 'store-shared'), onProgress: (e) => events.push(e) });
    expect(result.services.map((s) => [s.service, s.status])).toEqual([
      ['web', 'built'],
      ['api', 'built'],
    ]);
    const started = events.filter((e): e is Extract<ProgressEvent, { type: 'vertex.started' }> => e.type === 'vertex.started' && /COPY big\.bin/.test(e.name));
    expect(started.map((e) => e.name).sort()).toEqual(['[api] [base 2/2] COPY big.bin /big.bin', '[web] [base 2/2] COPY big.bin /big.bin']);
    const completed = started.map((s) => events.find((e): e is Extract<ProgressEvent, { type: 'vertex.completed' }> => e.type === 'vertex.completed' && e.vertex === s.vertex)!);
    // Built once (one miss), hit once.
    expect(completed.map((c) => c.cached).sort()).toEqual([false, true]);
    const built = completed.find((c) => !c.cached)!;
    const hit = completed.find((c) => c.cached)!;
    const hitStart = started[completed.indexOf(hit)]!;
    // The hit started while the other build was still building the step, and finished once it was done.
    expect(hitStart.time).toBeLessThan(built.time);
    expect(hit.time).toBeGreaterThanOrEqual(built.time);
    const [web, api] = result.services.map((s) => (s.status === 'built' ? s.result : undefined));
    expect(web!.images[0]!.layers[0]!.digest).toBe(api!.images[0]!.layers[0]!.digest);
    expect(web!.images[0]!.layers[1]!.digest).not.toBe(api!.images[0]!.layers[1]!.digest);
  }, LONG);

  it('a failing service stops the others; with keepGoing they finish', async () => {
    // broken starts first (two services build at once here) and fails at once; web is stopped mid-step, api never starts.
    const dir = await sharedProject('failing', '  broken:\n    build:\n      context: ./app\n      dockerfile_inline: |\n        FROM scratch\n        COPY missing.txt /\n');
    const stopped = await compose({ cwd: dir, env: {}, storeRoot: path.join(tmp, 'store-failing') });
    const status = Object.fromEntries(stopped.services.map((s) => [s.service, s.status]));
    expect(stopped.ok).toBe(false);
    expect(status.broken).toBe('failed');
    expect([status.web, status.api]).toEqual(['canceled', 'canceled']);
    const broken = stopped.services.find((s) => s.service === 'broken')!;
    expect(broken.status !== 'built' && (broken.error as { file?: string }).file).toBe('compose.yaml (services.broken.build.dockerfile_inline)');
    const going = await compose({ cwd: dir, env: {}, storeRoot: path.join(tmp, 'store-failing-2'), keepGoing: true });
    expect(Object.fromEntries(going.services.map((s) => [s.service, s.status]))).toEqual({ broken: 'failed', web: 'built', api: 'built' });
  }, LONG);
});

describe('ocibuild compose flags', () => {
  it('SERVICE selection, --build-arg for every service, --set over it, --no-cache, -p and --project-directory', async () => {
    const dir = path.join(tmp, 'flags');
    await mkdir(path.join(dir, 'proj', 'ctx'), { recursive: true });
    await writeFile(path.join(dir, 'proj', 'ctx', 'Dockerfile'), 'FROM scratch\nARG X\nARG Y=none\nLABEL x="$X" y="$Y"\nCOPY f /\n');
    await writeFile(path.join(dir, 'proj', 'ctx', 'f'), 'f\n');
    await writeFile(path.join(dir, 'proj', 'compose.yaml'), 'services:\n  one:\n    build: ./ctx\n  two:\n    build: ./ctx\n  three:\n    build: ./ctx\n');
    const storeRoot = path.join(tmp, 'store-flags');
    const env = { PATH: process.env.PATH, HOME: tmp, FROM_ENV: 'e' };
    const args = ['compose', '-f', 'proj/compose.yaml', '--project-directory', 'proj', '-p', 'Flags', 'one', 'two', '--build-arg', 'X=1', '--build-arg', 'FROM_ENV', '--set', 'two.args.X=2', '--no-cache', '--progress=json', '--store', storeRoot];
    const r = await runCli(args, { cwd: dir, env });
    if (r.code !== 0) throw new Error(r.stderr);
    expect(r.stdout.trim().split('\n').map((l) => l.split(/\s+/).filter((_, i) => i !== 1))).toEqual([
      ['one', 'flags-one'],
      ['two', 'flags-two'],
    ]);
    const store = await Store.open(storeRoot);
    const labels = async (name: string) => (await readImage(store, (await store.resolve(name))!)).config.config?.Labels;
    expect(await labels('flags-one')).toEqual({ x: '1', y: 'none' });
    expect(await labels('flags-two')).toEqual({ x: '2', y: 'none' });
    expect(await store.resolve('flags-three')).toBeUndefined();
    // --no-cache: nothing came from the cache, though the two services share their COPY.
    const again = await runCli(args, { cwd: dir, env });
    const completed = again.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ProgressEvent).filter((e) => e.type === 'vertex.completed' && e.vertex.includes('step:'));
    expect(completed.length).toBeGreaterThan(0);
    expect(completed.filter((e) => e.type === 'vertex.completed' && e.cached)).toEqual([]);
  }, LONG);
});

describe('ocibuild compose with a registry (issue 12, done means)', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none' });
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('three services (two share a base stage, one dockerfile_inline, args from .env) are built, tagged and pushed; each equals building it alone', async () => {
    const dir = path.join(tmp, 'shop');
    const app = path.join(dir, 'app');
    await mkdir(path.join(dir, 'tools'), { recursive: true });
    await mkdir(app, { recursive: true });
    await copyFile('/bin/busybox', path.join(app, 'busybox'));
    await writeFile(path.join(app, 'shared.txt'), 'shared\n');
    // web and worker start FROM one registry image: pulled once for both.
    const layout = path.join(tmp, 'busybox-layout');
    await makeBusyboxImage(layout);
    await run('skopeo', ['copy', ...reg.skopeoFlags('dest'), `oci:${layout}:latest`, `docker://${reg.host}/base/busybox:1`]);
    await writeFile(path.join(app, 'web.txt'), 'web\n');
    await writeFile(path.join(app, 'worker.txt'), 'worker\n');
    await writeFile(path.join(dir, 'tools', 'tool.txt'), 'tool\n');
    const dockerfile = `FROM ${reg.host}/base/busybox:1 AS base\nCOPY shared.txt /\nCOPY busybox /bin/busybox.copy\n\nFROM base AS web\nARG VERSION\nLABEL version=$VERSION\nCOPY web.txt /\nCMD ["/bin/busybox", "cat", "/web.txt"]\n\nFROM base AS worker\nARG VERSION\nENV VERSION=$VERSION\nCOPY worker.txt /\n`;
    await writeFile(path.join(app, 'Dockerfile'), dockerfile);
    const inline = 'FROM scratch\nARG GREETING\nLABEL greeting="$GREETING"\nCOPY tool.txt /\n';
    // REGISTRY in .env is wrong on purpose: the process environment wins.
    await writeFile(path.join(dir, '.env'), 'VERSION=1.2\nGREETING="hello there"\nREGISTRY=wrong.example:1\n');
    await writeFile(
      path.join(dir, 'compose.yaml'),
      [
        'services:',
        '  web:',
        '    image: ${REGISTRY}/shop/web:${VERSION}',
        '    build:',
        '      context: ./app',
        '      target: web',
        '      args: { VERSION: "${VERSION}" }',
        '      labels: { team: shop }',
        '  worker:',
        '    image: ${REGISTRY}/shop/worker:${VERSION}',
        '    build:',
        '      context: ./app',
        '      target: worker',
        '      args: [VERSION]',
        '      tags: ["${REGISTRY}/shop/worker:latest"]',
        '  tools:',
        '    image: ${REGISTRY}/shop/tools:${VERSION:-0}',
        '    build:',
        '      context: ./tools',
        '      dockerfile_inline: |',
        ...inline.trimEnd().split('\n').map((l) => `        ${l}`),
        '      args:',
        '        GREETING: ${GREETING:?GREETING comes from .env}',
        '  db:',
        '    image: postgres:16',
        '',
      ].join('\n'),
    );
    const env = { PATH: process.env.PATH, HOME: tmp, REGISTRY: reg.host, VERSION: '1.2' };
    const r = await runCli(['compose', '--push', '--progress=json', '--store', path.join(tmp, 'store-shop')], { cwd: dir, env });
    expect(r.stderr).not.toMatch(/internal error/);
    if (r.code !== 0) throw new Error(r.stderr + r.stdout);
    const events = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as ProgressEvent);
    // One pull of the shared base; the base stage's steps built once (the other service hits them).
    expect(events.filter((e) => e.type === 'vertex.started' && e.kind === 'pull').length).toBe(1);
    for (const step of ['COPY shared.txt /', 'COPY busybox /bin/busybox.copy']) {
      const vertices = events.filter((e): e is Extract<ProgressEvent, { type: 'vertex.started' }> => e.type === 'vertex.started' && e.name.endsWith(step)).map((e) => e.vertex);
      expect(vertices).toHaveLength(2);
      const done = events.filter((e): e is Extract<ProgressEvent, { type: 'vertex.completed' }> => e.type === 'vertex.completed' && vertices.includes(e.vertex));
      expect([step, done.map((e) => e.cached).sort()]).toEqual([step, [false, true]]);
    }
    const summary = new Map(r.stdout.trim().split('\n').map((l) => [l.split(/\s+/)[0]!, l.split(/\s+/)[1]!]));
    expect([...summary.keys()]).toEqual(['web', 'worker', 'tools']);

    const names = { web: [`${reg.host}/shop/web:1.2`], worker: [`${reg.host}/shop/worker:1.2`, `${reg.host}/shop/worker:latest`], tools: [`${reg.host}/shop/tools:1.2`] };
    for (const [service, refs] of Object.entries(names)) {
      for (const ref of refs) {
        const inspected = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]));
        expect([ref, inspected.Digest]).toEqual([ref, summary.get(service)]);
      }
    }
    const config = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${reg.host}/shop/tools:1.2`]));
    expect(config.config.Labels).toEqual({ greeting: 'hello there' });

    // Each service alone, with ocibuild build, in a fresh store: the same manifest digests.
    const alone = async (args: string[], stdin?: string) => {
      const b = await runCli(['build', ...args, '--store', path.join(tmp, `store-alone-${args.join('-').replace(/\W/g, '')}`), '-q'], { cwd: dir, env, ...(stdin !== undefined ? { stdin } : {}) });
      if (b.code !== 0) throw new Error(b.stderr);
      return b.stdout.trim();
    };
    expect(await alone(['./app', '--target', 'web', '--build-arg', 'VERSION=1.2', '--label', 'team=shop'])).toBe(summary.get('web'));
    expect(await alone(['./app', '--target', 'worker', '--build-arg', 'VERSION=1.2'])).toBe(summary.get('worker'));
    expect(await alone(['-f', '-', './tools', '--build-arg', 'GREETING=hello there'], inline)).toBe(summary.get('tools'));
  }, LONG);

  it('exits 1 and lists the error of a failing service; a compose file error is located with a code frame', async () => {
    const dir = path.join(tmp, 'bad');
    await mkdir(path.join(dir, 'ctx'), { recursive: true });
    await writeFile(path.join(dir, 'compose.yaml'), 'services:\n  ok:\n    build: ./ctx\n  broken:\n    build:\n      context: ./ctx\n      dockerfile_inline: "FROM scratch\\nCOPY nope /\\n"\n');
    await writeFile(path.join(dir, 'ctx', 'Dockerfile'), 'FROM scratch\n');
    const env = { PATH: process.env.PATH, HOME: tmp };
    const r = await runCli(['compose', '--keep-going', '-q', '--store', path.join(tmp, 'store-bad')], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ok\s+sha256:[0-9a-f]{64}\s+bad-ok$/m);
    expect(r.stdout).toMatch(/^broken\s+failed: compose\.yaml \(services\.broken\.build\.dockerfile_inline\):2:1: .*nope/m);
    expect(r.stderr).toMatch(/> 2 \| COPY nope \//);

    await writeFile(path.join(dir, 'compose.yaml'), 'services:\n  ok:\n    build:\n      context: ./ctx\n      network: backend\n');
    const bad = await runCli(['compose', '--store', path.join(tmp, 'store-bad')], { cwd: dir, env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: compose\.yaml:5:7: services\.ok\.build\.network: "backend"/m);
    expect(bad.stderr).toMatch(/> 5 \|       network: backend/);
  }, LONG);
});
