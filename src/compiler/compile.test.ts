import { describe, expect, it } from '@jest/globals';
import type { DockerfileAst, FlagNode, Heredoc, InstructionNode } from '../parser/ast.js';
import type { SourceRange } from '../errors.js';
import { OcibuildError } from '../errors.js';
import { checkDockerfile, compileDockerfile, parseChmod } from './compile.js';
import { applyConfigStep, canonicalJson, canonicalStep, formatPlan, initialConfigState, levels } from '../graph/index.js';
import type { RunStep, CopyStep, Step } from '../graph/index.js';

// A tiny Dockerfile-to-AST builder for unit tests (one instruction per line,
// no continuations); the parser has its own tests and the conformance runner
// uses the real parser.
function range(line: number, len: number): SourceRange {
  return { start: { line, column: 1, offset: 0 }, end: { line, column: len + 1, offset: len } };
}

function splitWs(s: string): string[] {
  return s.trim() === '' ? [] : s.trim().split(/\s+/);
}

function node(text: string, line: number, comments: string[] = [], heredocs: Heredoc[] = []): InstructionNode {
  const m = /^(\S+)\s*(.*)$/.exec(text.trim()) as RegExpExecArray;
  const keywordText = m[1];
  let rest = m[2];
  const flags: FlagNode[] = [];
  for (;;) {
    const f = /^--(\S*)\s*/.exec(rest);
    if (!f) break;
    const word = f[1];
    const eq = word.indexOf('=');
    flags.push({
      text: `--${word}`,
      name: eq < 0 ? word : word.slice(0, eq),
      value: eq < 0 ? undefined : word.slice(eq + 1),
      range: range(line, text.length),
    });
    rest = rest.slice(f[0].length);
  }
  const keyword = keywordText.toLowerCase();
  let args: string[] = [];
  let json = false;
  let trigger: InstructionNode | undefined;
  const tryJson = (): string[] | undefined => {
    if (!rest.trim().startsWith('[')) return undefined;
    try {
      const v = JSON.parse(rest);
      return Array.isArray(v) ? v : undefined;
    } catch {
      return undefined;
    }
  };
  switch (keyword) {
    case 'from':
    case 'expose':
    case 'arg':
      args = splitWs(rest);
      break;
    case 'copy':
    case 'add':
    case 'volume': {
      const j = tryJson();
      json = j !== undefined;
      args = j ?? splitWs(rest);
      break;
    }
    case 'run':
    case 'cmd':
    case 'entrypoint':
    case 'shell': {
      const j = tryJson();
      json = j !== undefined;
      args = j ?? (rest.trim() === '' ? [] : [rest.trim()]);
      break;
    }
    case 'healthcheck': {
      const t = /^(\S+)\s*(.*)$/.exec(rest.trim());
      if (t) {
        rest = t[2];
        const j = tryJson();
        json = j !== undefined;
        args = [t[1], ...(j ?? (rest === '' ? [] : [rest]))];
      }
      break;
    }
    case 'env':
    case 'label': {
      const words = splitWs(rest);
      if (words.length > 0 && !words[0].includes('=')) {
        const k = /^(\S+)\s+(.*)$/.exec(rest.trim()) as RegExpExecArray;
        args = [k[1], k[2], ''];
      } else {
        for (const w of words) {
          const i = w.indexOf('=');
          args.push(w.slice(0, i), w.slice(i + 1), '=');
        }
      }
      break;
    }
    case 'onbuild':
      trigger = node(rest, line);
      args = [];
      break;
    default:
      args = rest.trim() === '' ? [] : keyword.match(/^(maintainer|user|workdir|stopsignal)$/) ? [rest.trim()] : [''];
  }
  return {
    keyword,
    keywordText,
    flags,
    args,
    json,
    ...(trigger ? { trigger } : {}),
    heredocs,
    original: text.trim(),
    argText: rest.trim(),
    comments,
    range: range(line, text.length),
    keywordRange: range(line, keywordText.length),
    argRange: range(line, text.length),
  };
}

function ast(src: string, extra: { directives?: DockerfileAst['directives']; heredocs?: Record<number, Heredoc[]> } = {}): DockerfileAst {
  const instructions: InstructionNode[] = [];
  let comments: string[] = [];
  src.split('\n').forEach((l, i) => {
    if (l.trim() === '') {
      comments = [];
      return;
    }
    if (l.trim().startsWith('#')) {
      comments.push(l.trim().slice(1).trim());
      return;
    }
    instructions.push(node(l, i + 1, comments, extra.heredocs?.[i + 1] ?? []));
    comments = [];
  });
  return { directives: extra.directives ?? [], escapeToken: '\\', instructions, warnings: [], file: 'Dockerfile', source: src };
}

function compile(src: string, options: Parameters<typeof compileDockerfile>[1] = {}) {
  return compileDockerfile(ast(src), options);
}

function error(fn: () => unknown): OcibuildError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OcibuildError);
    return e as OcibuildError;
  }
  throw new Error('expected an error');
}

const steps = (src: string, options = {}) => {
  const g = compile(src, options).value;
  return g.stages.find((s) => s.index === g.target)!.steps;
};

describe('ARG and ENV scoping', () => {
  it('meta args expand in FROM only; a stage must re-declare them', () => {
    const g = compile('ARG TAG=1.36\nFROM busybox:$TAG\nARG TAG\nENV A=$TAG\nFROM busybox:${TAG}-x AS two\nENV B=$TAG').value;
    expect(g.stages.map((s) => s.base)).toEqual([{ kind: 'image', ref: 'busybox:1.36-x' }]);
    expect(compile('ARG TAG=1.36\nFROM busybox:$TAG\nARG TAG\nENV A=$TAG', {}).value.stages[0]).toMatchObject({
      base: { kind: 'image', ref: 'busybox:1.36' },
      steps: [{ kind: 'arg', values: [{ key: 'TAG', value: '1.36' }] }, { kind: 'env', pairs: [{ key: 'A', value: '1.36' }] }],
    });
    expect(g.metaArgs).toEqual([{ key: 'TAG', value: '1.36' }]);
    const s0 = g.stages.find((s) => s.index === 0);
    expect(s0).toBeUndefined(); // not needed for the last stage
    const env = g.stages[0].steps[0];
    expect(env).toMatchObject({ kind: 'env', pairs: [{ key: 'B', value: '' }] });
  });

  it('build args override declared ARGs only, defaults are not evaluated when overridden', () => {
    const s = steps('FROM scratch\nARG FOO\nARG BAR=${FOO:?foo missing}\nENV X=$BAR Y=$UNDECLARED', {
      buildArgs: { BAR: '123', UNDECLARED: 'no' },
    });
    expect(s[2]).toMatchObject({ kind: 'env', pairs: [{ key: 'X', value: '123' }, { key: 'Y', value: '' }] });
    const g = compile('FROM scratch\nARG FOO', { buildArgs: { FOO: '1', OTHER: '2', HTTP_PROXY: 'x' } }).value;
    expect(g.unusedBuildArgs).toEqual(['OTHER']);
  });

  it('${VAR:?msg} fails when unset, located at the ARG', () => {
    const e = error(() => compile('FROM scratch\nARG FOO\nARG BAR=${FOO:?foo_missing}'));
    expect(e.message).toContain('FOO: foo_missing');
    expect(e.range?.start.line).toBe(3);
  });

  it('ENV overrides ARG; later writes win; one instruction sees the old values', () => {
    const s = steps('FROM scratch\nARG V=arg\nENV V=env\nENV W=$V\nENV V=2 Z=$V');
    expect(s[2]).toMatchObject({ pairs: [{ key: 'W', value: 'env' }] });
    expect(s[3]).toMatchObject({ pairs: [{ key: 'V', value: '2' }, { key: 'Z', value: 'env' }] });
    expect(s[3].env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'V=env', 'W=env']);
  });

  it('predefined platform args exist in the global scope and need re-declaration in a stage', () => {
    const platform = { buildPlatform: { os: 'linux', architecture: 'amd64' }, targetPlatform: { os: 'linux', architecture: 'arm64', variant: 'v8' } };
    const s = steps('FROM --platform=$BUILDPLATFORM busybox AS b\nARG TARGETARCH\nENV A=$TARGETARCH B=$TARGETPLATFORM', { platform });
    expect(s[1]).toMatchObject({ pairs: [{ key: 'A', value: 'arm64' }, { key: 'B', value: '' }] });
    const g = compile('FROM --platform=$BUILDPLATFORM busybox AS b', { platform }).value;
    expect(g.stages[0].platform).toBe('linux/amd64');
    expect(g.targetPlatform).toBe('linux/arm64');
  });

  it('each ARG of one instruction sees the previous ones; ENV pairs do not', () => {
    const s = steps('FROM scratch\nARG A=1 B=${A}2\nENV X=3 Y=${X}4');
    expect(s[0]).toMatchObject({ kind: 'arg', values: [{ key: 'A', value: '1' }, { key: 'B', value: '12' }] });
    expect(s[1]).toMatchObject({ kind: 'env', pairs: [{ key: 'X', value: '3' }, { key: 'Y', value: '4' }] });
  });

  it('child stages inherit the parent stage ARGs and ENV', () => {
    const s = steps('FROM scratch AS base\nARG A=1\nENV E=2\nFROM base\nENV X=$A$E');
    expect(s[0]).toMatchObject({ pairs: [{ key: 'X', value: '12' }] });
  });

  it('image bases seed the environment when their config is known', () => {
    const s = steps('FROM golang\nWORKDIR $GOPATH/src', {
      baseImageConfig: (ref: string) => (ref === 'golang' ? { Env: ['GOPATH=/go', 'PATH=/go/bin:/usr/bin'] } : undefined),
    });
    expect(s[0]).toMatchObject({ kind: 'workdir', path: '/go/src' });
    expect(s[0].env).toEqual(['GOPATH=/go', 'PATH=/go/bin:/usr/bin']);
  });
});

describe('stages and targets', () => {
  const src = 'FROM scratch AS a\nRUN x\nFROM scratch AS b\nRUN y\nFROM a AS c\nCOPY --from=b / /\nFROM scratch AS unused\nRUN z\nFROM c';
  it('drops unneeded stages, orders and levels the rest', () => {
    const g = compile(src).value;
    expect(g.stages.map((s) => s.index)).toEqual([0, 1, 2, 4]);
    expect(g.dropped).toEqual([{ index: 3, name: 'unused' }]);
    expect(g.order).toEqual([0, 1, 2, 4]);
    expect(levels(g)).toEqual([[0, 1], [2], [4]]);
    expect(g.stages.find((s) => s.index === 2)).toMatchObject({ base: { kind: 'stage', index: 0 }, dependsOn: [0, 1] });
    expect((g.stages.find((s) => s.index === 2)!.steps[0] as CopyStep).dependsOn).toEqual([1]);
    const plan = formatPlan(g);
    expect(plan).toContain('stage #2 (c) from stage #0 (a)');
    expect(plan).toContain('dropped (not needed for the target): #3 (unused)');
    expect(plan).toContain('0: #0 (a), #1 (b)');
  });

  it('an empty target means the last stage; SOURCE_DATE_EPOCH is validated', () => {
    expect(compile(src, { target: '' }).value.target).toBe(4);
    expect(compile(src, { buildArgs: { SOURCE_DATE_EPOCH: '1700000000' } }).value.sourceDateEpoch).toBe(1700000000);
    expect(error(() => compile(src, { buildArgs: { SOURCE_DATE_EPOCH: 'yesterday' } })).message).toBe('invalid SOURCE_DATE_EPOCH: yesterday');
  });

  it('targets are case-insensitive; unknown targets list stages and suggest', () => {
    expect(compile(src, { target: 'B' }).value.stages.map((s) => s.index)).toEqual([1]);
    const e = error(() => compile(src, { target: 'unsed' }));
    expect(e.code).toBe('TARGET_NOT_FOUND');
    expect(e.message).toBe('target stage "unsed" could not be found (did you mean unused?)');
    expect(e.hint).toBe('stages: a, b, c, unused');
  });

  it('COPY --from takes a name, an index or an image; refuses variables', () => {
    const g = compile('FROM scratch AS foo\nFROM foo\nCOPY --from=foo a /\nCOPY --from=0 b /\nCOPY --from=alpine:3 c /').value;
    const s = g.stages.find((x) => x.index === 1)!.steps as CopyStep[];
    expect(s.map((x) => x.from)).toEqual([
      { kind: 'stage', index: 0 },
      { kind: 'stage', index: 0 },
      { kind: 'image', ref: 'alpine:3' },
    ]);
    expect(error(() => compile('FROM scratch\nCOPY --from=7 a /')).message).toBe('invalid stage index 7');
    expect(error(() => compile('FROM scratch\nCOPY --from=$X a /')).message).toContain('variable expansion is not supported for --from');
  });

  it('circular and forward references fail', () => {
    expect(error(() => compile('FROM busybox AS stage0\nCOPY --from=stage0 f1 /sub/')).message).toBe('circular dependency detected on stage: stage0');
    const e = error(() => compile('FROM busybox AS target\nCOPY --from=build / /out\nFROM alpine AS build\nFROM target'));
    expect(e.message).toBe('cannot copy from stage "build", it needs to be defined before current stage "target"');
    expect(e.range?.start.line).toBe(2);
  });

  it('no stages, blank base names and bad references fail', () => {
    expect(error(() => compile('ARG foo=bar')).message).toBe('dockerfile contains no stages to build');
    expect(error(() => compile('FROM ${BLANK} AS foo')).message).toBe('base name (${BLANK}) should not be blank');
    expect(error(() => compile('FROM Busybox')).message).toContain('failed to parse stage name "Busybox"');
    expect(error(() => compile('RUN x\nFROM scratch')).message).toBe('no build stage in current context');
  });

  it('a stage based on another stage takes its platform', () => {
    const g = compile('FROM --platform=linux/arm64 scratch AS arm64\nFROM --platform=linux/amd64 arm64 AS child\nFROM child').value;
    expect(g.stages.map((s) => s.platform)).toEqual(['linux/arm64', 'linux/arm64', 'linux/arm64']);
  });

  it('FROM --platform errors name the expression and suggest', () => {
    const e = error(() => compile('FROM --platform=$BULIDPLATFORM scratch'));
    expect(e.message).toBe('empty platform value from expression $BULIDPLATFORM (did you mean BUILDPLATFORM?)');
    expect(compile('FROM --platform=linux/arm/v7 scratch AS arm').value.stages[0].platform).toBe('linux/arm/v7');
  });
});

describe('RUN flags', () => {
  const run = (flags: string) => steps(`FROM scratch AS s\nFROM scratch\nARG D=/cache\nRUN ${flags} true`)[1] as RunStep;
  it('types every mount type with defaults', () => {
    const r = run(
      '--mount=type=cache,target=$D,sharing=locked,mode=0700,uid=1 --mount=type=secret,id=tok --mount=type=ssh --mount=type=tmpfs,dst=/t,size=64m --mount=target=/src,from=s,source=/x,rw',
    );
    expect(r.mounts).toEqual([
      { type: 'cache', target: '/cache', id: '/cache', sharing: 'locked', source: '/', readOnly: false, mode: 0o700, uid: 1, gid: 0 },
      { type: 'secret', id: 'tok', target: '/run/secrets/tok', required: false, mode: 0o400, uid: 0, gid: 0 },
      { type: 'ssh', id: 'default', target: '/run/buildkit/ssh_agent.0', required: false, mode: 0o600, uid: 0, gid: 0 },
      { type: 'tmpfs', target: '/t', size: 64 * 1024 * 1024, readOnly: false },
      { type: 'bind', target: '/src', source: '/x', from: { kind: 'stage', index: 0 }, readOnly: false },
    ]);
  });

  it('rejects bad mounts with BuildKit messages and suggestions', () => {
    expect(error(() => run('--mount=typ=tmpfs')).message).toBe("unexpected key 'typ' in 'typ=tmpfs' (did you mean type?)");
    expect(error(() => run('--mount=type=tmp,target=/x')).message).toBe('unsupported mount type "tmp" (did you mean tmpfs?)');
    expect(error(() => run('--mount=type=bind,target=/x,uid=1')).message).toBe('uid not allowed for "bind" type mounts');
    expect(error(() => run('--mount=type=cache,target=/x,sharing=nope')).message).toBe('unsupported sharing value "nope"');
    expect(error(() => run('--mount=type=secret,id=a,source=b')).message).toBe("both source and id can't be set");
    expect(error(() => run('--mount=type=bind,target=/')).message).toBe('invalid mount target "/"');
    expect(error(() => run('--mount=type=tmpfs,target=/x,required')).message).toBe("unexpected key 'required' for mount type 'tmpfs'");
    expect(error(() => run('--mount=from=$X,target=/x')).message).toBe("'from' doesn't support variable expansion, define alias stage instead");
    expect(error(() => run('--mont=type=tmpfs')).message).toBe('unknown flag: --mont (did you mean mount?)');
  });

  it('network, security and devices', () => {
    const r = run('--network=none --security=insecure --device=vendor.com/gpu=all,required');
    expect(r).toMatchObject({ network: 'none', security: 'insecure', devices: [{ name: 'vendor.com/gpu=all', required: true }] });
    expect(error(() => run('--network=nne')).message).toBe('unsupported network mode "nne" (did you mean none?)');
    expect(error(() => run('--security=x')).message).toBe('unsupported security mode "x"');
  });

  it('passes proxy build args to RUN, namespaces cache ids, sets the sandbox hostname', () => {
    const buildArgs = { http_proxy: 'http://p', NO_PROXY: 'x', BUILDKIT_CACHE_MOUNT_NS: 'ns', BUILDKIT_SANDBOX_HOSTNAME: 'box' };
    const g = compile('FROM scratch\nRUN --mount=type=cache,target=/c true', { buildArgs }).value;
    const r = g.stages[0].steps[0] as RunStep;
    expect(r.proxy).toEqual([{ key: 'NO_PROXY', value: 'x' }, { key: 'http_proxy', value: 'http://p' }]);
    expect(r.args).toEqual([]);
    expect(r.mounts[0]).toMatchObject({ type: 'cache', id: 'ns/c' });
    expect(g.sandboxHostname).toBe('box');
    expect(g.unusedBuildArgs).toEqual([]);
  });

  it('keeps the command raw for the shell and records build args for the cache key', () => {
    const r = steps('FROM scratch\nARG A=1\nRUN echo $A "$B"')[1] as RunStep;
    expect(r).toMatchObject({ command: ['echo $A "$B"'], prependShell: true });
    expect(canonicalJson(canonicalStep(r))).toContain('"args":[["A","1"]]');
  });
});

describe('COPY and ADD', () => {
  it('expands sources, dest, chown, chmod; types flags', () => {
    const c = steps('FROM scratch\nARG U=app M=750\nCOPY --chown=$U --chmod=$M --link --parents --exclude=*.md a* /d/')[1] as CopyStep;
    expect(c).toMatchObject({ sources: ['a*'], dest: '/d/', chown: 'app', chmod: { kind: 'octal', mode: 0o750 }, link: true, parents: true, exclude: ['*.md'] });
    const a = steps('FROM scratch\nADD --checksum=sha256:' + 'a'.repeat(64) + ' --unpack=false --keep-git-dir https://x/y.tgz /')[0] as CopyStep;
    expect(a).toMatchObject({ kind: 'add', unpack: false, keepGitDir: true, checksum: 'sha256:' + 'a'.repeat(64) });
  });

  it('rejects what BuildKit rejects', () => {
    expect(error(() => compile('FROM scratch\nCOPY --chmod=64a a /')).message).toBe(
      "invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777",
    );
    expect(error(() => compile('FROM scratch\nCOPY http://x/y /')).message).toBe("source can't be a URL for COPY");
    expect(error(() => compile('FROM scratch\nADD --checksum=sha256:ab a /')).message).toBe('checksum requires HTTP(S) or Git sources');
    expect(error(() => compile('FROM scratch\nADD --parents a /')).message).toBe('unknown flag: --parents');
    expect(error(() => compile('FROM scratch\nCOPY --chwon=1 a /')).message).toBe('unknown flag: --chwon (did you mean chown?)');
    expect(error(() => compile('FROM scratch\nCOPY --chwon=1 a /')).hint).toBe('--chown');
  });

  it('expands heredoc bodies only for unquoted terminators, quotes kept', () => {
    const heredocs = {
      3: [{ name: 'EOF', fileDescriptor: 0, expand: true, chomp: false, content: 'v="$V" \\$V\n', range: range(3, 1) }],
      4: [{ name: 'EOF', fileDescriptor: 0, expand: false, chomp: false, content: '$V\n', range: range(4, 1) }],
    };
    const g = compileDockerfile(ast("FROM scratch\nARG V=1\nCOPY <<EOF /a\nCOPY <<'EOF' /b", { heredocs })).value;
    const [, a, b] = g.stages[0].steps as CopyStep[];
    expect(a.inline).toEqual([{ name: 'EOF', data: 'v="1" $V\n', chomp: false }]);
    expect(b.inline).toEqual([{ name: 'EOF', data: '$V\n', chomp: false }]);
  });
});

describe('other instructions', () => {
  it('HEALTHCHECK parses Go durations and retries', () => {
    const [h] = steps('FROM scratch\nHEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=0 --start-interval=10ms --retries=3 CMD curl -f x');
    expect(h).toMatchObject({ health: { Test: ['CMD-SHELL', 'curl -f x'], Interval: 90e9, Timeout: 1.5e9, StartPeriod: 0, StartInterval: 1e7, Retries: 3 } });
    expect(error(() => compile('FROM scratch\nHEALTHCHECK --interval=50ns CMD x')).message).toBe('Interval "interval" cannot be less than 1ms');
    expect(error(() => compile('FROM scratch\nHEALTHCHECK --retries=-1 CMD x')).message).toBe('--retries cannot be negative (-1)');
    expect(error(() => compile('FROM scratch\nHEALTHCHECK --timeout=5 CMD x')).message).toBe('time: missing unit in duration "5"');
    expect(error(() => compile('FROM scratch\nHEALTHCHECK FOO x')).message).toBe('Unknown type "FOO" in HEALTHCHECK (try CMD)');
    expect(error(() => compile('FROM scratch\nHEALTHCHECK --interval=1s NONE')).message).toBe('unknown flag: --interval');
  });

  it('EXPOSE expands and expands ranges; STOPSIGNAL validates', () => {
    const [, e] = steps('FROM scratch\nARG P=80\nEXPOSE $P 90-91/udp');
    expect(e).toMatchObject({ kind: 'expose', ports: ['80/tcp', '90/udp', '91/udp'] });
    expect(error(() => compile('FROM scratch\nEXPOSE 80/xyz')).message).toBe('invalid port: "80/xyz": invalid proto: xyz');
    expect(steps('FROM scratch\nSTOPSIGNAL sigkill')[0]).toMatchObject({ signal: 'sigkill' });
    expect(error(() => compile('FROM scratch\nSTOPSIGNAL SIGNOPE')).message).toBe('invalid signal: SIGNOPE');
  });

  it('ONBUILD records triggers, rejects chaining, and parent triggers run in children', () => {
    const g = compile('FROM scratch AS base\nONBUILD COPY --from=dep a /\nFROM scratch AS dep\nFROM base\nRUN x').value;
    const child = g.stages.find((s) => s.index === 2)!;
    expect(child.steps[0]).toMatchObject({ kind: 'copy', fromOnbuild: true, from: { kind: 'stage', index: 1 } });
    expect(child.dependsOn).toEqual([0, 1]);
    expect(g.stages[0].steps[0]).toMatchObject({ kind: 'onbuild', expression: 'COPY --from=dep a /' });
    expect(error(() => compile('FROM scratch\nONBUILD ONBUILD RUN x')).message).toBe('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
    expect(error(() => compile('FROM scratch\nONBUILD MAINTAINER x')).message).toBe("MAINTAINER isn't allowed as an ONBUILD trigger");
  });

  it('unknown instructions suggest the closest', () => {
    const e = error(() => compile('FROM scratch\nFNTRYPOINT ["x"]'));
    expect(e.message).toBe('unknown instruction: FNTRYPOINT (did you mean ENTRYPOINT?)');
    expect(e.range?.start.line).toBe(2);
    expect(error(() => compile('FROM scratch\nBADCMD')).message).toBe('unknown instruction: BADCMD');
  });
});

describe('config changes', () => {
  it('applies steps like BuildKit', () => {
    const s = steps(
      'FROM scratch\nENV A=1\nLABEL l=v\nWORKDIR app\nWORKDIR ../srv\nUSER me\nEXPOSE 80\nVOLUME /data\nSHELL ["/bin/bash","-c"]\nCMD echo hi\nENTRYPOINT ["e"]\nSTOPSIGNAL 9\nMAINTAINER m',
    );
    let st = initialConfigState();
    for (const step of s) st = applyConfigStep(st, step);
    expect(st.author).toBe('m');
    expect(st.config).toEqual({
      WorkingDir: '/srv',
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1'],
      Labels: { l: 'v' },
      User: 'me',
      ExposedPorts: { '80/tcp': {} },
      Volumes: { '/data': {} },
      Shell: ['/bin/bash', '-c'],
      Cmd: ['/bin/bash', '-c', 'echo hi'],
      ArgsEscaped: true,
      Entrypoint: ['e'],
      StopSignal: '9',
    });
  });

  it('ENTRYPOINT clears an inherited CMD', () => {
    let st = initialConfigState({ Cmd: ['sh'] });
    for (const step of steps('FROM scratch\nENTRYPOINT ["x"]')) st = applyConfigStep(st, step);
    expect(st.config.Cmd).toBeNull();
  });

  it('canonical steps ignore ranges and original text', () => {
    const a = steps('FROM scratch\nCOPY a /b')[0] as Step;
    const b = steps('FROM scratch\n\n\nCOPY   a /b')[0] as Step;
    expect(a.range).not.toEqual(b.range);
    expect(canonicalJson(canonicalStep(a))).toBe(canonicalJson(canonicalStep(b)));
  });
});

describe('build checks', () => {
  const rules = (src: string, options = {}) => checkDockerfile(ast(src), options).warnings.map((w) => `${w.rule}@${w.range.start.line}: ${w.message}`);
  it('reports the static rules with BuildKit messages', () => {
    const out = rules(
      'FROM alpine AS BadName\nFROM alpine as x\nFROM scratch AS x\nMAINTAINER me\nENV k v\nCMD run\nCMD ["a"]\nWORKDIR rel\nCOPY $nope .\nARG AWS_SECRET_KEY\nEXPOSE 127.0.0.1:80:80/TCP\nFROM --platform=linux/amd64 alpine AS scratch',
    );
    expect(out).toEqual(
      expect.arrayContaining([
        "StageNameCasing@1: Stage name 'BadName' should be lowercase",
        "FromAsCasing@2: 'as' and 'FROM' keywords' casing do not match",
        'DuplicateStageName@3: Duplicate stage name "x", stage names should be unique',
        'ReservedStageName@12: Stage name should not use the same name as reserved stage "scratch"',
        'MaintainerDeprecated@4: Maintainer instruction is deprecated in favor of using label',
        'LegacyKeyValueFormat@5: "ENV key=value" should be used instead of legacy "ENV key value" format',
        'JSONArgsRecommended@6: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
        'MultipleInstructionsDisallowed@6: Multiple CMD instructions should not be used in the same stage because only the last one will be used',
        'WorkdirRelativePath@8: Relative workdir "rel" can have unexpected results if the base image changes',
        "UndefinedVar@9: Usage of undefined variable '$nope'",
        'SecretsUsedInArgOrEnv@10: Do not use ARG or ENV instructions for sensitive data (ARG "AWS_SECRET_KEY")',
        "ExposeInvalidFormat@11: EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80/TCP'",
        "ExposeProtoCasing@11: Defined protocol '127.0.0.1:80:80/TCP' in EXPOSE instruction should be lowercase",
        'FromPlatformFlagConstDisallowed@12: FROM --platform flag should not use constant value "linux/amd64"',
      ]),
    );
    expect(out).toHaveLength(14);
  });

  it('FROM argument rules', () => {
    expect(rules('ARG TAG\nFROM busybox:${TAG}\nFROM node:22${VARIANT} AS b\nFROM --platform=$TARGETPLATFORM alpine AS c')).toEqual([
      'InvalidDefaultArgInFrom@2: Default value for ARG busybox:${TAG} results in empty or invalid base image name',
      "UndefinedArgInFrom@3: FROM argument 'VARIANT' is not declared",
      'RedundantTargetPlatform@4: Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
    ]);
  });

  it('ConsistentInstructionCasing follows the majority', () => {
    expect(rules('FROM alpine\nRUN a\nrun b\nRun c')).toEqual([
      "ConsistentInstructionCasing@3: Command 'run' should match the case of the command majority (uppercase)",
      "ConsistentInstructionCasing@4: Command 'Run' should match the case of the command majority (uppercase)",
    ]);
  });

  it('undefined variables suggest close names', () => {
    expect(rules('FROM alpine\nENV PATH=$PAHT:/x')).toEqual(["UndefinedVar@2: Usage of undefined variable '$PAHT' (did you mean $PATH?)"]);
  });

  it('honours skip and error=true; experimental rules need enabling', () => {
    const directives = [{ name: 'check' as const, value: 'skip=ConsistentInstructionCasing;error=true', range: range(1, 1) }];
    const a = ast('FROM scratch as base\ncopy a .', { directives });
    const r = checkDockerfile(a);
    expect(r.warnings.map((w) => w.rule)).toEqual(['FromAsCasing']);
    expect(r.failed).toBe(true);
    const e = error(() => compileDockerfile(a));
    expect(e.message).toBe('lint violation found for rules: FromAsCasing');
    expect(e.range?.start.line).toBe(1);
    expect(rules('FROM scratch\nMAINTAINER x', { check: 'skip=all' })).toEqual([]);
    const ignore = { patterns: ['tmp'], matches: (p: string) => p === 'tmp' || p.startsWith('tmp/') };
    expect(rules('FROM scratch\nCOPY ./tmp/x /', { ignore })).toEqual([]);
    expect(rules('FROM scratch\nCOPY ./tmp/x /', { ignore, check: 'experimental=all' })).toEqual([
      'CopyIgnoredFile@2: Attempting to Copy file "tmp/x" that is excluded by .dockerignore',
    ]);
    expect(rules('# a comment\nFROM scratch AS base', { check: 'experimental=InvalidDefinitionDescription' })).toEqual([
      'InvalidDefinitionDescription@2: Comment for FROM should follow the format: `# base <description>`',
    ]);
  });

  it('returns instruction errors instead of throwing', () => {
    const r = checkDockerfile(ast('FROM scratch AS BadStageName\nMAINTAINER me\nBADCMD'));
    expect(r.failed).toBe(true);
    expect(r.error?.message).toBe('unknown instruction: BADCMD');
    expect(r.warnings.map((w) => w.rule)).toEqual(['StageNameCasing', 'MaintainerDeprecated']);
  });
});

describe('parseChmod', () => {
  it('accepts octal and symbolic modes', () => {
    expect(parseChmod('0755')).toEqual({ kind: 'octal', mode: 0o755 });
    expect(parseChmod('u=rwX,go=rX')).toEqual({ kind: 'symbolic', expression: 'u=rwX,go=rX' });
    expect(() => parseChmod('10000')).toThrow("invalid chmod parameter: '10000'");
    expect(() => parseChmod('q+x')).toThrow('invalid chmod parameter');
  });
});

describe('image references in --from', () => {
  it('are validated like FROM images', () => {
    expect(error(() => compile('FROM scratch\nCOPY --from=Bad/Name a /')).message).toBe(
      'failed to parse stage name "Bad/Name": invalid reference format: repository name must be lowercase',
    );
    expect(error(() => compile('FROM scratch\nRUN --mount=from=a::b,target=/x true')).message).toContain('failed to parse stage name "a::b"');
  });
});
