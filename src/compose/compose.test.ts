import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { applyComposeSets, buildServiceNames, interpolate, loadComposeProject, parseEnvFile, serviceBuild } from './index.js';

describe('interpolate (Compose rules)', () => {
  const env: Record<string, string> = { A: 'a', EMPTY: '' };
  const look = (n: string) => env[n];
  it.each([
    ['$A', 'a'],
    ['${A}', 'a'],
    ['x${A}y$A', 'xaya'],
    ['${UNSET:-d}', 'd'],
    ['${EMPTY:-d}', 'd'],
    ['${EMPTY-d}', ''],
    ['${UNSET-d}', 'd'],
    ['${A:-d}', 'a'],
    ['${A:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET:-${A}-x}', 'a-x'],
    ['$$A', '$A'],
    ['$${A}', '${A}'],
    ['cost: 5$', 'cost: 5$'],
  ])('%s -> %s', (text, value) => {
    expect(interpolate(text, look).value).toBe(value);
  });

  it('reports unset variables without a default (blank, as Compose warns)', () => {
    expect(interpolate('${NOPE}x$NADA', look)).toEqual({ value: 'x', unset: ['NOPE', 'NADA'] });
  });

  it('${VAR:?err} and ${VAR?err} fail with the message when missing', () => {
    expect(() => interpolate('${UNSET:?set UNSET first}', look)).toThrow('required variable UNSET is missing a value: set UNSET first');
    expect(() => interpolate('${EMPTY:?no}', look)).toThrow('required variable EMPTY is missing a value: no');
    expect(interpolate('${EMPTY?no}', look).value).toBe('');
    expect(() => interpolate('${UNSET?}', look)).toThrow('required variable UNSET is missing a value');
  });

  it('malformed substitutions are errors', () => {
    expect(() => interpolate('${A', look)).toThrow(/never closed/);
    expect(() => interpolate('${}', look)).toThrow(/expected a variable name/);
    expect(() => interpolate('${A*b}', look)).toThrow(/expected }/);
  });
});

describe('.env files', () => {
  it('reads KEY=VALUE, export, comments, quotes, and earlier variables', () => {
    const text = '# c\nexport A=1\nB = two words # comment\nC="x\\ny ${A}"\nD=\'${A} raw\'\nE=${B}-${HOME_X:-h}\n\nF=\n';
    expect(Object.fromEntries(parseEnvFile(text))).toEqual({ A: '1', B: 'two words', C: 'x\ny 1', D: '${A} raw', E: 'two words-h', F: '' });
  });
  it('a line that is not KEY=VALUE is an error at its offset', () => {
    expect(() => parseEnvFile('A=1\nnot a pair\n')).toThrow(/expected KEY=VALUE/);
  });
});

describe('loadComposeProject', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'compose-'));
    await mkdir(path.join(dir, 'web'));
    await mkdir(path.join(dir, 'api'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const load = (env: Record<string, string | undefined> = {}, files?: string[]) => loadComposeProject({ cwd: dir, env, ...(files ? { files } : {}) });

  it('finds compose.yaml and its override file, merges them, reads .env (the process environment wins)', async () => {
    await writeFile(path.join(dir, '.env'), 'TAG=fromenvfile\nVERSION=1\n');
    await writeFile(
      path.join(dir, 'compose.yaml'),
      'name: Shop\nservices:\n  web:\n    image: reg/web:${TAG}\n    build:\n      context: ./web\n      args:\n        - VERSION=${VERSION}\n        - PLAIN\n      tags: [a]\n  api:\n    build: ./api\n  db:\n    image: postgres\n',
    );
    await writeFile(path.join(dir, 'compose.override.yaml'), 'services:\n  web:\n    build:\n      args:\n        EXTRA: x\n      tags: [b, a]\n');
    const p = await load({ TAG: 'fromprocess', PLAIN: 'p' });
    expect(p.name).toBe('shop');
    expect(p.files.map((f) => path.basename(f))).toEqual(['compose.yaml', 'compose.override.yaml']);
    expect(buildServiceNames(p)).toEqual(['web', 'api']);
    const web = serviceBuild(p, 'web');
    expect(web).toMatchObject({ image: 'reg/web:fromprocess', imageGiven: true, context: path.join(dir, 'web'), dockerfile: path.join(dir, 'web', 'Dockerfile'), args: { VERSION: '1', PLAIN: 'p', EXTRA: 'x' }, tags: ['a', 'b'] });
    const api = serviceBuild(p, 'api');
    expect(api).toMatchObject({ image: 'shop-api', imageGiven: false, context: path.join(dir, 'api') });
    // Where each value was written, across files.
    expect(p.where(['services', 'web', 'build', 'args', 'EXTRA'])).toMatchObject({ file: 'compose.override.yaml', range: { start: { line: 5, column: 9 } } });
    expect(p.where(['services', 'web', 'build', 'args', 'VERSION'])).toMatchObject({ file: 'compose.yaml', range: { start: { line: 8, column: 11 } } });
    expect(p.where(['services', 'web', 'build', 'context'])).toMatchObject({ file: 'compose.yaml', range: { start: { line: 6, column: 7 } } });
  });

  it('anchors, << merge keys, !reset and !override', async () => {
    await writeFile(path.join(dir, 'a.yaml'), 'x-base: &base\n  context: ./web\n  args: { A: "1" }\n  tags: [t1]\nservices:\n  web:\n    build:\n      <<: *base\n      target: final\n');
    await writeFile(path.join(dir, 'b.yaml'), 'services:\n  web:\n    build:\n      args: !override { B: "2" }\n      tags: !reset []\n');
    const web = serviceBuild(await load({}, ['a.yaml', 'b.yaml']), 'web');
    expect(web).toMatchObject({ target: 'final', args: { B: '2' }, tags: [] });
  });

  it('${VAR:?err} missing is a located COMPOSE_VARIABLE error; an unset variable is a warning', async () => {
    await writeFile(path.join(dir, 'compose.yaml'), 'services:\n  web:\n    build:\n      context: ./web\n      target: ${STAGE:?name the stage}\n      args: { X: $UNSET_X }\n');
    const err = (await load().catch((e) => e)) as OcibuildError;
    expect(err).toBeInstanceOf(OcibuildError);
    expect(err.code).toBe('COMPOSE_VARIABLE');
    expect(err.message).toBe('required variable STAGE is missing a value: name the stage');
    expect(err.location).toBe('compose.yaml:5:15');
    const p = await load({ STAGE: 's' });
    expect(p.warnings.map((w) => w.message)).toEqual(['the "UNSET_X" variable is not set: defaulting to a blank string']);
  });

  it('YAML syntax errors and duplicate keys are located', async () => {
    await writeFile(path.join(dir, 'compose.yaml'), 'services:\n  web:\n    build: ./web\n    build: ./api\n');
    const err = (await load().catch((e) => e)) as OcibuildError;
    expect(err.code).toBe('COMPOSE_INVALID');
    expect(err.location).toMatch(/^compose\.yaml:4:\d+$/);
  });

  it('a git URL context is passed on as it is, with the Dockerfile path inside it', async () => {
    await writeFile(path.join(dir, 'compose.yaml'), 'services:\n  web:\n    build:\n      context: https://git.example/app.git#v1:srv\n      dockerfile: docker/Dockerfile\n');
    const b = serviceBuild(await load(), 'web');
    expect(b.context).toBe('https://git.example/app.git#v1:srv');
    expect(b.dockerfile).toBe('docker/Dockerfile');
  });

  it('an unknown build key, an unsupported network are located errors naming the key', async () => {
    const cases: [string, string, RegExp, string][] = [
      ['      contxt: .\n', 'COMPOSE_INVALID', /services\.web\.build\.contxt: unknown build key/, 'compose.yaml:4:7'],
      ['      context: ./web\n      network: backend\n', 'UNSUPPORTED', /RUN steps join no Compose network/, 'compose.yaml:5:7'],
      ['      context: ./web\n      provenance: true\n', 'UNSUPPORTED', /provenance/, 'compose.yaml:5:7'],
      ['      context: ./web\n      dockerfile: D\n      dockerfile_inline: FROM scratch\n', 'COMPOSE_INVALID', /cannot both be set/, 'compose.yaml:6:7'],
      ['      context: ./web\n      secrets: [nope]\n', 'COMPOSE_INVALID', /secret "nope" is not defined/, 'compose.yaml:5:17'],
      ['      context: ./missing\n', 'CONTEXT_NOT_FOUND', /is not a directory/, 'compose.yaml:4:7'],
    ];
    for (const [body, code, message, location] of cases) {
      await writeFile(path.join(dir, 'compose.yaml'), `services:\n  web:\n    build:\n${body}`);
      const p = await load();
      const err = (() => {
        try {
          serviceBuild(p, 'web');
        } catch (e) {
          return e as OcibuildError;
        }
        throw new Error(`no error for ${body}`);
      })();
      expect([body, err.code, err.location]).toEqual([body, code, location]);
      expect(err.message).toMatch(message);
    }
  });

  it('secrets, ssh, extra_hosts, ulimits, privileged, platform', async () => {
    await writeFile(path.join(dir, 'token.txt'), 't');
    await writeFile(path.join(dir, '.env'), 'ONLY_IN_DOTENV=v\n');
    await writeFile(
      path.join(dir, 'compose.yaml'),
      [
        'services:',
        '  web:',
        '    platform: linux/arm64',
        '    build:',
        '      context: web',
        '      secrets: [token, { source: npm, target: npmrc }, fromdotenv]',
        '      ssh: [default, gh=./id_ed25519]',
        '      extra_hosts: { db: 10.0.0.5 }',
        '      ulimits: { nofile: { soft: 1024, hard: 2048 }, nproc: 512 }',
        '      privileged: true',
        '      labels: [team=infra]',
        'secrets:',
        '  token: { file: ./token.txt }',
        '  npm: { environment: NPM_TOKEN }',
        '  fromdotenv: { environment: ONLY_IN_DOTENV }',
        '',
      ].join('\n'),
    );
    const b = serviceBuild(await load({ NPM_TOKEN: 'n' }), 'web');
    expect(b).toMatchObject({
      platforms: ['linux/arm64'],
      secrets: { token: { file: path.join(dir, 'token.txt') }, npmrc: { env: 'NPM_TOKEN' }, fromdotenv: { value: 'v' } },
      ssh: { default: [], gh: [path.join(dir, 'id_ed25519')] },
      extraHosts: ['db=10.0.0.5'],
      ulimits: ['nofile=1024:2048', 'nproc=512'],
      allowInsecure: true,
      labels: { team: 'infra' },
    });
  });

  it('--set overrides build keys by service pattern (bake style)', async () => {
    await writeFile(path.join(dir, 'compose.yaml'), 'services:\n  web:\n    build: { context: web, args: { VERSION: "1" } }\n  api:\n    build: api\n');
    const p = await load();
    applyComposeSets(p, ['web.args.VERSION=2', '*.platforms=linux/amd64,linux/arm64', 'a?i.no-cache=true', 'api.image=reg/api:9', 'web.tags=x:1,y:2']);
    expect(serviceBuild(p, 'web')).toMatchObject({ args: { VERSION: '2' }, platforms: ['linux/amd64', 'linux/arm64'], noCache: false, tags: ['x:1', 'y:2'] });
    expect(serviceBuild(p, 'api')).toMatchObject({ platforms: ['linux/amd64', 'linux/arm64'], noCache: true, image: 'reg/api:9', imageGiven: true });
    expect(() => applyComposeSets(p, ['nomatch.target=x'])).toThrow(/no service with a build section matches "nomatch"/);
    expect(() => applyComposeSets(p, ['web.bogus=x'])).toThrow(/unknown key "bogus"/);
    expect(() => applyComposeSets(p, ['web.args=x'])).toThrow(/args takes a name/);
    // A value --set replaced has no location in the file any more.
    applyComposeSets(p, ['web.network=bridge']);
    const err = (() => {
      try {
        serviceBuild(p, 'web');
      } catch (e) {
        return e as OcibuildError;
      }
    })();
    expect(err?.code).toBe('UNSUPPORTED');
    expect(err?.range).toBeUndefined();
  });

  it('no compose file: a clear error', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'compose-none-'));
    try {
      await expect(loadComposeProject({ cwd: empty, env: {} })).rejects.toThrow(/no compose file found/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
