/**
 * Issue 12, zstd layers: `--output ...,compression=zstd|uncompressed|gzip,compression-level=N,
 * force-compression=true` as buildx defines them. Checked with skopeo (inspect, copy to a dir, which
 * verifies every digest), umoci, and a RUN-free round trip through the real distribution registry:
 * a zstd image pushed, then pulled back by ocibuild into an empty store and used as a base.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/cache/store.js';
import { convertLayerBlob } from '../../src/output/convert.js';
import { parseDigest } from '../../src/oci/digest.js';
import { runCli } from '../cli-io.js';
import { run, startRegistry, type TestRegistry } from '../registry/harness.js';
import { initLayout, pushBaseImage, writeBusyboxLayer, writeImage, writeLayoutIndex } from '../registry/base-image.js';

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const TAR = 'application/vnd.oci.image.layer.v1.tar';

interface Manifest {
  config: { digest: string };
  layers: { mediaType: string; digest: string; size: number }[];
}

/** The manifest an OCI layout's index.json names first. */
function layoutManifest(dir: string): { digest: string; manifest: Manifest } {
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const digest = index.manifests[0]!.digest;
  return { digest, manifest: JSON.parse(readFileSync(path.join(dir, 'blobs/sha256', digest.slice(7)), 'utf8')) as Manifest };
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('zstd and uncompressed outputs (issue 12)', () => {
  let tmp: string;
  let reg: TestRegistry;
  let base: string;
  let ctx: string;
  let n = 0;
  const env = (store: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: tmp, OCIBUILD_HOME: store });
  const build = async (args: string[], store = path.join(tmp, 'store')) => {
    const r = await runCli([ctx, '--progress=plain', ...args], { env: env(store) });
    if (r.code !== 0) throw new Error(r.stderr);
    return r;
  };
  const ociOut = async (keys: string, store?: string) => {
    const dest = path.join(tmp, `oci-${n++}`);
    await build(['-t', 'app:1', '-o', `type=oci,dest=${dest}${keys}`], store);
    return { dest, ...layoutManifest(dest) };
  };

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-zstd-out-'));
    reg = await startRegistry({ auth: 'none' });
    // A gzip base (made with GNU tar and gzip, not ocibuild), served by the registry.
    const layout = path.join(tmp, 'base');
    await initLayout(layout);
    const l1 = await writeBusyboxLayer(layout, '/bin/busybox', 'gzip');
    const m = await writeImage(layout, [l1]);
    await writeLayoutIndex(layout, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size, tag: 'latest' }]);
    await pushBaseImage(reg, layout, 'base/gbox:1');
    base = `${reg.host}/base/gbox:1`;
    ctx = path.join(tmp, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY msg /msg\nCOPY big /big\n`);
    await writeFile(path.join(ctx, 'msg'), 'hello from a zstd output\n');
    await writeFile(path.join(ctx, 'big'), Array.from({ length: 40_000 }, (_, i) => `line ${i}\n`).join(''));
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('compression=zstd: built layers zstd, the base kept as pulled; skopeo copies it', async () => {
    const plain = await ociOut('');
    expect(plain.manifest.layers.map((l) => l.mediaType)).toEqual([GZIP, GZIP, GZIP]);
    const z = await ociOut(',compression=zstd');
    expect(z.manifest.layers.map((l) => l.mediaType)).toEqual([GZIP, ZSTD, ZSTD]);
    expect(z.manifest.layers[0]).toEqual(plain.manifest.layers[0]); // base layer untouched
    expect(z.manifest.config.digest).toBe(plain.manifest.config.digest); // same diff_ids: same config
    for (const l of z.manifest.layers.slice(1)) {
      const blob = readFileSync(path.join(z.dest, 'blobs/sha256', l.digest.slice(7)));
      expect(blob.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
      expect(sha(blob)).toBe(l.digest);
      expect(blob.length).toBe(l.size);
    }
    const inspected = JSON.parse(await run('skopeo', ['inspect', `oci:${z.dest}:1`])) as { Layers: string[] };
    expect(inspected.Layers).toEqual(z.manifest.layers.map((l) => l.digest));
    const dir = path.join(tmp, 'skopeo-dir');
    await run('skopeo', ['copy', `oci:${z.dest}:1`, `dir:${dir}`]); // verifies every blob's digest on the way
    const copied = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    expect(copied.layers).toEqual(z.manifest.layers);
    // Debian's umoci 0.4.7 reads no zstd layer ("blob is not correct mediatype"); it is checked on the
    // uncompressed output below, and zstd layers are read back by ocibuild in the round trip.
  }, 180_000);

  it('force-compression=true converts the base too; uncompressed writes plain tars; gzip levels apply to built layers', async () => {
    const forced = await ociOut(',compression=zstd,force-compression=true');
    expect(forced.manifest.layers.map((l) => l.mediaType)).toEqual([ZSTD, ZSTD, ZSTD]);
    const tar = await ociOut(',compression=uncompressed');
    expect(tar.manifest.layers.map((l) => l.mediaType)).toEqual([GZIP, TAR, TAR]);
    const tarAll = await ociOut(',compression=uncompressed,force-compression=true');
    expect(tarAll.manifest.layers.map((l) => l.mediaType)).toEqual([TAR, TAR, TAR]);
    // An uncompressed layer's digest is its diffId.
    const config = JSON.parse(readFileSync(path.join(tarAll.dest, 'blobs/sha256', tarAll.manifest.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
    expect(tarAll.manifest.layers.map((l) => l.digest)).toEqual(config.rootfs.diff_ids);
    await run('skopeo', ['inspect', `oci:${tarAll.dest}:1`]);
    const bundle = path.join(tmp, 'bundle');
    await run('umoci', ['unpack', '--image', `${tarAll.dest}:1`, bundle]);
    expect(await readFile(path.join(bundle, 'rootfs/msg'), 'utf8')).toBe('hello from a zstd output\n');
    expect((await lstat(path.join(bundle, 'rootfs/bin/busybox'))).isFile()).toBe(true);
    // A gzip level is a conversion of the built layers only.
    const g9 = await ociOut(',compression=gzip,compression-level=9');
    expect(g9.manifest.layers.map((l) => l.mediaType)).toEqual([GZIP, GZIP, GZIP]);
    const plain = layoutManifest(path.join(tmp, 'oci-0')).manifest;
    expect(g9.manifest.layers[0]).toEqual(plain.layers[0]);
    expect(g9.manifest.layers[2]!.digest).not.toBe(plain.layers[2]!.digest); // level 9, not the default
    // compression=gzip at the default level is what the store holds: nothing to convert, the same image.
    const g6 = await ociOut(',compression=gzip');
    expect(g6.digest).toBe(layoutManifest(path.join(tmp, 'oci-0')).digest);
  }, 180_000);

  it('is reproducible: the same zstd image from two empty stores; a second output reuses the stored conversion', async () => {
    const a = await ociOut(',compression=zstd,force-compression=true', path.join(tmp, 'store-a'));
    const b = await ociOut(',compression=zstd,force-compression=true', path.join(tmp, 'store-b'));
    expect(a.digest).toBe(b.digest);
    // In store-a the conversions are recorded: converting again writes no blob.
    const store = await Store.open(path.join(tmp, 'store-a'));
    let writers = 0;
    const createWriter = store.createWriter.bind(store);
    store.createWriter = (o) => {
      writers++;
      return createWriter(o);
    };
    const layer = a.manifest.layers[1]!;
    const p = layoutManifest(path.join(tmp, 'oci-0')).manifest.layers[1]!;
    const source = { mediaType: p.mediaType, digest: parseDigest(p.digest), size: p.size };
    const again = await convertLayerBlob(store, source, { compression: 'zstd' });
    expect(again.digest).toBe(layer.digest);
    expect(writers).toBe(0);
    // Another level is another conversion, done once.
    const other = await convertLayerBlob(store, source, { compression: 'zstd', level: 9 });
    expect(writers).toBe(1);
    expect(other.digest).not.toBe(layer.digest);
    await convertLayerBlob(store, source, { compression: 'zstd', level: 9 });
    expect(writers).toBe(1);
  }, 180_000);

  it('round trip: pushed as zstd, read by skopeo, pulled back by ocibuild into an empty store and built upon', async () => {
    const ref = `${reg.host}/app/zimg:1`;
    await build(['-t', ref, '-o', 'type=registry,compression=zstd,force-compression=true']);
    const raw = JSON.parse(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as Manifest;
    expect(raw.layers.map((l) => l.mediaType)).toEqual([ZSTD, ZSTD, ZSTD]);
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `dir:${path.join(tmp, 'pulled-dir')}`]);
    const ctx2 = path.join(tmp, 'ctx2');
    await mkdir(ctx2, { recursive: true });
    await writeFile(path.join(ctx2, 'Dockerfile'), `FROM ${ref}\nCOPY two /two\n`);
    await writeFile(path.join(ctx2, 'two'), 'second\n');
    const dest = path.join(tmp, 'rootfs');
    const r = await runCli([ctx2, '--progress=plain', '-o', `type=local,dest=${dest}`], { env: env(path.join(tmp, 'store-fresh')) });
    if (r.code !== 0) throw new Error(r.stderr);
    expect(await readFile(path.join(dest, 'msg'), 'utf8')).toBe('hello from a zstd output\n');
    expect(await readFile(path.join(dest, 'two'), 'utf8')).toBe('second\n');
    expect((await readFile(path.join(dest, 'big'), 'utf8')).split('\n')).toHaveLength(40_001);
    expect((await readdir(path.join(dest, 'bin'))).length).toBeGreaterThan(1);

    // That zstd image as a base: compression=gzip keeps its zstd layers, force-compression=true
    // converts them, and our layers come back as the very gzip bytes the first build wrote.
    const out = path.join(tmp, 'from-zstd');
    const keep = path.join(tmp, 'from-zstd-keep');
    const fresh = path.join(tmp, 'store-fresh');
    for (const [dest2, keys] of [[keep, ',compression=gzip'], [out, ',compression=gzip,force-compression=true']] as const) {
      const r2 = await runCli([ctx2, '--progress=plain', '-t', 'z:1', '-o', `type=oci,dest=${dest2}${keys}`], { env: env(fresh) });
      if (r2.code !== 0) throw new Error(r2.stderr);
    }
    expect(layoutManifest(keep).manifest.layers.map((l) => l.mediaType)).toEqual([ZSTD, ZSTD, ZSTD, GZIP]);
    const back = layoutManifest(out).manifest.layers;
    expect(back.map((l) => l.mediaType)).toEqual([GZIP, GZIP, GZIP, GZIP]);
    const first = layoutManifest(path.join(tmp, 'oci-0')).manifest.layers;
    expect(back.slice(1, 3)).toEqual(first.slice(1, 3));
    await run('skopeo', ['inspect', `oci:${out}:1`]);
  }, 180_000);

  it('refuses compression keys where buildx has none, and bad values, before building', async () => {
    for (const [o, why] of [
      ['type=docker,dest=x.tar,compression=zstd', /does not take compression=/],
      ['type=oci,dest=x,compression=brotli', /compression=brotli is not supported/],
      ['type=oci,dest=x,compression=zstd,compression-level=22', /from 1 to 19/],
    ] as const) {
      const r = await runCli([ctx, '-o', o], { env: env(path.join(tmp, 'store')) });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toMatch(/OUTPUT_INVALID/);
    }
  });
});
