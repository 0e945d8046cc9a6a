/**
 * Issue 9: the library the way users meet it. The package is packed
 * (`npm pack`), installed into a fresh project, and a plain `.mjs` script
 * builds FROM an image in a local registry, pushes, and reads the events,
 * with no hooks: build() brings its own registry client.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureDist, repoRoot } from '../dist.js';
import { run, startRegistry, type TestRegistry } from '../registry/harness.js';
import { makeBusyboxImage } from '../registry/base-image.js';

const exec = promisify(execFile);

describe('the packed package in a fresh project', () => {
  let tmp: string;
  let reg: TestRegistry;
  beforeAll(async () => {
    await ensureDist();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-pack-'));
    reg = await startRegistry({ auth: 'htpasswd' });
    const layout = path.join(tmp, 'busybox-layout');
    await makeBusyboxImage(layout);
    await run('skopeo', ['copy', ...reg.skopeoFlags('dest', 'alice'), `oci:${layout}:latest`, `docker://${reg.host}/base/busybox:1`]);
  }, 300_000);
  afterAll(async () => {
    await reg?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('npm pack, npm install <tarball>, a .mjs build script pulls, pushes and reads the events', async () => {
    const packDir = path.join(tmp, 'pack');
    await mkdir(packDir);
    const { stdout: packed } = await exec('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
    const tarball = path.join(packDir, (JSON.parse(packed) as { filename: string }[])[0]!.filename);

    const project = path.join(tmp, 'project');
    await mkdir(project);
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-ocibuild', version: '1.0.0', private: true, type: 'module' }));
    await exec('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], { cwd: project, maxBuffer: 16 * 1024 * 1024 });
    expect((await stat(path.join(project, 'node_modules/ocibuild/dist/index.d.ts'))).isFile()).toBe(true);

    const ctx = path.join(project, 'app');
    await mkdir(ctx);
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${reg.host}/base/busybox:1\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n`);
    await writeFile(path.join(ctx, 'hello.txt'), 'built by a build script\n');
    // Credentials as a user has them: a docker config.json.
    const dockerConfig = path.join(tmp, 'docker');
    await mkdir(dockerConfig);
    await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`alice:${reg.users.alice}`).toString('base64') } } }));
    await writeFile(
      path.join(project, 'build.mjs'),
      `import { build, OcibuildError } from 'ocibuild';
const events = [];
try {
  const result = await build({
    context: 'app',
    tags: [process.argv[2]],
    push: true,
    storeRoot: process.argv[3],
    onProgress: (e) => events.push(e),
  });
  console.log(JSON.stringify({ digest: result.descriptor.digest, bases: result.bases, events }));
} catch (e) {
  console.error(e instanceof OcibuildError ? \`\${e.code}: \${e.message}\` : e);
  process.exitCode = 1;
}
`,
    );
    const target = `${reg.host}/pkg/app:1`;
    const env = { PATH: process.env.PATH, HOME: tmp, DOCKER_CONFIG: dockerConfig };
    const { stdout } = await exec(process.execPath, ['build.mjs', target, path.join(tmp, 'store')], { cwd: project, env });
    const out = JSON.parse(stdout) as { digest: string; bases: string[]; events: { type: string; time: number; vertex?: string; kind?: string }[] };
    expect(out.bases).toEqual([expect.stringMatching(/\/base\/busybox@sha256:[0-9a-f]{64}$/)]);
    const inspected = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `alice:${reg.users.alice}`, `docker://${target}`]));
    expect(inspected.Digest).toBe(out.digest);
    expect(out.events.length).toBeGreaterThan(0);
    for (const e of out.events) expect(typeof e.time).toBe('number');
    // The engine's event model (src/engine/progress.ts): the pull with its bytes, the steps, the push.
    const started = out.events.filter((e) => e.type === 'vertex.started');
    expect(new Set(started.map((e) => e.kind))).toEqual(new Set(['pull', 'step', 'output', 'push']));
    expect(out.events.some((e) => e.type === 'status' && started.some((s) => s.kind === 'pull' && s.vertex === e.vertex))).toBe(true);
    expect(out.events.filter((e) => e.type === 'vertex.completed')).toHaveLength(started.length);
    // The installed package is the packed one: its CLI runs too.
    const { stdout: help } = await exec(path.join(project, 'node_modules/.bin/ocibuild'), ['--help'], { cwd: project });
    expect(help).toMatch(/ocibuild build \[PATH\]/);
    expect(JSON.parse(await readFile(path.join(project, 'node_modules/ocibuild/package.json'), 'utf8')).name).toBe('ocibuild');
  });
});
