/** The compiler over real parser output: quoting, escapes, heredocs, ONBUILD, the plan. */
import { describe, expect, it } from '@jest/globals';
import { parseDockerfile } from '../parser/index.js';
import { compileDockerfile, type CompileOptions } from './compile.js';
import { formatPlan, stageByIndex, type CopyStep, type RunStep, type Step } from '../graph/index.js';

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
