/** Value grammars: Go durations, platforms, references, CSV, suggestions, flags, signals, mounts. */
import { describe, expect, it } from '@jest/globals';
import type { SourceRange } from '../errors.js';
import type { FlagNode } from '../parser/ast.js';
import { parseCsvLine } from './csv.js';
import { DurationError, formatGoDuration, parseGoDuration } from './duration.js';
import { FlagError, parseFlags, parseGoBool } from './flags.js';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, PlatformError } from './platform.js';
import { referenceError } from './reference.js';
import { parseMount, parseRamBytes, RunFlagError } from './run-flags.js';
import { isValidSignal } from './signal.js';
import { levenshtein, suggest } from './suggest.js';

describe('Go durations', () => {
  it('parses every unit, fractions, signs and sums', () => {
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('1ns')).toBe(1);
    expect(parseGoDuration('1us')).toBe(1000);
    expect(parseGoDuration('1µs')).toBe(1000);
    expect(parseGoDuration('1μs')).toBe(1000);
    expect(parseGoDuration('1.5ms')).toBe(1_500_000);
    expect(parseGoDuration('1h2m3.5s')).toBe(3_723_500_000_000);
    expect(parseGoDuration('-1m')).toBe(-60e9);
    expect(parseGoDuration('+.5s')).toBe(5e8);
    expect(parseGoDuration('30s')).toBe(30e9);
  });
  it('fails with Go messages', () => {
    expect(() => parseGoDuration('')).toThrow('time: invalid duration ""');
    expect(() => parseGoDuration('5')).toThrow('time: missing unit in duration "5"');
    expect(() => parseGoDuration('5x')).toThrow('time: unknown unit "x" in duration "5x"');
    expect(() => parseGoDuration('.s')).toThrow('time: invalid duration ".s"');
    expect(() => parseGoDuration('s')).toThrow(DurationError);
    expect(() => parseGoDuration('3000000h')).toThrow('time: invalid duration "3000000h"');
  });
  it('formats like Duration.String', () => {
    expect(formatGoDuration(0)).toBe('0s');
    expect(formatGoDuration(90e9)).toBe('1m30s');
    expect(formatGoDuration(1_500_000)).toBe('1.5ms');
    expect(formatGoDuration(3_723_500_000_000)).toBe('1h2m3.5s');
  });
});

describe('platforms', () => {
  it('parses and normalizes like containerd', () => {
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('Linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/aarch64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/arm/v6')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
    expect(formatPlatform(normalizePlatform(parsePlatform('linux/arm')))).toBe('linux/arm/v7');
    expect(parsePlatform('arm64', { os: 'linux', architecture: 'amd64' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('windows', { os: 'linux', architecture: 'amd64' })).toEqual({ os: 'windows', architecture: 'amd64' });
    expect(formatPlatform(hostPlatform('x64', 'linux'))).toBe('linux/amd64');
  });
  it('rejects bad specifiers', () => {
    expect(() => parsePlatform('linux/')).toThrow(
      '"" is an invalid component of "linux/": platform specifier component must match "^[A-Za-z0-9_.-]+$": invalid argument',
    );
    expect(() => parsePlatform('nope')).toThrow('"nope": unknown operating system or architecture: invalid argument');
    expect(() => parsePlatform('a/b/c/d')).toThrow(PlatformError);
    expect(() => parsePlatform('linux/*')).toThrow('wildcards not yet supported');
  });
});

describe('image references', () => {
  it('accepts what ParseNormalizedNamed accepts', () => {
    for (const ok of [
      'busybox',
      'scratch',
      'busybox:1.36',
      'library/busybox:latest',
      'docker.io/library/busybox',
      'localhost:5000/a/b:c',
      'Registry.Example.com/x',
      '[::1]:5000/x',
      `busybox@sha256:${'a'.repeat(64)}`,
      `busybox:1@sha256:${'a'.repeat(64)}`,
      'a__b/c-d.e',
    ]) {
      expect([ok, referenceError(ok)]).toEqual([ok, undefined]);
    }
  });
  it('rejects the rest', () => {
    expect(referenceError('')).toBe('invalid reference format');
    expect(referenceError('busybox:')).toBe('invalid reference format');
    expect(referenceError('Busybox')).toBe('invalid reference format: repository name must be lowercase');
    expect(referenceError('a/-b')).toBe('invalid reference format');
    expect(referenceError('a'.repeat(64).replace(/a/g, 'f'))).toContain('64-byte hexadecimal');
    expect(referenceError(`x@sha256:abc`)).toBe('invalid reference format');
  });
});

describe('CSV fields (Go encoding/csv, one record)', () => {
  it('splits and unquotes', () => {
    expect(parseCsvLine('a,b=c,d')).toEqual(['a', 'b=c', 'd']);
    expect(parseCsvLine('"a,b",c')).toEqual(['a,b', 'c']);
    expect(parseCsvLine('"a""b"')).toEqual(['a"b']);
    expect(parseCsvLine('a,')).toEqual(['a', '']);
    expect(parseCsvLine('')).toEqual(['']);
  });
  it('reports bare and unterminated quotes', () => {
    expect(() => parseCsvLine('a"b')).toThrow('bare " in non-quoted-field');
    expect(() => parseCsvLine('"ab')).toThrow('extraneous or missing " in quoted-field');
    expect(() => parseCsvLine('"a"b')).toThrow('extraneous or missing " in quoted-field');
  });
});

describe('suggestions', () => {
  it('Levenshtein distance', () => {
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('bulid', 'build')).toBe(2);
  });
  it('suggests under distance 3, keeps the case of the input', () => {
    expect(suggest('chwon', ['chown', 'chmod'], true)).toBe('chown');
    expect(suggest('fntrypoint', ['ENTRYPOINT'], false)).toBe('entrypoint');
    expect(suggest('FNTRYPOINT', ['entrypoint'], false)).toBe('ENTRYPOINT');
    // mixed case: BuildKit returns the lower-cased option
    expect(suggest('Fntrypoint', ['ENTRYPOINT'], false)).toBe('entrypoint');
    expect(suggest('xyzzy', ['chown'], true)).toBeUndefined();
    expect(suggest('chown', ['chown', 'chowm'], true)).toBeUndefined();
  });
});

describe('flags', () => {
  const r: SourceRange = { start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };
  const f = (name: string, value?: string): FlagNode => ({ text: `--${name}${value === undefined ? '' : `=${value}`}`, name, value, range: r });
  it('Go ParseBool', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseGoBool(t)).toBe(true);
    for (const t of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseGoBool(t)).toBe(false);
    expect(parseGoBool('yes')).toBeUndefined();
  });
  it('bool flags take any letter case, strings keep spaces', () => {
    const p = parseFlags([f('link', 'TrUe'), f('chown', ' a b ')], [
      { name: 'link', type: 'bool' },
      { name: 'chown', type: 'string' },
    ]);
    expect(p.bool('link')).toBe(true);
    expect(p.string('chown')).toBe(' a b ');
  });
  it('a bare -- ends the flags', () => {
    const p = parseFlags([f('link'), { text: '--', name: '', value: undefined, range: r }, f('bogus')], [{ name: 'link', type: 'bool' }]);
    expect(p.usedNames()).toEqual(['link']);
  });
  it('errors carry the flag range and a hint', () => {
    try {
      parseFlags([f('chwon', 'x')], [{ name: 'chown', type: 'string' }]);
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(FlagError);
      expect((e as FlagError).hint).toBe('--chown');
      expect((e as FlagError).range).toBe(r);
    }
  });
});

describe('signals', () => {
  it('accepts names with or without SIG, any case, and nonzero numbers', () => {
    for (const s of ['SIGTERM', 'term', 'SigKill', '9', 'RTMIN+3', 'SIGRTMAX-1', '-1']) expect([s, isValidSignal(s)]).toEqual([s, true]);
    for (const s of ['0', 'SIGFOO', '', 'RTMIN+16']) expect([s, isValidSignal(s)]).toEqual([s, false]);
  });
});

describe('mounts', () => {
  const id = (v: string) => v;
  it('defaults read-only per type', () => {
    expect(parseMount('target=/x', id)).toMatchObject({ type: 'bind', readOnly: true });
    expect(parseMount('type=cache,target=/x', id)).toMatchObject({ readOnly: false });
    expect(parseMount('type=cache,target=/x,ro', id)).toMatchObject({ readOnly: true });
    expect(parseMount('type=bind,target=/x,readwrite=true', id)).toMatchObject({ readOnly: false });
    expect(parseMount('type=secret,id=a,env=TOKEN,required=true', id)).toMatchObject({ env: 'TOKEN', required: true });
  });
  it('expands every value except from', () => {
    expect(parseMount('type=cache,target=$T', (v) => v.replace('$T', '/t'))).toMatchObject({ target: '/t' });
  });
  it('rejects invalid options', () => {
    expect(() => parseMount('type=cache,target=/x,mode=9', id)).toThrow('invalid value 9 for mode');
    expect(() => parseMount('type=cache,target=/x,uid=-1', id)).toThrow('invalid value -1 for uid');
    expect(() => parseMount('type=bind,target=/x,rw=maybe', id)).toThrow('invalid value for rw: maybe');
    expect(() => parseMount('type=tmpfs,target=/x,size=big', id)).toThrow('invalid value for size: big');
    expect(() => parseMount('type=bind,target=/x,size=1', id)).toThrow("unexpected key 'size' for mount type 'bind'");
    expect(() => parseMount('type=secret,from=x,id=a', id)).toThrow('secret mount should not have a from');
    expect(() => parseMount('type=secret', id)).toThrow('invalid secret mount. one of source, target required');
    expect(() => parseMount('foo', id)).toThrow("invalid field 'foo' must be a key=value pair");
    // issue 13: no target is BuildKit's "the working directory", not an error (the dispatcher refuses a resolved /)
    expect(parseMount('type=bind', id)).toEqual({ type: 'bind', readOnly: true, required: false });
    expect(() => parseMount('type=bind,target=/x,env=A', id)).toThrow(RunFlagError);
  });
  it('parses tmpfs sizes as go-units RAMInBytes', () => {
    expect(parseRamBytes('1024')).toBe(1024);
    expect(parseRamBytes('64m')).toBe(64 * 1024 ** 2);
    expect(parseRamBytes('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseRamBytes('1kb')).toBe(1024);
    expect(parseRamBytes('x')).toBeUndefined();
  });
});
