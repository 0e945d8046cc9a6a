// npm run bench: the layer benchmark of issue 3.
// A COPY of 20,000 small files (~100 MB) and of 4 big files (400 MB), cold,
// against `tar | tee >(sha256sum) | pigz -p2 -6 | sha256sum` and
// `tar | gzip -6 | sha256sum` on the same data, in the same run.
// Options: --runs N (default 5), --sets small,big, --data DIR (default: tmpdir), --no-registry, --no-run, --no-compression, --no-startup, --no-cache-bench, --no-rebuild,
//          --json FILE (default: <tmpdir>/ocibuild-bench-layers.json), --warm (skip cache drops)
import { option, tableLines } from './common.js';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureData } from './data.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, def) => option(args, name, def);
const runs = Number(opt('runs', '5'));
const sets = opt('sets', 'small,big').split(',');
const dataBase = opt('data', os.tmpdir());
const jsonOut = opt('json', path.join(os.tmpdir(), 'ocibuild-bench-layers.json'));
const warm = args.includes('--warm');

if (!fs.existsSync(path.join(here, '../dist/layers/index.js'))) {
  console.error('bench: dist/layers/index.js is missing; run `npm run build` first (npm run bench does).');
  process.exit(1);
}
for (const tool of ['tar', 'pigz', 'gzip', 'sha256sum', 'bash']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench: ${tool} is not installed`);
    process.exit(1);
  }
}

let dropNote = warm ? 'warm runs (--warm): page cache not dropped' : 'page cache dropped before every run';
function dropCaches() {
  if (warm) return;
  try {
    execFileSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch (e) {
    dropNote = `could not drop page caches (${e.code ?? e.message}); runs are warm`;
  }
}

const hasTime = fs.existsSync('/usr/bin/time');
/** Wall time (ms) and, with /usr/bin/time, CPU seconds (user + sys of the command and its waited-for children). */
function timed(cmd, argv) {
  const cpuFile = path.join(os.tmpdir(), `ocibuild-bench-cpu-${process.pid}`);
  const [c, a] = hasTime ? ['/usr/bin/time', ['-f', '%U %S', '-o', cpuFile, cmd, ...argv]] : [cmd, argv];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c, a, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed: ${r.stderr}`);
  let cpu;
  if (hasTime) {
    const [u, sy] = fs.readFileSync(cpuFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
    cpu = u + sy;
    fs.rmSync(cpuFile, { force: true });
  }
  return { ms, cpu, stdout: r.stdout };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

console.error('bench: preparing data sets (reused when already generated)...');
const data = ensureData(dataBase);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-bench-'));
const results = { date: new Date().toISOString(), node: process.version, zlib: process.versions.zlib, cpus: os.cpus().length, uvThreadpool: process.env.UV_THREADPOOL_SIZE ?? '4 (default)', runs, sets: {} };

try {
  for (const set of sets) {
    const dir = data[set];
    if (!dir) throw new Error(`unknown set ${set} (small, big)`);
    const bytes = data[`${set}Bytes`];
    const layerFile = path.join(work, `${set}.tar.gz`);
    const commands = {
      ocibuild: () => {
        const r = timed(process.execPath, [path.join(here, 'copy-layer.js'), dir, layerFile]);
        return { ms: r.ms, cpu: r.cpu, info: JSON.parse(r.stdout) };
      },
      pigz: () => timed('bash', ['-c', `set -o pipefail; tar -C '${dir}' -cf - . | tee >(sha256sum >/dev/null) | pigz -p2 -6 | sha256sum >/dev/null`]),
      gzip: () => timed('bash', ['-c', `set -o pipefail; tar -C '${dir}' -cf - . | gzip -6 | sha256sum >/dev/null`]),
      // The same pipeline at the level ocibuild writes (4 since issue 8): the like-for-like anchor.
      pigz4: () => timed('bash', ['-c', `set -o pipefail; tar -C '${dir}' -cf - . | tee >(sha256sum >/dev/null) | pigz -p2 -4 | sha256sum >/dev/null`]),
    };
    const times = { ocibuild: [], pigz: [], gzip: [], pigz4: [] };
    const cpus = { ocibuild: [], pigz: [], gzip: [], pigz4: [] };
    const digests = new Set();
    let info;
    for (let i = 0; i < runs; i++) {
      // Interleaved, so load changes on a shared machine hit all three alike.
      for (const name of Object.keys(commands)) {
        dropCaches();
        const r = commands[name]();
        times[name].push(r.ms);
        if (r.cpu !== undefined) cpus[name].push(r.cpu);
        if (r.info) {
          info = r.info;
          digests.add(r.info.digest);
        }
      }
      console.error(`bench: ${set} run ${i + 1}/${runs}: ${Object.entries(times).map(([k, v]) => `${k} ${(v[i] / 1000).toFixed(2)}s`).join(', ')}`);
    }
    // Check the last layer: gzip -t accepts it and it decompresses to the diffId.
    execFileSync('gzip', ['-t', layerFile]);
    const diffId = `sha256:${execFileSync('bash', ['-c', `gzip -dc '${layerFile}' | sha256sum`]).toString().split(' ')[0]}`;
    const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
    results.sets[set] = {
      dir,
      files: info.entries,
      bytes,
      tarBytes: info.uncompressedSize,
      gzipBytes: info.size,
      deterministic: digests.size === 1,
      gzipTestOk: true,
      diffIdVerified: diffId === info.diffId,
      medianMs: med,
      medianCpuSeconds: hasTime ? Object.fromEntries(Object.entries(cpus).map(([k, v]) => [k, median(v)])) : null,
      allCpuSeconds: hasTime ? cpus : null,
      allMs: times,
      lastWalkMs: info.walkMs,
      lastWriteMs: info.writeMs,
      ratioToPigz: med.ocibuild / med.pigz,
      ratioToGzip: med.ocibuild / med.gzip,
      ratioToPigz4: med.ocibuild / med.pigz4,
      throughputMBs: { ocibuild: bytes / 1e6 / (med.ocibuild / 1000), pigz: bytes / 1e6 / (med.pigz / 1000), gzip: bytes / 1e6 / (med.gzip / 1000) },
    };
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
results.cache = dropNote;
fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));

const rows = [['set', 'files', 'MB', 'ocibuild s', 'pigz -p2 -6 s', 'gzip -6 s', 'pigz -p2 -4 s', 'vs pigz -6', 'vs gzip -6', 'vs pigz -4', 'cpu s (oci/pigz/gzip/pigz4)', 'deterministic', 'gzip -t / diffId']];
for (const [set, r] of Object.entries(results.sets)) {
  rows.push([
    set,
    String(r.files),
    (r.bytes / 1e6).toFixed(0),
    (r.medianMs.ocibuild / 1000).toFixed(2),
    (r.medianMs.pigz / 1000).toFixed(2),
    (r.medianMs.gzip / 1000).toFixed(2),
    (r.medianMs.pigz4 / 1000).toFixed(2),
    `${r.ratioToPigz.toFixed(2)}x`,
    `${r.ratioToGzip.toFixed(2)}x`,
    `${r.ratioToPigz4.toFixed(2)}x`,
    r.medianCpuSeconds ? ['ocibuild', 'pigz', 'gzip', 'pigz4'].map((k) => r.medianCpuSeconds[k].toFixed(1)).join('/') : 'n/a',
    r.deterministic ? 'yes' : 'NO',
    r.diffIdVerified ? 'ok' : 'MISMATCH',
  ]);
}
for (const line of tableLines(rows)) console.log(line);
const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
results.loadAverageAtEnd = load;
fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));
console.log(`\nmedians of ${runs} interleaved runs; ${results.cache}; load average at the end: ${load}; target: 1.2x of the pigz pipeline (issue 3's anchor, at gzip -6; ocibuild writes gzip -4 since issue 8, so "vs pigz -4" is the like-for-like ratio).\nJSON: ${jsonOut}`);

// Issues 4 and 8: push and pull of both images through the CLI to a local registry, against skopeo copy.
if (!args.includes('--no-registry')) {
  const { runRegistryBench } = await import('./registry-bench.js');
  // Five runs: a push of the 43 MB image is ~0.3 s, and skopeo's own time moved by ±50 ms between runs.
  await runRegistryBench({ runs: Math.min(runs, 5) });
}

// Issue 10's benchmark: RUN steps against buildah on the same Dockerfiles.
if (!args.includes('--no-run')) {
  const { runRunBench } = await import('./run-bench.js');
  await runRunBench({ runs: Math.min(runs, 3) });
}

// Issues 8 and 12: cold build and build+push through the CLI (against the pigz pipeline and buildah), zstd against gzip.
if (!args.includes('--no-compression')) {
  const { runCompressionBench } = await import('./compression-bench.js');
  await runCompressionBench({ runs: Math.min(runs, 3), sets, data: dataBase });
}

// Issue 8's start-up benchmark: --version, build --help and the library import against `node -e 0`.
if (!args.includes('--no-startup')) {
  const { runStartupBench } = await import('./startup-bench.js');
  await runStartupBench({ runs: Math.max(15, runs) });
}

// Issue 12's benchmark: a cold CI run with a warm registry cache, against a cold build and buildah --cache-from.
if (!args.includes('--no-cache-bench')) {
  const { runCacheBench } = await import('./cache-bench.js');
  await runCacheBench({ runs: Math.min(runs, 3) });
}

// Issue 8's rebuild and memory benchmark: warm rebuild, one file changed, peak RSS of cold builds.
if (!args.includes('--no-rebuild')) {
  const { runRebuildBench } = await import('./rebuild-bench.js');
  await runRebuildBench({ runs: Math.min(runs, 3), data: dataBase });
}
