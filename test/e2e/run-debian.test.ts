/**
 * Real Dockerfiles on a Debian base (debootstrap minbase, made and cached by
 * the test setup, pushed to a local registry), through the CLI, each image
 * run with crun: apt-get install of a small package, a Node app whose
 * dependencies come from `npm ci` against the npm registry with Debian's
 * nodejs and npm, and a multi-stage build compiling C with gcc and copying
 * the binary into a busybox stage. Package installs need the network (the
 * configured Debian mirror, the npm registry): RUN uses the host's network
 * by default, as buildah and BuildKit do.
 *
 * Every Dockerfile starts with the same `RUN apt-get update`, so within one
 * store it runs once and later builds take it from the step cache.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildOci, makeActor, runImage, runTestsUnavailable, skipLoudly, startWorld, writeContext, type Actor, type ActorKind, type RunWorld } from './run-harness.js';

const FIXTURES = path.join(process.cwd(), 'test/e2e/fixtures');
const UPDATE = 'RUN apt-get update';

const HELLO_C = `#include <stdio.h>
int main(void) { printf("compiled by gcc in a build stage, run from busybox\\n"); return 0; }
`;

/** The apt test runs as root and rootless (with subuid: apt drops to its _apt user, which needs a second uid). */
const KINDS: ActorKind[] = ['root', 'rootless-subuid'];

/** The host's trusted CAs (its bundle plus NODE_EXTRA_CA_CERTS), for a RUN that reaches the npm registry. */
async function hostCaBundle(): Promise<string> {
  const files = ['/etc/ssl/certs/ca-certificates.crt', process.env.NODE_EXTRA_CA_CERTS].filter((f): f is string => Boolean(f));
  const parts = await Promise.all(files.map((f) => readFile(f, 'utf8').catch(() => '')));
  return parts.join('\n');
}

describe.each(KINDS)('RUN on a Debian base as %s', (kind) => {
  let world: RunWorld | undefined;
  let actor: Actor;
  let unavailable: string | undefined;

  beforeAll(async () => {
    unavailable = await runTestsUnavailable();
    if (unavailable) return;
    world = await startWorld({ debian: true });
    unavailable = world.debianMissing;
    actor = await makeActor(kind, world.tmp);
  }, 900_000);
  afterAll(async () => {
    await world?.stop();
  });

  it('RUN apt-get update && apt-get install -y --no-install-recommends hello', async () => {
    if (skipLoudly(unavailable)) return;
    const ctx = await writeContext(actor, 'apt', {
      Dockerfile: `FROM ${world!.debian}\n${UPDATE}\nRUN apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*\nCMD ["hello"]\n`,
    });
    const { oci } = await buildOci(actor, world!.tmp, ctx, 'apt:latest');
    expect(await runImage(oci, 'latest', world!.tmp)).toBe('Hello, world!\n');
  }, 900_000);

  if (kind !== 'root') return;

  it('a Node app: Debian nodejs and npm, RUN npm ci against the npm registry', async () => {
    if (skipLoudly(unavailable)) return;
    const fx = (f: string) => readFile(path.join(FIXTURES, 'run-npm', f), 'utf8');
    const ctx = await writeContext(actor, 'npm', {
      Dockerfile: `FROM ${world!.debian}
${UPDATE}
RUN apt-get install -y --no-install-recommends nodejs npm ca-certificates
WORKDIR /app
COPY package.json package-lock.json ./
# The host's CA bundle, bound for this step only: where the network reaches the registry through a
# TLS-inspecting proxy (as on our CI machines), the image's own CAs do not know its certificate.
RUN --mount=type=bind,source=host-ca.pem,target=/run/host-ca.pem NODE_EXTRA_CA_CERTS=/run/host-ca.pem npm ci --no-audit --no-fund && test -f node_modules/is-number/index.js
COPY index.js ./
CMD ["node", "index.js"]
`,
      'host-ca.pem': await hostCaBundle(),
      'package.json': await fx('package.json'),
      'package-lock.json': await fx('package-lock.json'),
      'index.js': await fx('index.js'),
    });
    const { oci } = await buildOci(actor, world!.tmp, ctx, 'npm:latest');
    expect(await runImage(oci, 'latest', world!.tmp)).toBe('npm ci works: is-number(42)=true node=v18\n');
  }, 900_000);

  it('multi-stage: gcc compiles in a Debian stage, the binary runs from a busybox stage', async () => {
    if (skipLoudly(unavailable)) return;
    const ctx = await writeContext(actor, 'gcc', {
      Dockerfile: `FROM ${world!.debian} AS build
${UPDATE}
RUN apt-get install -y --no-install-recommends gcc libc6-dev
COPY hello.c /src/hello.c
RUN mkdir -p /out && gcc -static -O2 -o /out/hello /src/hello.c

FROM ${world!.busybox}
COPY --from=build /out/hello /usr/local/bin/hello
CMD ["/usr/local/bin/hello"]
`,
      'hello.c': HELLO_C,
    });
    const { oci } = await buildOci(actor, world!.tmp, ctx, 'gcc:latest');
    expect(await runImage(oci, 'latest', world!.tmp)).toBe('compiled by gcc in a build stage, run from busybox\n');
  }, 900_000);
});
