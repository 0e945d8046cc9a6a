/**
 * `--help` without yargs (issue 8: start-up). `npm run build` runs every
 * command's `--help` through yargs once, at the widths the CLI wraps to
 * (100 off a terminal, 110 on a wide one), and keeps the text beside the
 * compiled CLI (`dist/cli/help-snapshot.json`) with the build's stamp (the
 * mtime of `main.js`): a snapshot older than the code it describes is never
 * used. Another width, another form of asking, or no snapshot: yargs answers.
 * test/e2e/help-snapshot.test.ts holds each text equal to yargs' own.
 */
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const HELP_SNAPSHOT_FILE = 'help-snapshot.json';

/** The widths yargs wraps the help to, as `main` sets it. */
export function helpWidth(): number {
  return Math.min(110, process.stdout.columns || 100);
}

/** The command whose help `argv` asks for ('' for the top level), when it is only that. */
export function helpRequest(argv: readonly string[]): string | undefined {
  const isHelp = (a: string | undefined) => a === '--help' || a === '-h';
  if (argv.length === 1 && isHelp(argv[0])) return '';
  if (argv.length === 2 && isHelp(argv[1]) && /^[a-z]+$/.test(argv[0]!)) return argv[0];
  return undefined;
}

export interface HelpSnapshot {
  version: string;
  /** mtime (ms) of the main.js it was made from. */
  stamp: number;
  /** Help text by width, then by command ('' for the top level). */
  texts: Record<string, Record<string, string>>;
}

/** The kept help for `argv`, or undefined (yargs answers). `mainUrl` is main.js's own URL. */
export function snapshotHelp(argv: readonly string[], mainUrl: string, version: string, env: Record<string, string | undefined>): string | undefined {
  if (env.OCIBUILD_HELP_SNAPSHOT === '0') return undefined;
  const command = helpRequest(argv);
  if (command === undefined) return undefined;
  try {
    const snap = JSON.parse(readFileSync(new URL(HELP_SNAPSHOT_FILE, mainUrl), 'utf8')) as HelpSnapshot;
    // Stamped with main.js, also when `mainUrl` is the bundle made from it (src/cli/entry.ts).
    if (snap.version !== version || snap.stamp !== statSync(fileURLToPath(new URL('main.js', mainUrl))).mtimeMs) return undefined;
    return snap.texts[String(helpWidth())]?.[command];
  } catch {
    return undefined;
  }
}
