/**
 * Issue 11: a cache mount on the Debian base. BuildKit's recipe for apt
 * (https://docs.docker.com/build/cache/optimize/#use-cache-mounts): the apt
 * archives and lists in `locked` cache mounts, Docker's `docker-clean` hook
 * removed first (it deletes downloaded .debs after each install; our
 * debootstrap base has none, so the `rm -f` is a no-op here, kept as the
 * recipe has it). Built once, then again with `--no-cache`: the step runs
 * again, downloads no .deb (apt says "Need to get 0 B"), and leaves the same
 * layer: the same entries (names, modes, owners, sizes, mtimes) and the same
 * bytes but for apt's and dpkg's logs, which hold the time of the run, so
 * the diffIds differ by those logs alone. The cache directories are listed
 * by `ocibuild images --caches`.
 *
 * SOURCE_DATE_EPOCH=0 clamps the layer's mtimes (dpkg writes its database
 * files at install time): without it no two installs give the same layer.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildOci, makeActor, ocibuild, expectOk, runTestsUnavailable, skipLoudly, startWorld, writeContext, type Actor, type RunWorld } from './run-harness.js';

const exec = promisify(execFile);

const RUN =
  'RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked ' +
  'rm -f /etc/apt/apt.conf.d/docker-clean; apt-get update && apt-get install -y --no-install-recommends hello';

/** Files of the layer that hold the time of the run: the only ones allowed to differ between two runs. */
const TIMESTAMPED = ['var/log/apt/eipp.log.xz', 'var/log/apt/history.log', 'var/log/apt/term.log', 'var/log/dpkg.log'];

/** The layout's image (by its ref name: the tag's last part): its layer blobs (bottom first) with their diffIds and media types. */
async function layers(oci: string, tag: string): Promise<Array<{ file: string; diffId: string; mediaType: string }>> {
  const blob = (d: string) => path.join(oci, 'blobs', 'sha256', d.slice(7));
  const index = JSON.parse(await readFile(path.join(oci, 'index.json'), 'utf8'));
  const desc = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!desc) throw new Error(`${oci} has no image tagged ${tag}`);
  const manifest = JSON.parse(await readFile(blob(desc.digest), 'utf8'));
  const config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8'));
  return (manifest.layers as Array<{ digest: string; mediaType: string }>).map((l, i) => ({ file: blob(l.digest), diffId: config.rootfs.diff_ids[i], mediaType: l.mediaType }));
}

async function tar(args: string[]): Promise<string> {
  return (await exec('tar', args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
}

describe('issue 11: RUN --mount=type=cache for apt on the Debian base', () => {
  let world: RunWorld | undefined;
  let actor: Actor;
  let unavailable: string | undefined;

  beforeAll(async () => {
    unavailable = await runTestsUnavailable();
    if (unavailable) return;
    world = await startWorld({ debian: true });
    unavailable = world.debianMissing;
    const root = await makeActor('root', world.tmp);
    actor = { ...root, env: { ...root.env, SOURCE_DATE_EPOCH: '0' } };
  }, 900_000);
  afterAll(async () => {
    await world?.stop();
  });

  it('a rebuild with --no-cache runs the step again, downloads no .deb and leaves the same layer but for the logs of apt and dpkg (the time of the run); the caches are listed', async () => {
    if (skipLoudly(unavailable)) return;
    const ctx = await writeContext(actor, 'apt-cache', { Dockerfile: `FROM ${world!.debian}\n${RUN}\nCMD ["hello"]\n` });
    const first = await buildOci(actor, world!.tmp, ctx, 'apt-cache:1', ['--progress=plain']);
    const out1 = first.run.stderr + first.run.stdout;
    expect(out1).toMatch(/Get:\d+ \S+ bookworm\/main \S+ hello /); // the first run downloads the .deb
    // Its own context dir, so its own OCI layout (the first one stays as it is).
    const ctx2 = await writeContext(actor, 'apt-cache-again', { Dockerfile: `FROM ${world!.debian}\n${RUN}\nCMD ["hello"]\n` });
    const second = await buildOci(actor, world!.tmp, ctx2, 'apt-cache:2', ['--progress=plain', '--no-cache']);
    const out2 = second.run.stderr + second.run.stdout;
    // The step ran again (apt printed), but the .deb came from the cache mount.
    expect(out2).toMatch(/Unpacking hello/);
    expect(out2).toMatch(/Need to get 0 B(\/[\d.,]+ [kM]?B)? of archives/);
    expect(out2).not.toMatch(/Get:\d+ \S+ bookworm\/main \S+ hello /);

    const [l1, l2] = [await layers(first.oci, '1'), await layers(second.oci, '2')];
    expect(l1).toHaveLength(2);
    expect(l2).toHaveLength(2);
    const z = (mediaType: string) => (mediaType.endsWith('+gzip') ? ['-z'] : mediaType.endsWith('+zstd') ? ['--zstd'] : []);
    const listing = async (l: { file: string; mediaType: string }) => tar([...z(l.mediaType), '--numeric-owner', '--full-time', '-tvf', l.file]);
    const [list1, list2] = [await listing(l1[1]!), await listing(l2[1]!)];
    // Neither the mount targets' content nor the mount points are in the layer.
    expect(list1).not.toMatch(/var\/cache\/apt|var\/lib\/apt/);
    expect(list1).toMatch(/usr\/bin\/hello/);
    // The same entries: names, types, modes, owners, sizes, mtimes (clamped), link targets.
    expect(list2).toBe(list1);
    // The same bytes, except apt's and dpkg's logs, which hold the time of the run (dpkg.log's
    // lines, history.log's Start-Date/End-Date, term.log's "Log started", eipp.log.xz's Date).
    const dirs = [path.join(world!.tmp, 'layer-1'), path.join(world!.tmp, 'layer-2')];
    for (const [i, l] of [l1[1]!, l2[1]!].entries()) {
      await mkdir(dirs[i]!, { recursive: true });
      await tar([...z(l.mediaType), '-xf', l.file, '-C', dirs[i]!]);
    }
    const diff = await exec('diff', ['-rq', '--no-dereference', ...dirs]).then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
    const differing = diff.split('\n').filter(Boolean).map((l) => /^Files \S+?\/layer-1\/(\S+) and /.exec(l)?.[1] ?? l);
    for (const f of differing) expect(TIMESTAMPED).toContain(f);
    // So the diffIds are equal exactly when the runs' logs are (never, in practice: they differ in time).
    if (differing.length === 0) expect(l2[1]!.diffId).toBe(l1[1]!.diffId);

    const caches = await ocibuild(actor, world!.tmp, ['images', '--caches']);
    expectOk(caches);
    expect(caches.stdout).toMatch(/^\/var\/cache\/apt\s+\d/m);
    expect(caches.stdout).toMatch(/^\/var\/lib\/apt\s+\d/m);
  }, 900_000);
});
