/**
 * Examples shown by each command's `--help`: every flag of every command
 * appears in at least one (test/e2e/cli-args.test.ts holds this).
 */
const EXAMPLES: Record<string, [string, string][]> = {
  build: [
    ['$0 build -t app:1.0 .', 'Build ./Dockerfile with . as context, tag app:1.0 in the local store'],
    ['$0 build -f build/Dockerfile --target runtime ./ctx', 'Another Dockerfile, stop at stage "runtime"'],
    ['$0 build -f - ./ctx < Dockerfile', 'Dockerfile from stdin, ./ctx as context'],
    ['$0 build - < Dockerfile', 'Dockerfile from stdin, empty context'],
    ['$0 build --build-arg VERSION=2 --label team=infra .', 'Build args and image labels'],
    ['$0 build --annotation org.opencontainers.image.source=https://example.com/app .', 'Manifest annotations'],
    ['$0 build --platform linux/amd64,linux/arm64 -t app .', 'One image per platform and an OCI index'],
    ['$0 build -o type=oci,dest=app.oci -o type=docker,dest=app.tar .', 'OCI layout directory and a docker load archive'],
    ['$0 build -t localhost:5000/app:1 --push .', 'Build and push the tags to their registries'],
    ['$0 build -o type=registry,name=localhost:5000/app:1,compression=zstd,compression-level=3 .', 'Push with zstd layers (also compression=uncompressed; type=image and type=oci take it too)'],
    ['$0 build -o type=oci,dest=app.oci,compression=zstd,force-compression=true .', "Convert the base image's layers to zstd as well (without it they stay as pulled)"],
    ['$0 build --pull --no-cache .', 'Ask the registry for every base, use no cached steps'],
    ['$0 build --explain .', 'Say for every step whether it came from the cache, and for a miss what changed'],
    ['$0 build --cache-from type=registry,ref=reg.example.com/app:cache --cache-to type=registry,ref=reg.example.com/app:cache,mode=max .', 'Share the step cache through a registry (CI runners with empty stores)'],
    ['$0 build --cache-from type=local,src=ci-cache --cache-to type=local,dest=ci-cache,ignore-error=false .', 'Share it through an OCI layout directory; a failed export fails the build'],
    ['$0 build -t reg.example.com/app:1 --push --cache-to type=inline --cache-from reg.example.com/app:1 .', 'Attach the cache to the pushed image; the next build imports it by naming the image'],
    ['$0 build --iidfile id.txt --metadata-file meta.json .', 'Write the image ID and the build metadata'],
    ['$0 build --dry-run .', 'Print the plan (stages, steps, dependencies); build nothing'],
    ['$0 build --store /var/cache/ocibuild .', 'Use another store directory'],
    ['$0 build -q .', 'Print only the image digest'],
    ['$0 build --progress=plain .', 'Progress as BuildKit prints it in CI (auto: tty on a terminal; also tty, json, quiet)'],
    ['$0 build --creds registry.example.com=me:secret --registry-ca ca.pem .', 'Credentials and an extra CA for a registry'],
    ['$0 build --insecure-registry build-cache:5000 .', 'Reach one registry over plain HTTP'],
    ['$0 build --registry-mirror docker.io=mirror.local:5000 .', 'Pull docker.io images through a mirror'],
    ['echo "$TOKEN" | $0 build --creds registry.example.com=ci --password-stdin -t registry.example.com/app:1 --push .', 'The password of --creds from stdin'],
    ['$0 build --registry-timeout 60 .', 'Let a slow registry take up to 60 s per wait'],
    ['$0 build --network none --add-host db:10.0.0.5 --shm-size 256m --ulimit nofile=1024:1024 .', 'RUN steps without network, an extra hosts line, a bigger /dev/shm, a lower limit'],
    ['$0 build --isolation chroot --snapshotter copy .', 'RUN without an OCI runtime or overlayfs (ocibuild doctor says what this host offers)'],
    ['$0 build --runtime runc .', 'Prefer runc to crun for RUN steps'],
    ['$0 build --allow security.insecure .', 'Let RUN --security=insecure steps run'],
    ['$0 build --cgroup-parent build.slice .', 'Refused with the reason: RUN steps use no cgroups of their own'],
    ['$0 build --secret id=npmrc,src=$HOME/.npmrc --secret id=token,env=GITHUB_TOKEN .', 'Secrets for RUN --mount=type=secret, from a file and from a variable'],
    ['$0 build --ssh default .', 'Forward $SSH_AUTH_SOCK to RUN --mount=type=ssh'],
    ['$0 build --build-context assets=../assets --build-context alpine=docker-image://alpine:3.20 .', 'COPY --from=assets reads ../assets; FROM alpine uses alpine:3.20'],
    ['$0 build --build-context base=oci-layout://./base.oci@sha256:... --build-context deps=target:deps-cached .', 'A stage "base" from an OCI layout, a stage "deps" replaced by stage "deps-cached"'],
  ],
  compose: [
    ['$0 compose', 'Build every service of compose.yaml that has a build section'],
    ['$0 compose -f compose.yaml -f compose.ci.yaml web api', 'Two files merged as Compose does; only services web and api'],
    ['$0 compose --push --keep-going', "Push each service's image: and tags; a failing service does not stop the others"],
    ['$0 compose --set web.args.VERSION=2 --set *.platforms=linux/amd64,linux/arm64', 'Override build keys, as bake --set'],
    ['$0 compose --build-arg VERSION=2 --pull --no-cache', 'A build arg for every service; pull every base; no cached steps'],
    ['$0 compose --project-directory ./app -p shop', 'Another project directory (.env, relative paths) and project name'],
    ['$0 compose --store /var/cache/ocibuild -q', 'Another store; print only the summary'],
    ['$0 compose --progress=plain', 'Progress as BuildKit prints it, each vertex named by its service'],
    ['$0 compose --isolation chroot --snapshotter copy --runtime runc', 'How RUN steps run (see ocibuild doctor)'],
    ['$0 compose --creds registry.example.com=me:secret --registry-ca ca.pem --push', 'Credentials and an extra CA for pushing'],
    ['$0 compose --insecure-registry build-cache:5000 --registry-mirror docker.io=mirror.local:5000', 'Plain HTTP for one registry; pull docker.io through a mirror'],
    ['echo "$TOKEN" | $0 compose --creds registry.example.com=ci --password-stdin --push', 'The password of --creds from stdin'],
    ['$0 compose --registry-timeout 60', 'Let a slow registry take up to 60 s per wait'],
  ],
  parse: [
    ['$0 parse .', "BuildKit's AST dump of ./Dockerfile"],
    ['$0 parse -f build/Dockerfile --format=json', "ocibuild's syntax tree with ranges, as JSON"],
  ],
  check: [
    ['$0 check .', "BuildKit's build checks on ./Dockerfile"],
    ['$0 check -f build/Dockerfile --target runtime --build-arg BASE=alpine', 'Check as if building stage "runtime" with a build arg'],
    ['$0 check --check "skip=JSONArgsRecommended;error=true" .', 'Override the check directive'],
    ['$0 check --platform linux/arm64 --store /var/cache/ocibuild .', 'Check for another platform, reading base image configs from another store'],
    ['$0 check --pull=false .', 'Use only base image configs already in the store (no registry)'],
    ['$0 check --build-context assets=../assets .', 'Check knowing the named contexts (COPY --from=assets is no image)'],
    ['$0 check --creds registry.example.com=me:secret --registry-ca ca.pem .', 'Credentials and an extra CA to read base image configs'],
    ['$0 check --insecure-registry build-cache:5000 .', 'Reach one registry over plain HTTP'],
    ['$0 check --registry-mirror docker.io=mirror.local:5000 .', 'Read docker.io configs through a mirror'],
    ['echo "$TOKEN" | $0 check --creds registry.example.com=ci --password-stdin .', 'The password of --creds from stdin'],
    ['$0 check --registry-timeout 60 .', 'Let a slow registry take up to 60 s per wait'],
  ],
  images: [
    ['$0 images', 'Tags in the local store'],
    ['$0 images --digests --format json --store /var/cache/ocibuild', 'Full digests, as JSON, from another store'],
    ['$0 images --caches', 'The RUN --mount=type=cache directories, with their sizes'],
  ],
  rmi: [
    ['$0 rmi app:1.0 app:2.0', 'Untag two images, then free unreferenced blobs'],
    ['$0 rmi --no-prune --store /var/cache/ocibuild app:1.0', 'Untag only, in another store'],
  ],
  prune: [
    ['$0 prune --older-than 24h --keep-storage 10GB', 'Drop step-cache entries older than a day, keep at most 10 GB'],
    ['$0 prune --all --store /var/cache/ocibuild', 'Drop the whole step cache of another store'],
    ['$0 prune --caches', 'Also remove every RUN --mount=type=cache directory not in use'],
  ],
  pull: [
    ['$0 pull alpine:3.20 --platform linux/arm64', 'Pull one platform into the store'],
    ['$0 pull -q --store /var/cache/ocibuild registry.example.com/team/app:1', 'Print only the digest'],
    ['$0 pull --creds registry.example.com=me:secret --registry-ca ca.pem registry.example.com/app:1', 'Credentials and an extra CA'],
    ['$0 pull --insecure-registry build-cache:5000 build-cache:5000/app:1', 'Plain HTTP'],
    ['$0 pull --registry-mirror docker.io=mirror.local:5000 alpine', 'Through a mirror'],
    ['echo "$TOKEN" | $0 pull --creds registry.example.com=ci --password-stdin registry.example.com/app:1', 'The password of --creds from stdin'],
    ['$0 pull --registry-timeout 60 registry.example.com/app:1', 'Let a slow registry take up to 60 s per wait'],
  ],
  push: [
    ['$0 push app:1.0 registry.example.com/team/app:1.0', 'Push a store image under another name'],
    ['$0 push --store /var/cache/ocibuild localhost:5000/app:1', 'Push to the registry its name says'],
    ['$0 push --creds registry.example.com=me:secret --registry-ca ca.pem app:1 registry.example.com/app:1', 'Credentials and an extra CA'],
    ['$0 push --insecure-registry build-cache:5000 app:1 build-cache:5000/app:1', 'Plain HTTP'],
    ['$0 push --registry-mirror docker.io=mirror.local:5000 app:1 docker.io/me/app:1', 'Mirrors serve pulls only; accepted for symmetry'],
    ['echo "$TOKEN" | $0 push --creds registry.example.com=ci --password-stdin app:1 registry.example.com/app:1', 'The password of --creds from stdin'],
    ['$0 push --registry-timeout 60 app:1 registry.example.com/app:1', 'Let a slow registry take up to 60 s per wait'],
  ],
};

/** The `--help` examples of one command (by its name: `build`, `pull`, ...). */
export function commandExamples(command: string): readonly [string, string][] {
  return EXAMPLES[command] ?? [];
}

/** The examples as a help epilog: what it does, then the command line on its own line. */
export function formatExamples(command: string): string | undefined {
  const examples = commandExamples(command);
  if (examples.length === 0) return undefined;
  return ['Examples:', ...examples.flatMap(([line, what]) => [`  ${what}`, `    $ ${line.replaceAll('$0', 'ocibuild')}`])].join('\n');
}
