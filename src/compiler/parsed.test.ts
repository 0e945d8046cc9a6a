/** The compiler over real parser output: quoting, escapes, heredocs, ONBUILD, the plan. */
import { describe, expect, it } from '@jest/globals';
import { parseDockerfile } from '../parser/index.js';
import { compileDockerfile, type CompileOptions } from './compile.js';
import { canonicalJson, canonicalStep, formatPlan, stageByIndex, type BuildGraph, type CopyStep, type RunStep, type Step } from '../graph/index.js';

function target(text: string, options: CompileOptions = {}): Step[] {
  const g = compileDockerfile(parseDockerfile(text), options).value;
  return stageByIndex(g, g.target).steps;
}

describe('expansion over parsed text', () => {
  it('ENV and LABEL remove quotes and escapes after expansion', () => {
    const [, env, label] = target('FROM scratch\nARG N=x\nENV A="a b" C=d\\ e D=\'$N\' E="$N"\nLABEL "k $N"="v\\"q"');
    expect(env).toMatchObject({ kind: 'env', pairs: [{ key: 'A', value: 'a b' }, { key: 'C', value: 'd e' }, { key: 'D', value: '$N' }, { key: 'E', value: 'x' }] });
    expect(label).toMatchObject({ kind: 'label', pairs: [{ key: 'k x', value: 'v"q' }] });
  });

  it('legacy ENV keeps the rest of the line', () => {
    const [env] = target('FROM scratch\nENV MSG hello   big "world"');
    expect(env).toMatchObject({ pairs: [{ key: 'MSG', value: 'hello   big world' }] });
  });

  it('the escape directive applies to expansion', () => {
    const [, env] = target('# escape=`\nFROM scratch\nARG V=1\nENV A=`$V B=c:\\path');
    expect(env).toMatchObject({ kind: 'env', pairs: [{ key: 'A', value: '$V' }, { key: 'B', value: 'c:\\path' }] });
  });

  it('JSON-form COPY keeps spaces; heredocs with <<- are chomped and expanded', () => {
    const steps = target('FROM scratch\nARG V=1\nCOPY ["a b", "/dst dir/"]\nCOPY <<-EOT /x\n\tv=$V\n\tEOT\n');
    expect(steps[1]).toMatchObject({ kind: 'copy', sources: ['a b'], dest: '/dst dir/' });
    expect((steps[2] as CopyStep).inline).toEqual([{ name: 'EOT', data: 'v=1\n', chomp: false }]);
  });

  it('RUN heredocs stay raw; exec form keeps argv', () => {
    const [r1, r2] = target('FROM scratch\nRUN <<EOF\necho $HOME\nEOF\nRUN ["sh", "-c", "echo $HOME"]') as RunStep[];
    expect(r1).toMatchObject({ command: ['<<EOF'], prependShell: true, files: [{ name: 'EOF', data: 'echo $HOME\n', chomp: false }] });
    expect(r2).toMatchObject({ command: ['sh', '-c', 'echo $HOME'], prependShell: false, files: [] });
  });

  it('ONBUILD stores the trigger text with its heredocs', () => {
    const [onbuild] = target('FROM scratch\nONBUILD RUN <<EOF\necho hi\nEOF\n');
    expect(onbuild).toMatchObject({ kind: 'onbuild', expression: 'RUN <<EOF\necho hi\nEOF' });
  });

  it('COPY --chown with quotes and variables', () => {
    const [, copy] = target('FROM scratch\nARG U=app\nCOPY --chown="$U:$U" a /');
    expect(copy).toMatchObject({ chown: 'app:app' });
  });
});

describe('the plan', () => {
  it('describes a multi-stage build', () => {
    const g = compileDockerfile(
      parseDockerfile(
        'ARG GO=1.22\nFROM golang:${GO} AS build\nRUN --mount=type=cache,target=/root/.cache go build -o /app\nFROM alpine AS test\nRUN true\nFROM scratch\nCOPY --from=build /app /app\nENTRYPOINT ["/app"]\n',
      ),
    ).value;
    const plan = formatPlan(g);
    expect(plan).toContain('stage #0 (build) from image golang:1.22 (line 2)');
    expect(plan).toContain('  1. RUN go build -o /app  (line 3)\n     mount cache /root/.cache');
    expect(plan).toContain('  1. COPY /app /app (from stage #0 (build))  (line 7)\n     needs: #0 (build)');
    expect(plan).toContain('dropped (not needed for the target): #1 (test)');
    expect(plan).toContain('global args: GO="1.22"');
  });
});

/** Facts from BuildKit's dockerfile_args_test.go, checked on the compiled steps. */
describe('BuildKit ARG expectations', () => {
  const runArgs = (steps: Step[]) => (steps.find((s) => s.kind === 'run') as RunStep).args;
  const g = (text: string, options: CompileOptions = {}) => compileDockerfile(parseDockerfile(text), options).value;

  it('testMultiArgs: quoted defaults, several per line, globals re-declared', () => {
    const graph = g('\nARG a1="foo bar" a2=box\nARG a3="$a2-foo"\nFROM busy$a2 AS build\nARG a3 a4="123 456" a1\nRUN echo -n "$a1:$a3:$a4" > /out\nFROM scratch\nCOPY --from=build /out .\n');
    const build = stageByIndex(graph, 0);
    expect(build.base).toEqual({ kind: 'image', ref: 'busybox' });
    expect(runArgs(build.steps)).toEqual([
      { key: 'a3', value: 'box-foo' },
      { key: 'a4', value: '123 456' },
      { key: 'a1', value: 'foo bar' },
    ]);
  });

  it('testQuotedMetaArgs', () => {
    const graph = g('\nARG a1="box"\nARG a2="$a1-foo"\nFROM busy$a1 AS build\nARG a2\nARG a3="bar-$a2"\nRUN echo -n $a3 > /out\nFROM scratch\nCOPY --from=build /out .\n');
    expect(runArgs(stageByIndex(graph, 0).steps)).toEqual([
      { key: 'a2', value: 'box-foo' },
      { key: 'a3', value: 'bar-box-foo' },
    ]);
  });

  it('testTargetStageNameArg: TARGETSTAGE is the target, else the last stage name, else default', () => {
    const df = '\nFROM alpine AS base\nWORKDIR /out\nRUN echo -n "value:$TARGETSTAGE" > /out/first\nARG TARGETSTAGE\nRUN echo -n "value:$TARGETSTAGE" > /out/second\n\nFROM scratch AS foo\nCOPY --from=base /out/ /\n\nFROM scratch\nCOPY --from=base /out/ /\n';
    const second = (graph: BuildGraph) => stageByIndex(graph, 0).steps.filter((s): s is RunStep => s.kind === 'run');
    const withFoo = second(g(df, { target: 'foo' }));
    expect(withFoo[0].args).toEqual([]);
    expect(withFoo[1].args).toEqual([{ key: 'TARGETSTAGE', value: 'foo' }]);
    expect(second(g(df))[1].args).toEqual([{ key: 'TARGETSTAGE', value: 'default' }]);
    expect(second(g(`${df}\n\tFROM scratch AS final\n\tCOPY --from=base /out/ /\n\t`))[1].args).toEqual([{ key: 'TARGETSTAGE', value: 'final' }]);
  });

  it('testBuiltinArgs: proxies reach RUN without ARG and stay out of the cache key', () => {
    const df = '\nFROM busybox AS build\nARG FOO\nARG BAR\nARG BAZ=bazcontent\nRUN echo -n $HTTP_PROXY::$NO_PROXY::$FOO::$BAR::$BAZ > /out\nFROM scratch\nCOPY --from=build /out /\n\n';
    const run = (buildArgs: Record<string, string>) => stageByIndex(g(df, { buildArgs }), 0).steps.find((s): s is RunStep => s.kind === 'run')!;
    const a = run({ FOO: 'foocontents', http_proxy: 'hpvalue', NO_PROXY: 'npvalue' });
    expect(a.args).toEqual([{ key: 'FOO', value: 'foocontents' }, { key: 'BAR' }, { key: 'BAZ', value: 'bazcontent' }]);
    expect(a.proxy).toEqual([{ key: 'NO_PROXY', value: 'npvalue' }, { key: 'http_proxy', value: 'hpvalue' }]);
    const b = run({ FOO: 'foocontents', http_proxy: 'hpvalue2' });
    const c = run({ FOO: 'foocontents2', http_proxy: 'hpvalue2' });
    expect(canonicalJson(canonicalStep(a))).toBe(canonicalJson(canonicalStep(b)));
    expect(canonicalJson(canonicalStep(b))).not.toBe(canonicalJson(canonicalStep(c)));
  });

  it('testDefaultEnvWithArgs: ${x#p} in FROM, ${x:-d} and ${x%%p} in ENV', () => {
    const df = '\nARG image=idlebox\nFROM busy${image#idle} AS build\nARG my_arg\nENV my_arg "my_arg=${my_arg:-def_val}"\nENV my_trimmed_arg "${my_arg%%e*}"\nRUN ./myscript.sh $my_arg $my_trimmed_arg\n';
    for (const [buildArgs, env1, env2] of [
      [{}, 'my_arg=def_val', 'my_arg=d'],
      [{ my_arg: '' }, 'my_arg=def_val', 'my_arg=d'],
      [{ my_arg: 'override' }, 'my_arg=override', 'my_arg=ov'],
    ] as const) {
      const st = stageByIndex(g(df, { buildArgs }), 0);
      expect(st.base).toEqual({ kind: 'image', ref: 'busybox' });
      expect(st.steps[1]).toMatchObject({ pairs: [{ key: 'my_arg', value: env1 }] });
      expect(st.steps[2]).toMatchObject({ pairs: [{ key: 'my_trimmed_arg', value: env2 }] });
    }
  });

  it('testEmptyStringArgInEnv: ARG without value stays unset, ARG BAR= is empty', () => {
    expect(runArgs(stageByIndex(g('\nFROM busybox AS build\nARG FOO\nARG BAR=\nRUN env > env.txt\n'), 0).steps)).toEqual([{ key: 'FOO' }, { key: 'BAR', value: '' }]);
  });
});
