// Where compression belongs (issue 8) and zstd outputs (issue 12), end to end through the CLI.
//   cold small / big   `ocibuild build` (FROM scratch, COPY . /data, a fresh store) against
//                      `tar | tee >(sha256sum) | pigz -p2 -6 | sha256sum` on the same data: target 1.0x
//                      (issue 8's anchor); also against the same pipeline with pigz -4, the level
//                      ocibuild writes since issue 8 (like for like, no target)
//   push small / big   `ocibuild build --push` (fresh store) against buildah 1.28's
//                      `bud --layers --isolation chroot --storage-driver vfs` then `buildah push`
//                      (fresh storage root) to the same local registry: target ours <= 1/1.5 of buildah
//   zstd small         `ocibuild build -o type=oci,dest=D,compression=zstd` against the same with
//                      gzip (the default), sizes of the layer, and `tar | zstd -3 -T2` against
//                      `tar | pigz -p2 -6` for the formats themselves
// Page cache dropped before every run (as bench/run.js); commands interleaved within each run.
// Standalone: node bench/compression-bench.js [--runs N] [--sets small,big] [--json FILE];
// from bench/run.js: runCompressionBench() (skipped with --no-compression).
import { option, tableLines } from './common.js';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureData } from './data.js';
import { startRegistry } from './registry-bench.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '../bin/ocibuild');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

let dropped = true;
function dropCaches() {
  try {
    execFileSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    dropped = false;
  }
}

function timed(cmd, args, env = process.env) {
  dropCaches();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.slice(0, 4).join(' ')} failed (${r.status}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}`);
  return ms;
}

/** The one layer of an OCI layout written by ocibuild: its media type and size. */
function layoutLayer(dir) {
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  return m.layers[0];
}

/**
 * Run the compression benchmark. Options: runs (default 3), sets (['small', 'big']), data (dir of
 * the data sets; default tmpdir), json (result file), log (line printer). Returns the results.
 */
export async function runCompressionBench(options = {}) {
  const runs = options.runs ?? 3;
  const sets = options.sets ?? ['small', 'big'];
  const log = options.log ?? ((l) => console.log(l));
  const jsonOut = options.json ?? path.join(os.tmpdir(), 'ocibuild-bench-compression.json');
  for (const tool of ['tar', 'pigz', 'zstd', 'sha256sum', 'bash', 'buildah', 'docker-registry']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench(compression): ${tool} is not installed`);
  }
  const data = ensureData(options.data ?? os.tmpdir());
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-bench-compression-'));
  const dockerfile = path.join(work, 'Dockerfile');
  fs.writeFileSync(dockerfile, 'FROM scratch\nCOPY . /data\n');
  const registry = await startRegistry(os.tmpdir());
  const results = { date: new Date().toISOString(), runs, node: process.version, zstd: execFileSync('zstd', ['--version'], { encoding: 'utf8' }).trim(), rows: [] };
  let n = 0;
  const fresh = (name) => {
    const d = path.join(work, `${name}-${n++}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  const ocibuild = (args) => {
    const home = fresh('home');
    const env = { PATH: process.env.PATH, HOME: home, OCIBUILD_HOME: path.join(home, 'store') };
    try {
      return timed(CLI, ['build', '-f', dockerfile, '--progress=quiet', ...args], env);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  };
  const buildahPush = (dir, ref) => {
    const root = fresh('buildah');
    const env = { PATH: process.env.PATH, HOME: root, BUILDAH_FORMAT: 'oci' };
    const g = ['--storage-driver', 'vfs', '--root', path.join(root, 'root'), '--runroot', path.join(root, 'run')];
    try {
      const build = timed('buildah', [...g, 'bud', '--quiet', '--layers', '--isolation', 'chroot', '-f', dockerfile, '-t', ref, dir], env);
      // The push follows the build at once (no cache drop in between: a user's push finds what the build left).
      const t0 = process.hrtime.bigint();
      const r = spawnSync('buildah', [...g, 'push', '--quiet', '--tls-verify=false', ref, `docker://${ref}`], { encoding: 'utf8', env });
      if (r.status !== 0) throw new Error(`buildah push failed: ${r.stderr.trim()}`);
      return build + Number(process.hrtime.bigint() - t0) / 1e6;
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
  const row = (name, ours, anchorName, anchor, target, extra = {}) => {
    const o = median(ours);
    const a = median(anchor);
    const ratio = o / a;
    results.rows.push({ name, ocibuildMs: ours, anchor: anchorName, anchorMs: anchor, medianMs: { ocibuild: o, anchor: a }, ratio, target, met: target === undefined ? null : ratio <= target, ...extra });
  };
  try {
    for (const set of sets) {
      const dir = data[set];
      if (!dir) throw new Error(`unknown set ${set} (small, big)`);
      const t = { cold: [], pigz: [], pigz4: [], push: [], buildah: [] };
      for (let i = 0; i < runs; i++) {
        t.cold.push(ocibuild([dir]));
        t.pigz.push(timed('bash', ['-c', `set -o pipefail; tar -C '${dir}' -cf - . | tee >(sha256sum >/dev/null) | pigz -p2 -6 | sha256sum >/dev/null`]));
        // The same pipeline at the level ocibuild writes (gzip 4 since issue 8): the like-for-like anchor.
        t.pigz4.push(timed('bash', ['-c', `set -o pipefail; tar -C '${dir}' -cf - . | tee >(sha256sum >/dev/null) | pigz -p2 -4 | sha256sum >/dev/null`]));
        t.push.push(ocibuild(['-t', `${registry.host}/bench/${set}-o${i}:latest`, '--push', dir]));
        t.buildah.push(buildahPush(dir, `${registry.host}/bench/${set}-b${i}:latest`));
        log(`bench(compression): ${set} run ${i + 1}/${runs}: ${Object.entries(t).map(([k, v]) => `${k} ${(v[i] / 1000).toFixed(2)}s`).join(', ')}`);
      }
      row(`cold build, ${set}`, t.cold, 'tar | tee >(sha256sum) | pigz -p2 -6 | sha256sum', t.pigz, 1.0);
      row(`cold build, ${set} (same level)`, t.cold, 'the same pipeline with pigz -p2 -4', t.pigz4, undefined);
      row(`build then push, ${set}`, t.push, 'buildah bud (vfs) then buildah push', t.buildah, 1 / 1.5);
    }
    if (sets.includes('small')) {
      const dir = data.small;
      const t = { gzip: [], zstd: [], pigz: [], zstdCli: [] };
      const sizes = {};
      for (let i = 0; i < runs; i++) {
        for (const c of ['gzip', 'zstd']) {
          const dest = fresh(`oci-${c}`);
          t[c].push(ocibuild(['-o', `type=oci,dest=${dest}${c === 'zstd' ? ',compression=zstd' : ''}`, dir]));
          const l = layoutLayer(dest);
          sizes[c] = { size: l.size, mediaType: l.mediaType };
          fs.rmSync(dest, { recursive: true, force: true });
        }
        t.pigz.push(timed('bash', ['-c', `set -o pipefail; tar -C '${dir}' -cf - . | pigz -p2 -6 | wc -c >/dev/null`]));
        t.zstdCli.push(timed('bash', ['-c', `set -o pipefail; tar -C '${dir}' -cf - . | zstd -q -3 -T2 | wc -c >/dev/null`]));
        log(`bench(compression): zstd run ${i + 1}/${runs}: ${Object.entries(t).map(([k, v]) => `${k} ${(v[i] / 1000).toFixed(2)}s`).join(', ')}`);
      }
      const tarBytes = Number(execFileSync('bash', ['-c', `tar -C '${dir}' -cf - . | wc -c`], { encoding: 'utf8' }).trim());
      const cliSizes = {
        gzip: Number(execFileSync('bash', ['-c', `tar -C '${dir}' -cf - . | pigz -p2 -6 | wc -c`], { encoding: 'utf8' }).trim()),
        zstd: Number(execFileSync('bash', ['-c', `tar -C '${dir}' -cf - . | zstd -q -3 -T2 | wc -c`], { encoding: 'utf8' }).trim()),
      };
      row('build -o type=oci,compression=zstd, small', t.zstd, 'the same build with gzip (default)', t.gzip, undefined, { sizes, tarBytes });
      row('tar | zstd -3 -T2, small', t.zstdCli, 'tar | pigz -p2 -6', t.pigz, undefined, { sizes: cliSizes, tarBytes });
    }
  } finally {
    registry.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  results.cache = dropped ? 'page cache dropped before every run' : 'could not drop page caches; runs are warm';
  results.loadAverageAtEnd = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));
  const table = [['what', 'ocibuild s', 'anchor', 'anchor s', 'ratio', 'target', 'met']];
  for (const r of results.rows) {
    const mb = (x) => ((x.size ?? x) / 1e6).toFixed(1);
    const size = r.sizes ? ` (zstd ${mb(r.sizes.zstd)} MB, gzip ${mb(r.sizes.gzip)} MB of ${(r.tarBytes / 1e6).toFixed(1)} MB)` : '';
    table.push([r.name + size, (r.medianMs.ocibuild / 1000).toFixed(2), r.anchor, (r.medianMs.anchor / 1000).toFixed(2), `${r.ratio.toFixed(2)}x`, r.target === undefined ? '-' : `${r.target.toFixed(2)}x`, r.met === null ? '-' : r.met ? 'yes' : 'NO']);
  }
  log('\nCompression (issues 8 and 12): medians of ' + runs + ' interleaved runs, through the CLI');
  for (const line of tableLines(table)) log(line);
  log(`${results.cache}; load average at the end: ${results.loadAverageAtEnd}; zstd: ${results.zstd}\nJSON: ${jsonOut}`);
  return results;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, def) => option(args, name, def);
  await runCompressionBench({ runs: Number(opt('runs', '3')), sets: opt('sets', 'small,big').split(','), ...(opt('json') ? { json: opt('json') } : {}) });
}
