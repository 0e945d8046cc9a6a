import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HELP_SNAPSHOT_FILE, helpRequest, helpWidth, snapshotHelp } from './help-snapshot.js';

describe('help snapshot', () => {
  let dir: string;
  let mainUrl: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ocibuild-help-'));
    writeFileSync(path.join(dir, 'main.js'), '');
    mainUrl = pathToFileURL(path.join(dir, 'main.js')).href;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const write = (over: Record<string, unknown> = {}) =>
    writeFileSync(path.join(dir, HELP_SNAPSHOT_FILE), JSON.stringify({ version: '1.0.0', stamp: statSync(path.join(dir, 'main.js')).mtimeMs, texts: { [helpWidth()]: { '': 'TOP\n', build: 'BUILD\n' } }, ...over }));

  it('answers only `--help`, `-h` and `COMMAND --help`', () => {
    expect(helpRequest(['--help'])).toBe('');
    expect(helpRequest(['-h'])).toBe('');
    expect(helpRequest(['build', '--help'])).toBe('build');
    expect(helpRequest(['build', '-h'])).toBe('build');
    for (const other of [[], ['build'], ['build', '-t', 'x', '--help'], ['--help', 'build'], ['./ctx', '--help'], ['--version']]) expect(helpRequest(other)).toBeUndefined();
  });

  it('gives the kept text for the current build, width and version, and nothing otherwise', () => {
    write();
    expect(snapshotHelp(['build', '--help'], mainUrl, '1.0.0', {})).toBe('BUILD\n');
    expect(snapshotHelp(['--help'], mainUrl, '1.0.0', {})).toBe('TOP\n');
    expect(snapshotHelp(['pull', '--help'], mainUrl, '1.0.0', {})).toBeUndefined();
    expect(snapshotHelp(['build', '--help'], mainUrl, '1.0.1', {})).toBeUndefined();
    expect(snapshotHelp(['build', '--help'], mainUrl, '1.0.0', { OCIBUILD_HELP_SNAPSHOT: '0' })).toBeUndefined();
    // main.js rebuilt after the snapshot was made: stale, not used.
    write({ stamp: 1 });
    expect(snapshotHelp(['build', '--help'], mainUrl, '1.0.0', {})).toBeUndefined();
    // Another width than the snapshot's.
    write({ texts: { 7: { build: 'NARROW\n' } } });
    expect(snapshotHelp(['build', '--help'], mainUrl, '1.0.0', {})).toBeUndefined();
    writeFileSync(path.join(dir, HELP_SNAPSHOT_FILE), '{"version":');
    expect(snapshotHelp(['build', '--help'], mainUrl, '1.0.0', {})).toBeUndefined();
  });
});
