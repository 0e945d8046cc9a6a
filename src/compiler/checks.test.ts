/**
 * Build checks against BuildKit's lint test expectations
 * (moby/buildkit frontend/dockerfile/dockerfile_lint_test.go, transcribed as
 * facts: Dockerfile → rule, line, detail), through the real parser.
 */
import { describe, expect, it } from '@jest/globals';
import { parseDockerfile } from '../parser/index.js';
import { checkBaseImagePlatform, checkDockerfile, compileDockerfile, type CompileOptions } from './compile.js';

type Expected = [rule: string, line: number, detail: string];

function check(dockerfile: string, options: CompileOptions = {}): Expected[] {
  const r = checkDockerfile(parseDockerfile(dockerfile), options);
  return r.warnings
    .map((w): Expected => [w.rule, w.range.start.line, w.message])
    .sort((a, b) => a[1] - b[1] || a[2].localeCompare(b[2]));
}

/** Warnings of a build (target stage and what it needs only). */
function build(dockerfile: string, options: CompileOptions = {}): Expected[] {
  return compileDockerfile(parseDockerfile(dockerfile), options)
    .warnings.map((w): Expected => [w.rule, w.range.start.line, w.message])
    .sort((a, b) => a[1] - b[1] || a[2].localeCompare(b[2]));
}

describe('BuildKit lint expectations', () => {
  it('check directive and BUILDKIT_DOCKERFILE_CHECK', () => {
    const df = (d: string) => `${d}\nFROM scratch as base\ncopy Dockerfile .\n`;
    expect(check(df('#check=skip=all'))).toEqual([]);
    expect(check(df('#check=skip=all;error=true'))).toEqual([]);
    expect(check(df('#check=skip=ConsistentInstructionCasing,FromAsCasing;error=true'))).toEqual([]);
    expect(check(df('#check=skip=ConsistentInstructionCasing'))).toEqual([['FromAsCasing', 2, "'as' and 'FROM' keywords' casing do not match"]]);
    const r = checkDockerfile(parseDockerfile(df('#check=skip=ConsistentInstructionCasing;error=true')));
    expect(r.error?.message).toBe('lint violation found for rules: FromAsCasing');
    expect(r.error?.range?.start.line).toBe(2);
    // the build arg replaces the directive
    const viaArg = checkDockerfile(parseDockerfile(df('#check=skip=all')), {
      buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=ConsistentInstructionCasing;error=true' },
    });
    expect(viaArg.error?.message).toBe('lint violation found for rules: FromAsCasing');
    expect(check(df('#check=error=true'), { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=all' } })).toEqual([]);
    expect(checkDockerfile(parseDockerfile(df('#check=bogus=1'))).error?.message).toBe('invalid check option "bogus"');
  });

  it('StageNameCasing and FromAsCasing', () => {
    expect(check('\n# warning: stage name should be lowercase\nFROM scratch AS BadStageName\n\n# warning\nFROM scratch as base2\n\nFROM scratch AS base3\n')).toEqual([
      ['StageNameCasing', 3, "Stage name 'BadStageName' should be lowercase"],
      ['FromAsCasing', 6, "'as' and 'FROM' keywords' casing do not match"],
    ]);
    expect(check('\n# warning\nfrom scratch AS base\n\nfrom scratch as base2\n')).toEqual([
      ['FromAsCasing', 3, "'AS' and 'from' keywords' casing do not match"],
    ]);
  });

  it('NoEmptyContinuation', () => {
    const w = check('\nFROM scratch\n# warning: empty continuation line\nCOPY Dockerfile \\\n\n.\nCOPY Dockerfile \\\n.\n');
    expect(w.map(([r, , d]) => [r, d])).toEqual([['NoEmptyContinuation', 'Empty continuation line']]);
  });

  it('ConsistentInstructionCasing', () => {
    expect(check('\n# w\nFrom scratch as base\nFROM scratch AS base2\n')).toEqual([
      ['ConsistentInstructionCasing', 3, "Command 'From' should match the case of the command majority (uppercase)"],
    ]);
    expect(check('\nFROM scratch\n# w\ncopy Dockerfile /foo\nCOPY Dockerfile /bar\n')).toEqual([
      ['ConsistentInstructionCasing', 4, "Command 'copy' should match the case of the command majority (uppercase)"],
    ]);
    expect(check('\n# w\nfrOM scratch as base\nfrom scratch as base2\n')).toEqual([
      ['ConsistentInstructionCasing', 3, "Command 'frOM' should match the case of the command majority (lowercase)"],
    ]);
    expect(check('\nfrom scratch\n# w\nCOPY Dockerfile /foo\ncopy Dockerfile /bar\n')).toEqual([
      ['ConsistentInstructionCasing', 4, "Command 'COPY' should match the case of the command majority (lowercase)"],
    ]);
    expect(check('\n# w\nfrom scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\nCOPY Dockerfile /baz\n')).toEqual([
      ['ConsistentInstructionCasing', 3, "Command 'from' should match the case of the command majority (uppercase)"],
    ]);
    expect(check('\nfrom scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\n')).toEqual([]);
    expect(check("\nFROM alpine\nRUN <<'EOT'\nenv\nEOT\n")).toEqual([]);
  });

  it('DuplicateStageName and ReservedStageName', () => {
    expect(check('\nFROM scratch AS b\nFROM scratch AS b\n')).toEqual([
      ['DuplicateStageName', 3, 'Duplicate stage name "b", stage names should be unique'],
    ]);
    expect(check('\nFROM scratch AS b1\nFROM scratch AS b2\n')).toEqual([]);
    expect(check('\nFROM scratch AS scratch\nFROM scratch AS context\n')).toEqual([
      ['ReservedStageName', 2, 'Stage name should not use the same name as reserved stage "scratch"'],
      ['ReservedStageName', 3, 'Stage name should not use the same name as reserved stage "context"'],
    ]);
    expect(check('\nFROM scratch\nFROM scratch AS a\n')).toEqual([]);
  });

  it('JSONArgsRecommended (a SHELL, also a parent stage one, silences it)', () => {
    expect(check('\nFROM scratch\nCMD mycommand\n')).toEqual([
      ['JSONArgsRecommended', 3, 'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals'],
    ]);
    expect(check('\nFROM scratch\nENTRYPOINT mycommand\n')).toEqual([
      ['JSONArgsRecommended', 3, 'JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals'],
    ]);
    expect(check('\nFROM scratch\nSHELL ["/usr/bin/customshell"]\nCMD mycommand\n')).toEqual([]);
    expect(check('\nFROM scratch AS base\nSHELL ["/usr/bin/customshell"]\n\nFROM base\nENTRYPOINT mycommand\n')).toEqual([]);
  });

  it('warnings come before the error', () => {
    const r = checkDockerfile(parseDockerfile('\nFROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\n'));
    expect(r.warnings.map((w) => [w.rule, w.range.start.line, w.message])).toEqual([
      ['StageNameCasing', 2, "Stage name 'BadStageName' should be lowercase"],
      ['MaintainerDeprecated', 3, 'Maintainer instruction is deprecated in favor of using label'],
    ]);
    expect(r.error?.message).toBe('unknown instruction: BADCMD');
    expect(r.error?.range?.start.line).toBe(4);
  });

  it('UndefinedArgInFrom', () => {
    expect(check('\nARG base=scratch\nFROM $base\nCOPY Dockerfile .\n')).toEqual([]);
    expect(check('\nARG BUILDPLATFORM=linux/amd64\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n')).toEqual([]);
    expect(check('\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n')).toEqual([]);
    const r = checkDockerfile(parseDockerfile('\nFROM --platform=$BULIDPLATFORM scratch\nCOPY Dockerfile .\n'));
    expect(r.warnings.map((w) => w.message)).toEqual(["FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?)"]);
    expect(r.error?.message).toBe('empty platform value from expression $BULIDPLATFORM (did you mean BUILDPLATFORM?)');
    const r2 = checkDockerfile(parseDockerfile('\nARG MY_OS=linux\nARG MY_ARCH=amd64\nFROM --platform=linux/${MYARCH} busybox\nCOPY Dockerfile .\n\t'));
    expect(r2.warnings.map((w) => [w.range.start.line, w.message])).toEqual([[4, "FROM argument 'MYARCH' is not declared (did you mean MY_ARCH?)"]]);
    expect(check('\nARG tag=latest\nFROM busybox:${tag}${version} AS b\nCOPY Dockerfile .\n')).toEqual([
      ['UndefinedArgInFrom', 3, "FROM argument 'version' is not declared"],
    ]);
  });

  it('WorkdirRelativePath', () => {
    expect(check('\nFROM scratch\nWORKDIR app/\n')).toEqual([
      ['WorkdirRelativePath', 3, 'Relative workdir "app/" can have unexpected results if the base image changes'],
    ]);
    expect(check('\nFROM scratch AS a\nWORKDIR /app\n\nFROM a AS b\nWORKDIR subdir/\n')).toEqual([]);
    // only the first WORKDIR of a stage chain is checked
    expect(check('\nFROM scratch\nWORKDIR a\nWORKDIR b\n').map((w) => w[1])).toEqual([3]);
  });

  it('UndefinedVar', () => {
    expect(check('\nFROM scratch\nARG foo\nCOPY Dockerfile${foo} .\n')).toEqual([]);
    expect(check('\nFROM alpine AS base\nARG foo=Dockerfile\n\nFROM base\nCOPY $foo .\n')).toEqual([]);
    expect(check('\nFROM alpine\nRUN echo $PATH\n')).toEqual([]);
    expect(check('\nFROM alpine\nCOPY $foo .\nARG foo=bar\nRUN echo $foo\n')).toEqual([['UndefinedVar', 3, "Usage of undefined variable '$foo'"]]);
    expect(check('\nFROM alpine\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\nARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n\t')).toEqual([
      ['UndefinedVar', 6, "Usage of undefined variable '$DIR_ASSET' (did you mean $DIR_ASSETS?)"],
    ]);
    expect(check('\nFROM alpine\nENV PATH=$PAHT:/tmp/bin\n\t\t')).toEqual([['UndefinedVar', 3, "Usage of undefined variable '$PAHT' (did you mean $PATH?)"]]);
  });

  it('MultipleInstructionsDisallowed reports the overridden one', () => {
    const msg = (n: string) => `Multiple ${n} instructions should not be used in the same stage because only the last one will be used`;
    expect(
      check('\nFROM scratch\nENTRYPOINT ["/myapp"]\nENTRYPOINT ["/myotherapp"]\nCMD ["/myapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n'),
    ).toEqual([
      ['MultipleInstructionsDisallowed', 3, msg('ENTRYPOINT')],
      ['MultipleInstructionsDisallowed', 5, msg('CMD')],
      ['MultipleInstructionsDisallowed', 7, msg('HEALTHCHECK')],
    ]);
    expect(
      check('\nFROM scratch AS a\nENTRYPOINT ["/myapp"]\nCMD ["/myapp"]\nHEALTHCHECK CMD ["/myapp"]\n\nFROM a AS b\nENTRYPOINT ["/myotherapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n'),
    ).toEqual([]);
  });

  it('LegacyKeyValueFormat: only for dispatched stages in a build, all stages in a check', () => {
    expect(check('\nFROM scratch\nENV testkey value\nLABEL key value\n')).toEqual([
      ['LegacyKeyValueFormat', 3, '"ENV key=value" should be used instead of legacy "ENV key value" format'],
      ['LegacyKeyValueFormat', 4, '"LABEL key=value" should be used instead of legacy "LABEL key value" format'],
    ]);
    const df = '\nFROM scratch AS a\n\nFROM a AS b\nENV testkey value\nLABEL key value\n\nFROM a AS c\n';
    expect(build(df)).toEqual([]);
    expect(check(df).map((w) => w[0])).toEqual(['LegacyKeyValueFormat', 'LegacyKeyValueFormat']);
  });

  it('all stages are checked, the build only warns for the target', () => {
    const df = '\nFROM scratch AS first\nCOPY $foo .\n\nFROM scratch AS second\nCOPY $bar .\n';
    expect(build(df)).toEqual([['UndefinedVar', 6, "Usage of undefined variable '$bar'"]]);
    expect(check(df)).toEqual([
      ['UndefinedVar', 3, "Usage of undefined variable '$foo'"],
      ['UndefinedVar', 6, "Usage of undefined variable '$bar'"],
    ]);
  });

  it('RedundantTargetPlatform, InvalidDefaultArgInFrom, FromPlatformFlagConstDisallowed', () => {
    expect(check('\nFROM --platform=$TARGETPLATFORM scratch\n')).toEqual([
      ['RedundantTargetPlatform', 2, 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior'],
    ]);
    expect(check('\nFROM --platform=${TARGETPLATFORM} scratch\n')[0][2]).toBe(
      'Setting platform to predefined ${TARGETPLATFORM} in FROM is redundant as this is the default behavior',
    );
    expect(check('\nARG VERSION\nFROM busybox:$VERSION\n', { buildArgs: { VERSION: 'latest' } })).toEqual([
      ['InvalidDefaultArgInFrom', 3, 'Default value for ARG busybox:$VERSION results in empty or invalid base image name'],
    ]);
    expect(check('\nARG IMAGE\nFROM $IMAGE\n', { buildArgs: { IMAGE: 'busybox:latest' } })).toEqual([
      ['InvalidDefaultArgInFrom', 3, 'Default value for ARG $IMAGE results in empty or invalid base image name'],
    ]);
    expect(check('\nARG SFX="box:"\nFROM busy${SFX}\n', { buildArgs: { SFX: 'box:latest' } })).toEqual([
      ['InvalidDefaultArgInFrom', 3, 'Default value for ARG busy${SFX} results in empty or invalid base image name'],
    ]);
    expect(check('\nARG VERSION="latest"\nFROM busybox:${VERSION}\n', { buildArgs: { VERSION: 'latest' } })).toEqual([]);
    expect(check('\nARG BUSYBOX_VARIANT=""\nFROM busybox:stable${BUSYBOX_VARIANT}\n', { buildArgs: { BUSYBOX_VARIANT: '-musl' } })).toEqual([]);
    expect(check('\n\tARG BUSYBOX_VARIANT\n\tFROM busybox:stable${BUSYBOX_VARIANT}\n\t', { buildArgs: { BUSYBOX_VARIANT: '-musl' } })).toEqual([]);
    expect(check('\nFROM --platform=linux/amd64 scratch\n')).toEqual([
      ['FromPlatformFlagConstDisallowed', 2, 'FROM --platform flag should not use constant value "linux/amd64"'],
    ]);
    expect(check('\nFROM --platform=linux/amd64 scratch AS my_amd64_stage\n')).toEqual([]);
    expect(check('\nFROM --platform=linux/amd64 scratch AS linux\n')).toEqual([]);
  });

  it('SecretsUsedInArgOrEnv', () => {
    const w = check('\nFROM scratch\nARG SECRET_PASSPHRASE\nENV SUPER_Secret=foo\nENV password=bar secret=baz\nARG super_duper_secret_token=foo auth=bar\nENV apikey=bar sunflower=foo\nENV git_key=\n');
    const d = (i: string, k: string) => `Do not use ARG or ENV instructions for sensitive data (${i} "${k}")`;
    expect(w).toEqual([
      ['SecretsUsedInArgOrEnv', 3, d('ARG', 'SECRET_PASSPHRASE')],
      ['SecretsUsedInArgOrEnv', 4, d('ENV', 'SUPER_Secret')],
      ['SecretsUsedInArgOrEnv', 5, d('ENV', 'password')],
      ['SecretsUsedInArgOrEnv', 5, d('ENV', 'secret')],
      ['SecretsUsedInArgOrEnv', 6, d('ARG', 'auth')],
      ['SecretsUsedInArgOrEnv', 6, d('ARG', 'super_duper_secret_token')],
      ['SecretsUsedInArgOrEnv', 7, d('ENV', 'apikey')],
      ['SecretsUsedInArgOrEnv', 8, d('ENV', 'git_key')],
    ]);
  });

  it('CopyIgnoredFile is experimental; skip=all does not silence an enabled experimental rule', () => {
    const ignore = { patterns: ['Dockerfile'], matches: (p: string) => p === 'Dockerfile' };
    expect(check('\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n', { ignore })).toEqual([]);
    const expected: Expected[] = [
      ['CopyIgnoredFile', 3, 'Attempting to Copy file "Dockerfile" that is excluded by .dockerignore'],
      ['CopyIgnoredFile', 4, 'Attempting to Add file "Dockerfile" that is excluded by .dockerignore'],
    ];
    expect(check('# check=experimental=CopyIgnoredFile\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n', { ignore })).toEqual(expected);
    expect(check('# check=skip=all;experimental=CopyIgnoredFile\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n', { ignore })).toEqual(expected);
    const foobar = { patterns: ['foobar'], matches: (p: string) => p === 'foobar' };
    expect(
      check('# check=experimental=CopyIgnoredFile\nFROM scratch AS base\nCOPY Dockerfile /foobar\nADD Dockerfile /windy\n\nFROM base\nCOPY --from=base /foobar /Dockerfile\n', {
        ignore: foobar,
      }),
    ).toEqual([]);
    // a negation at or below the source makes it undecidable: no warning
    const neg = { patterns: ['dir', '!dir/keep'], matches: (p: string) => p === 'dir' || p.startsWith('dir/') };
    expect(check('# check=experimental=CopyIgnoredFile\nFROM scratch\nCOPY dir /d\n', { ignore: neg })).toEqual([]);
  });
});

describe('base image ONBUILD triggers', () => {
  it('run first in the stage, with errors located at the FROM', () => {
    const g = compileDockerfile(parseDockerfile('FROM scratch AS dep\nFROM onbuild-base\nRUN b'), {
      baseImageConfig: (ref) => (ref === 'onbuild-base' ? { OnBuild: ['COPY --from=dep /x /y', 'RUN a'] } : undefined),
    }).value;
    const s = g.stages.find((x) => x.index === 1)!;
    expect(s.steps.map((x) => [x.kind, x.fromOnbuild ?? false, x.range.start.line])).toEqual([
      ['copy', true, 2],
      ['run', true, 2],
      ['run', false, 3],
    ]);
    expect(s.dependsOn).toEqual([0]);
    expect(() =>
      compileDockerfile(parseDockerfile('FROM onbuild-base'), { baseImageConfig: () => ({ OnBuild: ['COPY --bogus=1 a b'] }) }),
    ).toThrow('unknown flag: --bogus (ONBUILD trigger "COPY --bogus=1 a b" of base image onbuild-base)');
  });
});

describe('InvalidBaseImagePlatform (for the engine)', () => {
  it('warns on an OS/architecture mismatch and honours skip', () => {
    const ast = parseDockerfile('FROM busybox');
    const range = ast.instructions[0].range;
    const input = { image: 'busybox', expected: { os: 'linux', architecture: 'amd64' }, actual: { os: 'linux', architecture: 'arm64' }, range };
    expect(checkBaseImagePlatform(ast, {}, input)?.message).toBe(
      'Base image busybox was pulled with platform "linux/arm64", expected "linux/amd64" for current build',
    );
    expect(checkBaseImagePlatform(ast, {}, { ...input, actual: { os: 'linux', architecture: 'amd64', variant: 'v2' } })).toBeUndefined();
    expect(checkBaseImagePlatform(ast, { check: 'skip=InvalidBaseImagePlatform' }, input)).toBeUndefined();
  });
});
