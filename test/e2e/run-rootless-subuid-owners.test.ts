/**
 * Issue 10, rootless with /etc/subuid: unpacked layer trees are made inside
 * the user namespace, so a file of uid 1000 belongs to a subordinate id on
 * the host (1_100_000 + 999 for the test user) that the unprivileged caller
 * is not. COPY --from must still read a 0600 file (and a 0700 directory) of
 * that owner, and `ocibuild prune --all` must still remove the trees: both go
 * through the user namespace, as the sandbox does.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildOci, expectOk, makeActor, ocibuild, runTestsUnavailable, skipLoudly, startWorld, unpack, writeContext, type Actor, type RunWorld } from './run-harness.js';

const exec = promisify(execFile);
/** The host uid of uid 1000 inside the sandbox of the harness's subuid user (range 1_100_000, 1 -> its start). */
const SUB_1000 = 1_100_000 + 999;

/** Trees in the store's `unpacked/<alg>/<hex>`. */
async function trees(store: string): Promise<string[]> {
  const root = path.join(store, 'unpacked');
  const out: string[] = [];
  for (const alg of await readdir(root).catch(() => [] as string[])) for (const hex of await readdir(path.join(root, alg))) out.push(path.join(root, alg, hex));
  return out;
}

describe('issue 10: rootless with subordinate ids, trees owned by subordinate ids', () => {
  let world: RunWorld | undefined;
  let actor: Actor;
  let unavailable: string | undefined;

  beforeAll(async () => {
    unavailable = await runTestsUnavailable();
    if (unavailable) return;
    world = await startWorld();
    // A store of its own: the user (and its default store) is shared with the other RUN tests,
    // possibly running at the same time, and this test ages and prunes everything in its store.
    const user = await makeActor('rootless-subuid', world.tmp);
    const store = path.join(user.home, '.cache', `ocibuild-issue10-${process.pid}`);
    actor = { ...user, store, env: { ...user.env, OCIBUILD_HOME: store } };
  }, 300_000);
  afterAll(async () => {
    if (actor) await rm(actor.store, { recursive: true, force: true });
    await world?.stop();
  });

  it('COPY --from reads a 0600 file of uid 1000, and prune --all removes the trees', async () => {
    if (skipLoudly(unavailable)) return;
    const ctx = await writeContext(actor, 'subuid-owners', {
      Dockerfile: `FROM ${world!.busybox} AS first
RUN echo s > /f && chown 1000 /f && chmod 600 /f
RUN mkdir /d && echo g > /d/g && chmod 600 /d/g && chown -R 1000:1000 /d && chmod 700 /d

FROM ${world!.busybox}
COPY --from=first /f /f
COPY --from=first /d /d
`,
    });
    const { oci } = await buildOci(actor, world!.tmp, ctx, 'subuid-owners:latest');
    const bundle = await unpack(oci, 'latest', world!.tmp);
    expect(await readFile(path.join(bundle, 'rootfs/f'), 'utf8')).toBe('s\n');
    expect(await readFile(path.join(bundle, 'rootfs/d/g'), 'utf8')).toBe('g\n');
    const st = await stat(path.join(bundle, 'rootfs/f'));
    expect({ uid: st.uid, mode: st.mode & 0o7777 }).toEqual({ uid: 1000, mode: 0o600 });
    // COPY of a directory copies its content (the 0700 /d of uid 1000 was only traversed, in the namespace).
    const g = await stat(path.join(bundle, 'rootfs/d/g'));
    expect({ uid: g.uid, gid: g.gid, mode: g.mode & 0o7777 }).toEqual({ uid: 1000, gid: 1000, mode: 0o600 });

    // The stage's RUN layers were unpacked for COPY --from, owned by the subordinate id of uid 1000.
    const before = await trees(actor.store);
    const owned = (await exec('find', [...before, '-uid', String(SUB_1000)])).stdout.split('\n').filter(Boolean);
    expect(owned.map((p) => path.basename(p)).sort()).toEqual(['d', 'f', 'g']);

    // Nothing tagged (the image, and the base the build pulled into the store), and everything older
    // than prune's 15-minute grace period (aged here, as root).
    expectOk(await ocibuild(actor, world!.tmp, ['rmi', 'subuid-owners:latest', world!.busybox]));
    await exec('find', [actor.store, '-mindepth', '1', '-exec', 'touch', '-h', '-d', '@1', '{}', '+']);
    const pruned = await ocibuild(actor, world!.tmp, ['prune', '--all']);
    expectOk(pruned);
    expect(await trees(actor.store)).toEqual([]);
  }, 300_000);
});
