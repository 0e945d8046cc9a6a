/**
 * Shared setup of the RUN end-to-end tests: the CLI as a user runs it
 * (`node bin/ocibuild ...`, compiled by `npm run build`), as root or as an
 * unprivileged user made here (with or without /etc/subuid entries), base
 * images made offline and pushed to a local distribution registry, and the
 * built images run with an OCI runtime (crun, runc as fallback).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startRegistry, type TestRegistry } from '../registry/harness.js';
import { makeBusyboxImage, pushBaseImage } from '../registry/base-image.js';
import { debianImageUnavailable, pushDebianImage } from '../debian-image.js';
import { probeRuntime } from '../runtime.js';

const exec = promisify(execFile);
const REPO = process.cwd();

/** Who runs the CLI. */
export type ActorKind = 'root' | 'rootless-subuid' | 'rootless-single';

/** A user that runs the CLI, with its own store under its home. */
export interface Actor {
  kind: ActorKind;
  /** Login name (root for `root`). */
  user: string;
  uid: number;
  gid: number;
  home: string;
  /** The environment the CLI gets (HOME, PATH, OCIBUILD_HOME under the home). */
  env: NodeJS.ProcessEnv;
  /** Where the CLI's store is. */
  store: string;
}

const USERS: Record<Exclude<ActorKind, 'root'>, { name: string; subuid: boolean }> = {
  'rootless-subuid': { name: 'ocibuild-rl-sub', subuid: true },
  'rootless-single': { name: 'ocibuild-rl-single', subuid: false },
};

/**
 * Why the RUN end-to-end tests cannot run here, or undefined. On CI they must
 * run: the caller throws instead of skipping.
 */
export async function runTestsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the RUN end-to-end tests need root to create test users, unpack with owners (umoci) and run images (crun)';
  if (!existsSync(path.join(REPO, 'dist/cli/main.js'))) return 'dist/ is missing: run `npm run build` first (npm test after scripts/setup.sh does)';
  const probe = await probeRuntime();
  if (!probe.runtime) return probe.reason;
  return undefined;
}

/** Skips loudly (one line, why) or, with CI=true, fails. Returns true when the test must stop. */
export function skipLoudly(why: string | undefined): boolean {
  if (!why) return false;
  if (process.env.CI) throw new Error(`cannot run on CI: ${why}`);
  console.warn(`SKIPPED (loudly): ${why}`);
  return true;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await exec(cmd, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

async function editIdFile(file: string, user: string, entry: string | undefined): Promise<void> {
  const text = existsSync(file) ? await readFile(file, 'utf8') : '';
  const lines = text.split('\n').filter((l) => l && !l.startsWith(`${user}:`));
  if (entry) lines.push(entry);
  await writeFile(file, lines.map((l) => `${l}\n`).join(''));
}

/** Program dir the user can read: the repo itself when it can, else a copy (dist, bin, node_modules). */
async function programFor(actor: Actor, tmp: string): Promise<string> {
  if (actor.kind === 'root') return REPO;
  const readable = await exec('setpriv', [`--reuid=${actor.uid}`, `--regid=${actor.gid}`, '--init-groups', 'test', '-r', path.join(REPO, 'dist/cli/main.js')]).then(
    () => exec('setpriv', [`--reuid=${actor.uid}`, `--regid=${actor.gid}`, '--init-groups', 'test', '-r', path.join(REPO, 'node_modules/yargs/package.json')]),
  ).then(() => true, () => false);
  if (readable) return REPO;
  const dir = path.join(tmp, 'program');
  if (!existsSync(path.join(dir, 'bin/ocibuild'))) {
    for (const p of ['dist', 'bin', 'package.json']) await cp(path.join(REPO, p), path.join(dir, p), { recursive: true });
    await sh('cp', ['-rL', path.join(REPO, 'node_modules'), path.join(dir, 'node_modules')]);
    await sh('chmod', ['-R', 'a+rX', dir]);
  }
  return dir;
}

const programs = new Map<string, string>();

/** Creates (idempotently) the actor: root, or a user made with useradd, with or without subordinate ids. */
export async function makeActor(kind: ActorKind, tmp: string): Promise<Actor> {
  if (kind === 'root') {
    const home = path.join(tmp, 'root-home');
    await mkdir(home, { recursive: true });
    const store = path.join(home, 'store');
    return { kind, user: 'root', uid: 0, gid: 0, home, store, env: { PATH: process.env.PATH, HOME: home, OCIBUILD_HOME: store, ...(process.env.CI ? { CI: process.env.CI } : {}) } };
  }
  const { name, subuid } = USERS[kind];
  try {
    await exec('id', ['-u', name]);
  } catch {
    await sh('useradd', ['--create-home', '--shell', '/bin/sh', '--user-group', name]);
  }
  const uid = Number((await sh('id', ['-u', name])).trim());
  const gid = Number((await sh('id', ['-g', name])).trim());
  const home = (await sh('getent', ['passwd', name])).split(':')[5]!;
  // Distinct ranges per user, far from any other; the single-mapping user has none at all.
  const base = kind === 'rootless-subuid' ? 1_100_000 : 1_200_000;
  await editIdFile('/etc/subuid', name, subuid ? `${name}:${base}:65536` : undefined);
  await editIdFile('/etc/subgid', name, subuid ? `${name}:${base}:65536` : undefined);
  // A store of this test process's own: the user outlives test runs, and a store kept from an
  // earlier run would answer RUN steps from its cache (built by older code) instead of running them.
  const store = path.join(home, '.cache', `ocibuild-test-${process.pid}`);
  await rm(store, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: home, USER: name, LOGNAME: name, OCIBUILD_HOME: store, ...(process.env.CI ? { CI: process.env.CI } : {}) };
  return { kind, user: name, uid, gid, home, store, env };
}

/** A working directory owned by the actor (contexts and outputs go there). */
export async function actorDir(actor: Actor, name: string): Promise<string> {
  const dir = actor.kind === 'root' ? path.join(actor.home, name) : path.join(actor.home, 'work', name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  if (actor.kind !== 'root') await sh('chown', ['-R', `${actor.uid}:${actor.gid}`, path.join(actor.home, 'work')]);
  return dir;
}

/** Write a build context (Dockerfile + files) owned by the actor. */
export async function writeContext(actor: Actor, name: string, files: Record<string, string | { content: string; mode: number }>): Promise<string> {
  const dir = await actorDir(actor, name);
  for (const [rel, f] of Object.entries(files)) {
    const p = path.join(dir, rel);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, typeof f === 'string' ? f : f.content);
    if (typeof f !== 'string') await chmod(p, f.mode);
  }
  if (actor.kind !== 'root') await sh('chown', ['-R', `${actor.uid}:${actor.gid}`, dir]);
  return dir;
}

/** What one CLI run printed. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

/**
 * Runs `node bin/ocibuild ARGS` as the actor (setpriv, so the spawned pid is
 * the CLI itself and signals reach it). `onSpawn` gets the child (Ctrl-C tests).
 */
export async function ocibuild(actor: Actor, tmp: string, args: string[], options: { timeoutMs?: number; onSpawn?: (pid: number) => void } = {}): Promise<CliRun> {
  let program = programs.get(actor.user);
  if (!program) programs.set(actor.user, (program = await programFor(actor, tmp)));
  const node = process.execPath;
  const cli = [node, path.join(program, 'bin/ocibuild'), ...args];
  const [cmd, ...argv] =
    actor.kind === 'root' ? cli : ['setpriv', `--reuid=${actor.uid}`, `--regid=${actor.gid}`, '--init-groups', '--inh-caps=-all', ...cli];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, argv, { env: actor.env, cwd: actor.home, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15 * 60_000);
    child.on('error', reject);
    child.on('spawn', () => options.onSpawn?.(child.pid!));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, pid: child.pid! });
    });
  });
}

/** Fails with the CLI's output when it did not succeed. */
export function expectOk(r: CliRun): void {
  if (r.code !== 0) throw new Error(`ocibuild exited ${r.code ?? r.signal}:\n${r.stderr}\n${r.stdout}`);
}

/** Builds `ctx` into an OCI layout dir owned by the actor, tagged `tag` (also in its store). Returns the layout dir. */
export async function buildOci(actor: Actor, tmp: string, ctx: string, tag: string, extra: string[] = []): Promise<{ oci: string; run: CliRun }> {
  const oci = path.join(path.dirname(ctx), `${path.basename(ctx)}.oci`);
  const run = await ocibuild(actor, tmp, ['build', ctx, '-t', tag, '-o', `type=oci,dest=${oci}`, ...extra]);
  expectOk(run);
  return { oci, run };
}

/**
 * Unpacks the layout's image (named by its tag) with umoci, as root so owners are kept, into
 * a fresh bundle under `tmp` and returns the bundle dir (rootfs/ and config.json inside).
 */
export async function unpack(oci: string, tag: string, tmp: string): Promise<string> {
  const bundle = await mkdtemp(path.join(tmp, 'bundle-'));
  await rm(bundle, { recursive: true });
  await sh('umoci', ['unpack', '--image', `${oci}:${tag}`, bundle]);
  return bundle;
}

/** Runs an unpacked bundle with crun (runc as fallback) and returns its stdout; `args` replaces the process args. */
export async function runBundle(bundle: string, args?: string[]): Promise<string> {
  const probe = await probeRuntime();
  if (!probe.runtime) throw new Error(`no OCI runtime: ${probe.reason}`);
  const specFile = path.join(bundle, 'config.json');
  const spec = JSON.parse(await readFile(specFile, 'utf8'));
  spec.process.terminal = false;
  delete spec.process.rlimits; // root here lacks CAP_SYS_RESOURCE: never raise rlimits
  if (args) spec.process.args = args;
  await writeFile(specFile, JSON.stringify(spec));
  const id = `ocibuild-e2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const { stdout } = await exec(probe.runtime, ['run', '--bundle', bundle, id], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${probe.runtime} run failed: ${err.stderr || err.message}\n${err.stdout ?? ''}`);
  } finally {
    await exec(probe.runtime, ['delete', '--force', id]).catch(() => undefined);
  }
}

/** Unpack + run in one: what the image prints. */
export async function runImage(oci: string, tag: string, tmp: string, args?: string[]): Promise<string> {
  return runBundle(await unpack(oci, tag, tmp), args);
}

/** The test world: a registry with a busybox image and, when it can be made, a Debian one. */
export interface RunWorld {
  tmp: string;
  registry: TestRegistry;
  /** `127.0.0.1:PORT/library/busybox:test` */
  busybox: string;
  /** `127.0.0.1:PORT/library/debian:bookworm`, or undefined with `debianMissing` saying why. */
  debian?: string;
  debianMissing?: string;
  stop(): Promise<void>;
}

/** Starts the registry and pushes the base images (the Debian one only when asked: it may take minutes cold). */
export async function startWorld(options: { debian?: boolean } = {}): Promise<RunWorld> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-run-e2e-'));
  await chmod(tmp, 0o755);
  const registry = await startRegistry({ auth: 'none' });
  const layout = path.join(tmp, 'busybox-layout');
  await makeBusyboxImage(layout, { tag: 'test' });
  await pushBaseImage(registry, layout, 'library/busybox:test', { tag: 'test' });
  const world: RunWorld = {
    tmp,
    registry,
    busybox: `${registry.host}/library/busybox:test`,
    stop: async () => {
      await registry.stop();
      await rm(tmp, { recursive: true, force: true });
    },
  };
  if (options.debian) {
    const missing = await debianImageUnavailable();
    if (missing) world.debianMissing = missing;
    else world.debian = await pushDebianImage(registry);
  }
  return world;
}

/** Paths under `root` that are mount points (a leak after an interrupted RUN). */
export async function mountsUnder(root: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m === root || m.startsWith(`${root}/`));
}

/** Processes whose command line contains `needle` (the sandboxed command of a test). */
export async function processesMatching(needle: string): Promise<string[]> {
  const out = await sh('ps', ['-eo', 'pid=,args=']);
  return out.split('\n').filter((l) => l.includes(needle) && !l.includes('ps -eo'));
}

/** Lists a layout's layer tars (`tar -t` of each layer blob of the tagged image), bottom first. */
export async function layerListings(oci: string, tag: string): Promise<string[][]> {
  const index = JSON.parse(await readFile(path.join(oci, 'index.json'), 'utf8'));
  const desc = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? index.manifests[0];
  const blob = (d: string) => path.join(oci, 'blobs', 'sha256', d.slice(7));
  const manifest = JSON.parse(await readFile(blob(desc.digest), 'utf8'));
  const out: string[][] = [];
  for (const l of manifest.layers as Array<{ digest: string; mediaType: string }>) {
    const flag = l.mediaType.endsWith('+gzip') ? ['-z'] : l.mediaType.endsWith('+zstd') ? ['--zstd'] : [];
    out.push((await sh('tar', [...flag, '-tf', blob(l.digest)])).split('\n').filter(Boolean).map((n) => n.replace(/^\.\//, '').replace(/\/$/, '')));
  }
  return out;
}
