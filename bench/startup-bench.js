// Start-up benchmark of issue 8: `ocibuild --version`, `ocibuild build --help`
// and importing the library (`import('ocibuild')`: package.json's "exports", the facade that runs
// the library's bundle), each as a ratio to `node -e 0`
// in the same run. Target: 2x.
//
// Standalone: node bench/startup-bench.js [--runs N] [--json FILE]
// From bench/run.js: import { runStartupBench } from './startup-bench.js'
// (node bench/run.js --no-startup leaves it out).
//
// Every command is a fresh process, run end to end as a user runs it
// (`bin/ocibuild ...` as a command, which starts node). The commands run interleaved (anchor, then each
// command, N rounds after 3 untimed warm-up rounds) so load changes on a
// shared machine hit all of them alike; wall-time medians give the ratios.
// CPU seconds (user + sys, from /usr/bin/time, in a separate untimed-for-wall
// pass of the same rounds) are reported beside them: on a busy machine they
// move less than wall time.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '../bin/ocibuild');
const ROOT = path.join(here, '..');
const INDEX = path.join(ROOT, 'dist/lib/index.mjs');
const TARGET = 2;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// A command: [program, ...args]; `ocibuild` is run as a user runs it (bin/ocibuild as a command, which starts node).
function wall(argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

const hasTime = fs.existsSync('/usr/bin/time');
function cpu(argv) {
  const out = path.join(os.tmpdir(), `ocibuild-bench-startup-cpu-${process.pid}`);
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', '-o', out, ...argv], { stdio: 'ignore', cwd: ROOT });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed under /usr/bin/time (${r.status})`);
  const [u, s] = fs.readFileSync(out, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
  fs.rmSync(out, { force: true });
  return (u + s) * 1000;
}

export async function runStartupBench(options = {}) {
  const runs = options.runs ?? 15;
  const jsonOut = options.json ?? path.join(os.tmpdir(), 'ocibuild-bench-startup.json');
  const log = options.log ?? ((l) => console.log(l));
  if (!fs.existsSync(INDEX)) throw new Error('bench: dist/lib/index.mjs is missing; run `npm run build` first');
  // The library import as a user writes it: by the package's name, which from the package's own
  // directory resolves through its "exports" as from a dependent's node_modules.
  const libImport = `import('ocibuild')`;
  const commands = {
    anchor: { label: 'node -e 0', argv: [process.execPath, '-e', '0'] },
    version: { label: 'ocibuild --version', argv: [BIN, '--version'] },
    buildHelp: { label: 'ocibuild build --help', argv: [BIN, 'build', '--help'] },
    library: { label: `node -e "import('ocibuild')"`, argv: [process.execPath, '-e', libImport] },
  };
  // bin/ocibuild starts node without NODE_EXTRA_CA_CERTS (parsed by Node 20 before any JavaScript,
  // ~40 ms) when it is set and NODE_OPTIONS is not, and hands it to its TLS clients itself: the
  // `node -e 0` of such an environment is timed beside, so the rows say what is ours.
  const extraCa = Boolean(process.env.NODE_EXTRA_CA_CERTS);
  if (extraCa) commands.anchorClean = { label: 'node -e 0 without NODE_EXTRA_CA_CERTS', argv: ['env', '-u', 'NODE_EXTRA_CA_CERTS', process.execPath, '-e', '0'] };
  const names = Object.keys(commands);
  for (let i = 0; i < 3; i++) for (const n of names) wall(commands[n].argv);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const cpus = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < runs; i++) {
    for (const n of names) times[n].push(wall(commands[n].argv));
    if (hasTime) for (const n of names) cpus[n].push(cpu(commands[n].argv));
  }
  const med = Object.fromEntries(names.map((n) => [n, median(times[n])]));
  const medCpu = hasTime ? Object.fromEntries(names.map((n) => [n, median(cpus[n])])) : null;
  const rows = names
    .filter((n) => n !== 'anchor' && n !== 'anchorClean')
    .map((n) => ({
      name: n,
      command: commands[n].label,
      medianMs: med[n],
      anchorMs: med.anchor,
      ratio: med[n] / med.anchor,
      ratioToAnchorWithoutExtraCa: extraCa ? med[n] / med.anchorClean : null,
      cpuRatio: medCpu ? medCpu[n] / medCpu.anchor : null,
      target: TARGET,
      met: med[n] / med.anchor <= TARGET,
    }));
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  const result = { date: new Date().toISOString(), node: process.version, runs, loadAverageAtEnd: load, anchor: commands.anchor.label, medianMs: med, medianCpuMs: medCpu, rows, allMs: times, allCpuMs: hasTime ? cpus : null };
  log(`start-up bench: ${runs} interleaved runs, medians, each against \`node -e 0\` (${med.anchor.toFixed(0)} ms wall${medCpu ? `, ${medCpu.anchor.toFixed(0)} ms CPU` : ''}) in the same run:`);
  const width = Math.max(...rows.map((r) => r.command.length));
  for (const r of rows) {
    log(
      `  ${r.command.padEnd(width)}  ${r.medianMs.toFixed(0).padStart(5)} ms  anchor ${r.anchorMs.toFixed(0)} ms  ratio ${r.ratio.toFixed(2)}x` +
        `${r.cpuRatio !== null ? ` (CPU ${r.cpuRatio.toFixed(2)}x)` : ''}  target ${TARGET}x: ${r.met ? 'met' : 'NOT met'}` +
        `${r.ratioToAnchorWithoutExtraCa !== null ? `; ${r.ratioToAnchorWithoutExtraCa.toFixed(2)}x the anchor without NODE_EXTRA_CA_CERTS` : ''}`,
    );
  }
  if (extraCa) log(`  NODE_EXTRA_CA_CERTS is set: \`node -e 0\` without it takes ${med.anchorClean.toFixed(0)} ms (bin/ocibuild starts node so, the library import pays it)`);
  log(`  load average at the end: ${load}; JSON: ${jsonOut}`);
  fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2));
  return result;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  runStartupBench({ runs: opt('runs') ? Number(opt('runs')) : undefined, json: opt('json') }).catch((e) => {
    console.error(e?.message ?? e);
    process.exit(1);
  });
}
