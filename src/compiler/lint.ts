/**
 * BuildKit's build-check rules and the `# check=` directive.
 */
import { OcibuildError, type SourceRange } from '../errors.js';
import { escapeNonPrintable } from '../parser/index.js';

/** A build-check rule. */
export interface LintRule {
  name: string;
  description: string;
  url: string;
  /** Experimental rules run only when enabled (`# check=experimental=all|Rule,...`). */
  experimental?: boolean;
}

const url = (slug: string) => `https://docs.docker.com/go/dockerfile/rule/${slug}/`;

/** Every rule, by name. */
export const LINT_RULES: Readonly<Record<string, LintRule>> = Object.freeze({
  StageNameCasing: { name: 'StageNameCasing', description: 'Stage names should be lowercase', url: url('stage-name-casing') },
  FromAsCasing: {
    name: 'FromAsCasing',
    description: "The 'as' keyword should match the case of the 'from' keyword",
    url: url('from-as-casing'),
  },
  NoEmptyContinuation: {
    name: 'NoEmptyContinuation',
    description: 'Empty continuation lines will become errors in a future release',
    url: url('no-empty-continuation'),
  },
  ConsistentInstructionCasing: {
    name: 'ConsistentInstructionCasing',
    description: 'All commands within the Dockerfile should use the same casing (either upper or lower)',
    url: url('consistent-instruction-casing'),
  },
  DuplicateStageName: { name: 'DuplicateStageName', description: 'Stage names should be unique', url: url('duplicate-stage-name') },
  ReservedStageName: {
    name: 'ReservedStageName',
    description: 'Reserved words should not be used as stage names',
    url: url('reserved-stage-name'),
  },
  JSONArgsRecommended: {
    name: 'JSONArgsRecommended',
    description: 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals',
    url: url('json-args-recommended'),
  },
  MaintainerDeprecated: {
    name: 'MaintainerDeprecated',
    description: 'The MAINTAINER instruction is deprecated, use a label instead to define an image author',
    url: url('maintainer-deprecated'),
  },
  UndefinedArgInFrom: { name: 'UndefinedArgInFrom', description: 'FROM command must use declared ARGs', url: url('undefined-arg-in-from') },
  WorkdirRelativePath: {
    name: 'WorkdirRelativePath',
    description:
      'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes',
    url: url('workdir-relative-path'),
  },
  UndefinedVar: { name: 'UndefinedVar', description: 'Variables should be defined before their use', url: url('undefined-var') },
  MultipleInstructionsDisallowed: {
    name: 'MultipleInstructionsDisallowed',
    description: 'Multiple instructions of the same type should not be used in the same stage',
    url: url('multiple-instructions-disallowed'),
  },
  LegacyKeyValueFormat: {
    name: 'LegacyKeyValueFormat',
    description: 'Legacy key/value format with whitespace separator should not be used',
    url: url('legacy-key-value-format'),
  },
  RedundantTargetPlatform: {
    name: 'RedundantTargetPlatform',
    description: 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
    url: url('redundant-target-platform'),
  },
  SecretsUsedInArgOrEnv: {
    name: 'SecretsUsedInArgOrEnv',
    description: 'Sensitive data should not be used in the ARG or ENV commands',
    url: url('secrets-used-in-arg-or-env'),
  },
  InvalidDefaultArgInFrom: {
    name: 'InvalidDefaultArgInFrom',
    description: 'Default value for global ARG results in an empty or invalid base image name',
    url: url('invalid-default-arg-in-from'),
  },
  FromPlatformFlagConstDisallowed: {
    name: 'FromPlatformFlagConstDisallowed',
    description: 'FROM --platform flag should not use a constant value',
    url: url('from-platform-flag-const-disallowed'),
  },
  CopyIgnoredFile: {
    name: 'CopyIgnoredFile',
    description: 'Attempting to Copy file that is excluded by .dockerignore',
    url: url('copy-ignored-file'),
    experimental: true,
  },
  InvalidDefinitionDescription: {
    name: 'InvalidDefinitionDescription',
    description:
      'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.',
    url: url('invalid-definition-description'),
    experimental: true,
  },
  InvalidBaseImagePlatform: {
    name: 'InvalidBaseImagePlatform',
    description: 'Base image platform does not match expected target platform',
    // BuildKit documents no page for this rule
    url: '',
  },
  ExposeProtoCasing: {
    name: 'ExposeProtoCasing',
    description: 'Protocol in EXPOSE instruction should be lowercase',
    url: url('expose-proto-casing'),
  },
  ExposeInvalidFormat: {
    name: 'ExposeInvalidFormat',
    description:
      'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release',
    url: url('expose-invalid-format'),
  },
});

/** A build-check warning (data; the CLI prints it). */
export interface Warning {
  /** Rule name (`StageNameCasing`). */
  rule: string;
  /** The specific message (`Stage name 'Foo' should be lowercase`). */
  message: string;
  /** The rule's one-line description. */
  description: string;
  /** Documentation URL. */
  url: string;
  /** The Dockerfile name. */
  file: string;
  /** Range of the instruction the warning is about. */
  range: SourceRange;
  /** Extra detail, when any. */
  detail?: string;
}

/** The `# check=` settings. */
export interface CheckConfig {
  /** Rules to skip. */
  skip: string[];
  /** Skip every rule. */
  skipAll: boolean;
  /** Warnings fail the build. */
  error: boolean;
  /** Experimental rules to enable. */
  experimental: string[];
  /** Enable every experimental rule. */
  experimentalAll: boolean;
}

/** Parse a `check` directive value (`skip=A,B;error=true`), BuildKit's ParseLintOptions. */
export function parseCheckDirective(value: string): CheckConfig {
  const cfg: CheckConfig = { skip: [], skipAll: false, error: false, experimental: [], experimentalAll: false };
  const text = value.trim();
  if (text === '') return cfg;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new OcibuildError('DOCKERFILE_CHECK', `invalid check option ${JSON.stringify(part)}`);
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    switch (key) {
      case 'skip':
        if (v === 'all') cfg.skipAll = true;
        else cfg.skip.push(...v.split(',').map((r) => r.trim()));
        break;
      case 'error': {
        const b = ({ '1': true, t: true, T: true, TRUE: true, true: true, True: true, '0': false, f: false, F: false, FALSE: false, false: false, False: false } as Record<string, boolean>)[v];
        if (b === undefined) {
          throw new OcibuildError(
            'DOCKERFILE_CHECK',
            `failed to parse check option ${JSON.stringify(part)}: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`,
          );
        }
        cfg.error = b;
        break;
      }
      case 'experimental':
        if (v === 'all') cfg.experimentalAll = true;
        else cfg.experimental.push(...v.split(',').map((r) => r.trim()));
        break;
      default:
        throw new OcibuildError('DOCKERFILE_CHECK', `invalid check option ${JSON.stringify(key)}`);
    }
  }
  return cfg;
}

/** Collects warnings for one compile/check run, honouring the check config. */
export class Linter {
  readonly warnings: Warning[] = [];

  constructor(
    readonly config: CheckConfig,
    readonly file: string,
  ) {}

  /** True when `rule` would be reported. */
  enabled(rule: string): boolean {
    const r = LINT_RULES[rule];
    if (!r) throw new Error(`internal: unknown lint rule ${rule}`);
    // experimental rules answer only to `experimental=`; `skip=` governs the others
    if (r.experimental) return this.config.experimentalAll || this.config.experimental.includes(rule);
    return !(this.config.skipAll || this.config.skip.includes(rule));
  }

  /** Report a finding. */
  run(rule: string, range: SourceRange, message: string, detail?: string): void {
    if (!this.enabled(rule)) return;
    const r = LINT_RULES[rule];
    this.warnings.push({ rule, message: escapeNonPrintable(message), description: r.description, url: r.url, file: this.file, range, ...(detail ? { detail } : {}) });
  }

  /** With `error=true`: the error BuildKit raises when any rule fired, else undefined. */
  error(): OcibuildError | undefined {
    if (!this.config.error || this.warnings.length === 0) return undefined;
    const rules = [...new Set(this.warnings.map((w) => w.rule))].sort();
    return new OcibuildError('DOCKERFILE_CHECK', `lint violation found for rules: ${rules.join(', ')}`, {
      file: this.file,
      range: this.warnings[0].range,
      details: { warnings: this.warnings },
    });
  }
}
