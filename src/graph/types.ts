/**
 * The build graph: what the compiler hands to the build engine.
 *
 * Every step is fully typed and (where BuildKit expands variables) fully
 * expanded, so the engine never re-reads the Dockerfile. RUN command lines
 * stay raw: the shell expands them at run time.
 */
import type { SourceRange } from '../errors.js';
import type { HealthConfig } from '../oci/types.js';

/** A key/value pair as written by ENV/LABEL (after expansion). */
export interface KeyValue {
  key: string;
  value: string;
}

/** An ARG declaration as seen by a step: `value` is undefined when the ARG is declared but unset. */
export interface ArgValue {
  key: string;
  value?: string;
}

/** Where a COPY --from / RUN --mount from= reads from. */
export type SourceRef =
  /** The build context; with `name`, the named directory context of that name (`--build-context NAME=DIR`). */
  | { kind: 'context'; name?: string }
  /** An earlier stage of this Dockerfile, by index into `BuildGraph.stages`. */
  | { kind: 'stage'; index: number }
  /** An image reference, resolved by the registry client. */
  | { kind: 'image'; ref: string };

/**
 * What a named build context (`--build-context`) gives the compiler for a name
 * of the Dockerfile: a directory, an image (by a reference the build resolves),
 * an empty filesystem (`docker-image://scratch`) or another stage. `flag` is the
 * flag value, for messages.
 */
export type NamedContextRef =
  | { kind: 'dir'; name: string; flag: string }
  | { kind: 'image'; ref: string; flag: string }
  | { kind: 'scratch'; flag: string }
  | { kind: 'target'; stage: string; flag: string };

/** A file written from a heredoc (`RUN <<EOF`, `COPY <<EOF dest`). */
export interface InlineFile {
  /** The heredoc terminator word, used as the file name. */
  name: string;
  /** The body (after expansion and `<<-` tab stripping for COPY/ADD; raw for RUN). */
  data: string;
  /** RUN only: `<<-` was used, the consumer strips leading tabs. */
  chomp: boolean;
}

/** `--chmod` value: octal bits, or a symbolic chmod(1) expression applied per file. */
export type ChmodSpec = { kind: 'octal'; mode: number } | { kind: 'symbolic'; expression: string };

/** Cache mount sharing modes. */
export type CacheSharing = 'shared' | 'private' | 'locked';

/** `RUN --mount=type=bind`. */
export interface BindMount {
  type: 'bind';
  /**
   * Mount path as written: a relative or empty one (no `target=`) joins the
   * working directory at run time, as in BuildKit; a path resolving to `/` is an error.
   */
  target: string;
  /** Path inside `from` (default: its root). */
  source: string;
  from: SourceRef;
  readOnly: boolean;
}

/** `RUN --mount=type=cache`. */
export interface CacheMount {
  type: 'cache';
  target: string;
  /** Cache id (default: the cleaned target), prefixed by `BUILDKIT_CACHE_MOUNT_NS` when set. */
  id: string;
  sharing: CacheSharing;
  /** Seed of a new cache directory (default: empty directory). */
  from?: SourceRef;
  source: string;
  readOnly: boolean;
  /** Mode/uid/gid of a new cache directory (defaults 0755, 0, 0). */
  mode: number;
  uid: number;
  gid: number;
}

/** `RUN --mount=type=tmpfs`. */
export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  /** Upper size limit in bytes; undefined = unlimited. */
  size?: number;
  readOnly: boolean;
}

/** `RUN --mount=type=secret`: never written to a layer, cache key or log. */
export interface SecretMount {
  type: 'secret';
  id: string;
  /** File path; undefined when only `env` is requested. */
  target?: string;
  /** Environment variable to expose the secret in. */
  env?: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

/** `RUN --mount=type=ssh`. */
export interface SshMount {
  type: 'ssh';
  id: string;
  /** Socket path (default `/run/buildkit/ssh_agent.<n>`). */
  target: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

/** Any RUN --mount. */
export type MountSpec = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;

/** `RUN --device`. */
export interface DeviceSpec {
  name: string;
  required: boolean;
}

/** `RUN --network`. */
export type NetworkMode = 'default' | 'none' | 'host';
/** `RUN --security`. */
export type SecurityMode = 'sandbox' | 'insecure';

/** What every step carries. */
export interface StepCommon {
  /** Range of the instruction in the Dockerfile (for errors; never part of a cache key). */
  range: SourceRange;
  /** The instruction as written (continuations joined), for progress and history. */
  original: string;
  /**
   * ENV visible before this step, in image `Env` order: the base image's Env when
   * known (options.baseImageConfig), else the default PATH, then the ENVs of this
   * stage chain.
   */
  env: string[];
  /** ARGs declared in this stage chain before this step, with their resolved values. */
  args: ArgValue[];
  /** True for a step that is a parent stage's ONBUILD trigger, run at the start of this stage. */
  fromOnbuild?: boolean;
}

/** RUN. */
export interface RunStep extends StepCommon {
  kind: 'run';
  /** Exec form: the argv. Shell form: one element, the raw command line. */
  command: string[];
  /** True for shell form: the engine prepends the image's Shell (default `/bin/sh -c`). */
  prependShell: boolean;
  /** Heredoc files (`RUN <<EOF`), raw. */
  files: InlineFile[];
  mounts: MountSpec[];
  network: NetworkMode;
  security: SecurityMode;
  devices: DeviceSpec[];
  /**
   * Proxy build args (HTTP_PROXY, https_proxy, ...) given to the build: they
   * reach every RUN's environment without an ARG and stay out of cache keys
   * and history (unless declared with ARG, then they are in `args` too).
   */
  proxy: KeyValue[];
  /** Stage indexes this step reads from (mount from=). */
  dependsOn: number[];
}

/** COPY and ADD. */
export interface CopyStep extends StepCommon {
  kind: 'copy' | 'add';
  /** Source paths/URLs (expanded). */
  sources: string[];
  /** Heredoc sources, written as files named after their terminator. */
  inline: InlineFile[];
  /** Destination (expanded); relative paths join the working directory. */
  dest: string;
  /** COPY --from (context when absent). ADD always reads the context or URLs. */
  from: SourceRef;
  chown?: string;
  chmod?: ChmodSpec;
  link: boolean;
  /** COPY --parents. */
  parents: boolean;
  /** --exclude patterns (never expanded). */
  exclude: string[];
  /** ADD --checksum. */
  checksum?: string;
  /** ADD --keep-git-dir. */
  keepGitDir: boolean;
  /** ADD --unpack; undefined = default (local archives unpacked, URLs not). */
  unpack?: boolean;
  dependsOn: number[];
}

/** ENV. */
export interface EnvStep extends StepCommon {
  kind: 'env';
  pairs: KeyValue[];
}

/** LABEL. */
export interface LabelStep extends StepCommon {
  kind: 'label';
  pairs: KeyValue[];
}

/** MAINTAINER (sets the image `author`). */
export interface MaintainerStep extends StepCommon {
  kind: 'maintainer';
  maintainer: string;
}

/** EXPOSE. */
export interface ExposeStep extends StepCommon {
  kind: 'expose';
  /** Normalized `port/proto` keys, ranges expanded, in input order. */
  ports: string[];
}

/** USER. */
export interface UserStep extends StepCommon {
  kind: 'user';
  user: string;
}

/** WORKDIR. */
export interface WorkdirStep extends StepCommon {
  kind: 'workdir';
  /** As written after expansion; relative paths join the previous working directory. */
  path: string;
}

/** VOLUME. */
export interface VolumeStep extends StepCommon {
  kind: 'volume';
  volumes: string[];
}

/** STOPSIGNAL. */
export interface StopSignalStep extends StepCommon {
  kind: 'stopsignal';
  signal: string;
}

/** HEALTHCHECK (durations in nanoseconds, 0 = unset). */
export interface HealthcheckStep extends StepCommon {
  kind: 'healthcheck';
  health: Required<Pick<HealthConfig, 'Test'>> & HealthConfig;
}

/** SHELL. */
export interface ShellStep extends StepCommon {
  kind: 'shell';
  shell: string[];
}

/** CMD. */
export interface CmdStep extends StepCommon {
  kind: 'cmd';
  command: string[];
  prependShell: boolean;
}

/** ENTRYPOINT. */
export interface EntrypointStep extends StepCommon {
  kind: 'entrypoint';
  command: string[];
  prependShell: boolean;
}

/** ARG inside a stage (resolved values; enters RUN's environment, not the image config). */
export interface ArgStep extends StepCommon {
  kind: 'arg';
  values: ArgValue[];
}

/** ONBUILD: the trigger text stored in the image config. */
export interface OnbuildStep extends StepCommon {
  kind: 'onbuild';
  expression: string;
}

/** Any step. */
export type Step =
  | RunStep
  | CopyStep
  | EnvStep
  | LabelStep
  | MaintainerStep
  | ExposeStep
  | UserStep
  | WorkdirStep
  | VolumeStep
  | StopSignalStep
  | HealthcheckStep
  | ShellStep
  | CmdStep
  | EntrypointStep
  | ArgStep
  | OnbuildStep;

/** What a stage starts from. */
export type StageBase =
  | { kind: 'scratch' }
  /** A registry/local image (reference as written, after expansion). */
  | { kind: 'image'; ref: string }
  /** An earlier stage. */
  | { kind: 'stage'; index: number };

/**
 * One build stage. The stage starts from its base's config with `OnBuild`
 * cleared: the base's ONBUILD triggers (a parent stage's, or an image's when
 * its config was given to the compiler) are this stage's leading steps,
 * marked `fromOnbuild`.
 */
export interface Stage {
  /** Index among all stages of the Dockerfile (stable, also for dropped stages). */
  index: number;
  /** Lower-cased name (`FROM x AS name`). */
  name?: string;
  base: StageBase;
  /**
   * `FROM --platform` after expansion, normalized (`linux/arm64`). For a stage
   * based on another stage this is the parent's (its own flag is ignored, as
   * in BuildKit). Undefined: the build's target platform.
   */
  platform?: string;
  steps: Step[];
  /** Stage indexes this stage needs (its base stage and every --from/mount source). */
  dependsOn: number[];
  /** Range of the FROM instruction. */
  range: SourceRange;
  /** The FROM line as written. */
  original: string;
  /** Doc comment (`# name description` directly above FROM). */
  comment?: string;
}

/** A global (meta) ARG. */
export interface MetaArg {
  key: string;
  /** Resolved value (build arg, else expanded default); undefined when unset. */
  value?: string;
  /** Doc comment (`# key description`). */
  comment?: string;
}

/** The whole build. */
export interface BuildGraph {
  /** Stages needed for the target, ascending by `index`. */
  stages: Stage[];
  /** Index (Stage.index) of the target stage. */
  target: number;
  /** Needed stage indexes in a valid execution order (dependencies first). */
  order: number[];
  /** Stages of the Dockerfile that the target does not need. */
  dropped: { index: number; name?: string }[];
  metaArgs: MetaArg[];
  /** Build args given but consumed by no ARG (BuildKit ignores them; the CLI may warn). */
  unusedBuildArgs: string[];
  /** The target platform of the build (`os/arch[/variant]`). */
  targetPlatform: string;
  /** The build platform (`os/arch[/variant]`). */
  buildPlatform: string;
  /** Hostname of RUN containers (`BUILDKIT_SANDBOX_HOSTNAME`, default `buildkitsandbox`). */
  sandboxHostname: string;
  /** `SOURCE_DATE_EPOCH` build arg (seconds), when given: image/layer timestamps. */
  sourceDateEpoch?: number;
}
