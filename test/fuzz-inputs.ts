/**
 * Deterministic fuzz inputs for the Dockerfile front end: random Dockerfiles
 * built from the syntax's sharp edges, and byte-level mutations of a corpus
 * (the conformance testfiles). No dependencies; a fixed seed gives the same
 * inputs on every machine.
 */
import fs from 'node:fs';
import path from 'node:path';

/** A seeded PRNG (mulberry32): returns floats in [0, 1). */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One generated input. */
export interface FuzzInput {
  /** Position in the sequence (reproduce a failure with the same seed). */
  index: number;
  kind: 'random' | 'mutated';
  bytes: Uint8Array;
}

/** Options of generateFuzzInputs. */
export interface FuzzOptions {
  seed: number;
  count: number;
  /** Files to mutate; without any, only random Dockerfiles are produced. */
  corpus: Uint8Array[];
}

/** The parser corpus: every Dockerfile under buildkit-parser/ in the conformance data. */
export function loadParserCorpus(conformanceDir: string): Uint8Array[] {
  const root = path.join(conformanceDir, 'buildkit-parser');
  const out: Uint8Array[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name === 'Dockerfile') out.push(new Uint8Array(fs.readFileSync(p)));
    }
  };
  walk(root);
  return out;
}

const KEYWORDS = [
  'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME',
  'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'from', 'Run', 'copy', 'EOF', 'FOO',
];

const FLAGS = [
  '--from=builder', '--mount=type=cache,target=/root/.cache', '--chown="user group"', "--chmod='755'",
  '--', '--link', '--platform=$BUILDPLATFORM', '--network=none', '--x=\\"y', '--chown=é', '--a="b', '---', '--=',
];

const ARGS = [
  'alpine:3.20', 'a b c', 'echo hello && echo world', '["sh", "-c", "echo hi"]', '[]', '["a", ["b"]]', '["a", 1]',
  '[ "unterminated', "['single']", 'key=value other="a b"', 'legacy value with spaces', 'k=v\\ w', '"quoted key"=v',
  '<<EOF', '<<-EOF', "<<'EOF' cat", '3<<EOF2 <<EOF3', '<< EOF', '<<- EOF', '"<<X"', 'CMD curl -f http://x/',
  'NONE', 'RUN echo onbuild', 'ONBUILD RUN <<EOF', '8080/tcp 53/udp', '${VAR:-default} $HOME', '`backtick`',
  '\\', 'a \\', 'x # not a comment', '{"json": "object"}', 'é ñ ☃ 日本', '\u00a0nbsp\u00a0', '"', "'",
];

const SPECIAL = [
  '\\', '\\\n', '`', '`\n', '"', "'", '<<', '<<-', '[', ']', '{', '}', ',', '=', '--', '#', '# escape=`\n',
  '# syntax=x\n', '# check=skip=all\n', '\r', '\r\n', '\n', '\n\n', '\t', ' ', '\u00a0', '\u0085', '\ufeff',
  '\u0000', '$', '${', '}', 'EOF\n', '\u2028', '日本',
];

const enc = new TextEncoder();

function pick<T>(rng: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rng() * xs.length)]!;
}

function int(rng: () => number, n: number): number {
  return Math.floor(rng() * n);
}

function randomDockerfile(rng: () => number): Uint8Array {
  const lines: string[] = [];
  if (rng() < 0.2) lines.push(pick(rng, ['# escape=`', '# syntax=docker/dockerfile:1', '#!/bin/sh', '# check=error=true', '# ESCAPE=\\']));
  const n = 1 + int(rng, 12);
  for (let i = 0; i < n; i++) {
    const r = rng();
    if (r < 0.1) {
      lines.push(pick(rng, ['# a comment', '', '   ', '  # indented', '#']));
      continue;
    }
    let line = pick(rng, KEYWORDS);
    const flags = int(rng, 3);
    for (let f = 0; f < flags; f++) line += ' ' + pick(rng, FLAGS);
    const args = int(rng, 4);
    for (let a = 0; a < args; a++) line += (rng() < 0.8 ? ' ' : '\t') + pick(rng, ARGS);
    if (rng() < 0.15) line += ' \\\n' + (rng() < 0.3 ? '' : rng() < 0.5 ? '# inside\n  ' : '  ') + pick(rng, ARGS);
    lines.push(line);
    if (line.includes('<<') && rng() < 0.8) {
      const name = /<<-?\s*'?"?([A-Za-z0-9]+)/.exec(line)?.[1] ?? 'EOF';
      lines.push(pick(rng, ['echo body', '\tindented', '# not a comment', 'RUN not an instruction', '']));
      if (rng() < 0.85) lines.push((rng() < 0.3 ? '\t' : '') + name);
    }
  }
  const eol = rng() < 0.2 ? '\r\n' : '\n';
  let text = lines.join(eol);
  if (rng() < 0.7) text += eol;
  if (rng() < 0.05) text = '\ufeff' + text;
  return enc.encode(text);
}

function mutate(rng: () => number, input: Uint8Array): Uint8Array {
  let bytes = Array.from(input);
  const ops = 1 + int(rng, 8);
  for (let k = 0; k < ops; k++) {
    const at = int(rng, bytes.length + 1);
    switch (int(rng, 7)) {
      case 0: // insert a random byte
        bytes.splice(at, 0, int(rng, 256));
        break;
      case 1: // insert a token with meaning
        bytes.splice(at, 0, ...enc.encode(pick(rng, SPECIAL)));
        break;
      case 2: // delete a run
        bytes.splice(at, 1 + int(rng, 16));
        break;
      case 3: {
        // duplicate a run
        const len = 1 + int(rng, 32);
        bytes.splice(at, 0, ...bytes.slice(at, at + len));
        break;
      }
      case 4: // overwrite a byte
        if (at < bytes.length) bytes[at] = int(rng, 256);
        break;
      case 5: // insert invalid or truncated UTF-8
        bytes.splice(at, 0, ...pick(rng, [[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc2, 0xa0], [0xf4, 0x90, 0x80, 0x80]]));
        break;
      case 6: // truncate
        bytes = bytes.slice(0, at);
        break;
    }
  }
  return new Uint8Array(bytes);
}

/** The inputs, in a fixed order for a given seed. */
export function* generateFuzzInputs(options: FuzzOptions): Generator<FuzzInput> {
  const rng = createRng(options.seed);
  for (let index = 0; index < options.count; index++) {
    if (options.corpus.length === 0 || rng() < 0.4) {
      yield { index, kind: 'random', bytes: randomDockerfile(rng) };
    } else {
      yield { index, kind: 'mutated', bytes: mutate(rng, pick(rng, options.corpus)) };
    }
  }
}
