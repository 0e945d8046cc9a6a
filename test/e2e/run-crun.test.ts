/**
 * The built image really runs: FROM a busybox base made offline, COPY, CMD;
 * written as an OCI layout, unpacked by umoci, run by crun (runc as fallback).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from '../../src/build.js';
import { Store } from '../../src/cache/store.js';
import { makeBusyboxImage } from '../base-image.js';
import { probeRuntime } from '../runtime.js';

const exec = promisify(execFile);

describe('an image built FROM a local busybox runs in an OCI runtime', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-run-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('prints what its CMD prints', async () => {
    const probe = await probeRuntime();
    if (!probe.runtime || process.getuid?.() !== 0) {
      const why = probe.reason ?? 'not running as root (umoci unpack and crun run need root or user namespaces here)';
      if (process.env.CI) throw new Error(`cannot run containers on CI: ${why}`);
      console.warn(`SKIPPED (loudly): running the built image needs an OCI runtime: ${why}`);
      return;
    }
    const store = await Store.open(path.join(tmp, 'store'));
    await makeBusyboxImage(store, 'busybox:test');
    const ctx = path.join(tmp, 'ctx');
    await exec('mkdir', ['-p', ctx]);
    await writeFile(path.join(ctx, 'greeting'), 'hello from an ocibuild image\n');
    const oci = path.join(tmp, 'oci');
    const result = await build({
      context: ctx,
      dockerfile: 'FROM busybox:test\nWORKDIR /srv\nCOPY greeting .\nCMD ["sh", "-c", "cat greeting; echo user=$(id -u) cwd=$(pwd)"]\n',
      store,
      env: {},
      platforms: ['linux/amd64'],
      outputs: [`type=oci,dest=${oci}`],
      tags: ['hello:run'],
    });
    expect(result.bases).toEqual([expect.stringMatching(/^busybox:test@sha256:|^busybox@sha256:/)]);
    const bundle = path.join(tmp, 'bundle');
    // The layout names the image by its tag (org.opencontainers.image.ref.name), as containerd's exporter does.
    await exec('umoci', ['unpack', '--image', `${oci}:run`, bundle]);
    const spec = JSON.parse(await readFile(path.join(bundle, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    delete spec.process.rlimits; // root here lacks CAP_SYS_RESOURCE: never raise rlimits
    await writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const id = `ocibuild-test-${process.pid}`;
    const { stdout } = await exec(probe.runtime, ['run', '--bundle', bundle, id], { timeout: 60_000 });
    expect(stdout).toBe('hello from an ocibuild image\nuser=0 cwd=/srv\n');
  });
});
