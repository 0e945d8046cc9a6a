// Part of `npm run build` (and of the tests' ensureDist): runs `--help` and
// `COMMAND --help` through the compiled CLI's yargs at each width the CLI
// wraps to, and writes dist/cli/help-snapshot.json for main's fast path
// (src/cli/help-snapshot.ts), stamped with main.js's mtime.
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli');
const { main } = await import(path.join(dist, 'main.js'));
const { ocibuildVersion } = await import(path.join(dist, 'version.js'));
const { HELP_SNAPSHOT_FILE } = await import(path.join(dist, 'help-snapshot.js'));

async function help(argv) {
  let out = '';
  const io = {
    stdout: { write: (s) => (out += s) },
    stderr: { write: () => undefined },
    env: { OCIBUILD_HELP_SNAPSHOT: '0' },
    cwd: process.cwd(),
    readStdin: async () => '',
  };
  const code = await main(argv, io);
  if (code !== 0) throw new Error(`ocibuild ${argv.join(' ')} exited with ${code}`);
  return out;
}

const saved = Object.getOwnPropertyDescriptor(process.stdout, 'columns');
const texts = {};
try {
  for (const width of [100, 110]) {
    Object.defineProperty(process.stdout, 'columns', { value: width, configurable: true, writable: true });
    const top = await help(['--help']);
    const commands = [...top.matchAll(/^ {2}ocibuild ([a-z]+)\b/gm)].map((m) => m[1]);
    if (commands.length === 0) throw new Error('no commands found in the top-level help');
    texts[width] = { '': top };
    for (const c of commands) texts[width][c] = await help([c, '--help']);
  }
} finally {
  if (saved) Object.defineProperty(process.stdout, 'columns', saved);
  else delete process.stdout.columns;
}
const stamp = statSync(path.join(dist, 'main.js')).mtimeMs;
writeFileSync(path.join(dist, HELP_SNAPSHOT_FILE), JSON.stringify({ version: ocibuildVersion(), stamp, texts }));
