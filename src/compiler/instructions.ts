/**
 * Syntax tree nodes to typed instructions (BuildKit's `instructions`
 * package): argument counts, flags with BuildKit's rules, heredoc sources,
 * healthcheck options, ONBUILD triggers. No variable expansion here.
 */
import { OcibuildError, type SourceRange } from '../errors.js';
import type { FlagNode, InstructionNode } from '../parser/ast.js';
import { escapeNonPrintable } from '../parser/index.js';
import type { DeviceSpec, InlineFile, NetworkMode, SecurityMode } from '../graph/types.js';
import type { HealthConfig } from '../oci/types.js';
import { DurationError, parseGoDuration } from './duration.js';
import { FlagError, parseFlags, type FlagDef, type ParsedFlags } from './flags.js';
import { parseDevice, parseNetwork, parseSecurity, RunFlagError } from './run-flags.js';
import { processWords } from './shell-lex.js';
import { suggest } from './suggest.js';

/** The 18 instruction keywords (lower case). */
export const INSTRUCTION_NAMES = [
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label', 'maintainer',
  'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
] as const;

/** A lint finding made while typing instructions (reported by the compiler's linter). */
export interface InstructionLint {
  rule: 'StageNameCasing' | 'FromAsCasing' | 'MaintainerDeprecated' | 'InvalidDefinitionDescription';
  message: string;
  range: SourceRange;
}

interface Base {
  node: InstructionNode;
}

/** FROM. */
export interface FromInstruction extends Base {
  kind: 'from';
  /** Base image or stage as written (unexpanded). */
  baseName: string;
  /** Lower-cased stage name. */
  stageName?: string;
  /** `--platform` as written (unexpanded). */
  platform?: string;
  comment?: string;
}

/** RUN. */
export interface RunInstruction extends Base {
  kind: 'run';
  command: string[];
  prependShell: boolean;
  files: InlineFile[];
  /** Raw `--mount` values (expanded and typed by the compiler). */
  mounts: { value: string; flag: FlagNode }[];
  network: NetworkMode;
  security: SecurityMode;
  devices: DeviceSpec[];
  /** Flags that appeared (BuildKit `FlagsUsed`). */
  flagsUsed: string[];
}

/** A heredoc source of COPY/ADD. */
export interface SourceContent {
  path: string;
  data: string;
  expand: boolean;
}

/** COPY and ADD. */
export interface CopyInstruction extends Base {
  kind: 'copy' | 'add';
  sourcePaths: string[];
  sourceContents: SourceContent[];
  destPath: string;
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  checksum?: string;
  keepGitDir: boolean;
  unpack?: boolean;
}

/** A key/value pair of ENV/LABEL; `noDelim` for the legacy `KEY value` form. */
export interface KeyValuePair {
  key: string;
  value: string;
  noDelim: boolean;
}

/** ENV and LABEL. */
export interface KeyValueInstruction extends Base {
  kind: 'env' | 'label';
  pairs: KeyValuePair[];
}

/** ARG. */
export interface ArgInstruction extends Base {
  kind: 'arg';
  args: { key: string; value?: string; comment?: string }[];
}

/** Instructions with one string argument. */
export interface SingleInstruction extends Base {
  kind: 'maintainer' | 'user' | 'workdir' | 'stopsignal';
  value: string;
}

/** EXPOSE and VOLUME (word lists). */
export interface ListInstruction extends Base {
  kind: 'expose' | 'volume';
  values: string[];
}

/** CMD, ENTRYPOINT, SHELL. */
export interface CommandInstruction extends Base {
  kind: 'cmd' | 'entrypoint' | 'shell';
  command: string[];
  prependShell: boolean;
}

/** HEALTHCHECK. */
export interface HealthcheckInstruction extends Base {
  kind: 'healthcheck';
  health: Required<Pick<HealthConfig, 'Test'>> & HealthConfig;
}

/** ONBUILD. */
export interface OnbuildInstruction extends Base {
  kind: 'onbuild';
  /** The trigger text as stored in the image config. */
  expression: string;
  trigger: Instruction;
}

/** Any typed instruction. */
export type Instruction =
  | FromInstruction
  | RunInstruction
  | CopyInstruction
  | KeyValueInstruction
  | ArgInstruction
  | SingleInstruction
  | ListInstruction
  | CommandInstruction
  | HealthcheckInstruction
  | OnbuildInstruction;

/** Options of {@link parseInstruction}. */
export interface ParseInstructionOptions {
  /** Source name for errors. */
  file?: string;
  /** Receives lint findings made while typing (casing, deprecated forms). */
  lint?: (finding: InstructionLint) => void;
}

function fail(node: InstructionNode, message: string, file: string | undefined, range?: SourceRange, hint?: string): never {
  throw new OcibuildError('DOCKERFILE_INSTRUCTION', escapeNonPrintable(message), {
    file,
    range: range ?? node.range,
    ...(hint !== undefined ? { hint: escapeNonPrintable(hint) } : {}),
  });
}

function flagsOf(node: InstructionNode, defs: readonly FlagDef[], file: string | undefined): ParsedFlags {
  try {
    return parseFlags(node.flags, defs);
  } catch (e) {
    if (e instanceof FlagError) fail(node, e.message, file, e.range, e.hint);
    throw e;
  }
}

/** RUN/CMD/ENTRYPOINT/SHELL argument list: JSON keeps the list, shell form joins with spaces. */
export function handleJsonArgs(args: readonly string[], json: boolean): string[] {
  if (args.length === 0) return [];
  if (json) return [...args];
  return [args.join(' ')];
}

/** A heredoc marker word (`<<EOF`, `<<-"EOF"`, `3<<EOF`): its name, or undefined when the word is not one. */
export function parseHeredocWord(word: string): { name: string; expand: boolean; chomp: boolean; fileDescriptor: number } | undefined {
  const m = /^(\d*)<<(-?)\s*([^<]*)$/u.exec(word);
  if (!m || m[3] === '') return undefined;
  let words: string[];
  let raw: string[];
  try {
    words = processWords(m[3], () => undefined, { skipUnsetEnv: true }).words;
    raw = processWords(m[3], () => undefined, { skipUnsetEnv: true, rawQuotes: true }).words;
  } catch {
    return undefined;
  }
  if (words.length !== 1 || raw.length !== 1) return undefined;
  const count = (s: string) => [...s].filter((c) => c === "'" || c === '"').length;
  return {
    name: words[0],
    expand: count(words[0]) === count(raw[0]),
    chomp: m[2] === '-',
    fileDescriptor: m[1] === '' ? 0 : Number(m[1]),
  };
}

/** Remove leading tabs from every line (`<<-`). */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}

/** The description of a doc comment `# <name> <description>` for `name`, or ''. */
export function docComment(comments: readonly string[], name: string | undefined): string {
  if (!name) return '';
  for (const raw of comments) {
    const line = raw.trim();
    if (line.startsWith(`${name} `)) return line.slice(name.length + 1);
  }
  return '';
}

function isSelfConsistent(s: string): boolean {
  return s === s.toLowerCase() || s === s.toUpperCase();
}

const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function definitionDescriptionLint(
  instruction: 'ARG' | 'FROM',
  keys: readonly string[],
  comments: readonly string[],
  node: InstructionNode,
  lint: ParseInstructionOptions['lint'],
): void {
  if (!lint || comments.length === 0 || keys.length === 0) return;
  const first = comments[comments.length - 1].trim().split(' ')[0];
  if (keys.includes(first)) return;
  const example = keys.length > 1 ? '<arg_key>' : keys[0];
  lint({
    rule: 'InvalidDefinitionDescription',
    message: `Comment for ${instruction} should follow the format: \`# ${example} <description>\``,
    range: node.range,
  });
}

function parseKeyValues(node: InstructionNode, name: 'ENV' | 'LABEL', file: string | undefined): KeyValuePair[] {
  const args = node.args;
  if (args.length === 0) fail(node, `${name} requires at least one argument`, file);
  if (args.length % 3 !== 0) fail(node, `Bad input to ${name}, too many arguments`, file);
  const pairs: KeyValuePair[] = [];
  for (let i = 0; i < args.length; i += 3) {
    if (args[i].length === 0) fail(node, `${name} names can not be blank`, file);
    pairs.push({ key: args[i], value: args[i + 1], noDelim: args[i + 2] === '' });
  }
  return pairs;
}

function parseInterval(node: InstructionNode, flags: ParsedFlags, name: string, file: string | undefined): number {
  const value = flags.string(name);
  if (value === '') return 0;
  let ns: number;
  try {
    ns = parseGoDuration(value);
  } catch (e) {
    if (e instanceof DurationError) fail(node, e.message, file, flags.node(name)?.range);
    throw e;
  }
  if (ns === 0) return 0;
  if (ns < 1_000_000) fail(node, `Interval ${JSON.stringify(name)} cannot be less than 1ms`, file, flags.node(name)?.range);
  return ns;
}

const NO_FLAGS: readonly FlagDef[] = [];

/**
 * Type one instruction node. Throws OcibuildError('DOCKERFILE_INSTRUCTION')
 * with BuildKit's message at the instruction (or the offending flag).
 */
export function parseInstruction(node: InstructionNode, options: ParseInstructionOptions = {}): Instruction {
  const { file, lint } = options;
  const args = node.args;
  const keyword = node.keyword.toLowerCase();
  switch (keyword) {
    case 'from': {
      if (lint && args.length === 3 && args[2].toLowerCase() !== args[2]) {
        lint({ rule: 'StageNameCasing', message: `Stage name '${args[2]}' should be lowercase`, range: node.range });
      }
      if (lint && args.length >= 3) {
        const cmd = node.keywordText;
        const lower = cmd.toLowerCase() === cmd;
        const upper = cmd.toUpperCase() === cmd;
        const as = args[1];
        if ((lower && as.toLowerCase() !== as) || (!lower && upper && as.toUpperCase() !== as)) {
          lint({ rule: 'FromAsCasing', message: `'${as}' and '${cmd}' keywords' casing do not match`, range: node.range });
        }
      }
      let stageName: string | undefined;
      if (args.length === 3 && args[1].toLowerCase() === 'as') {
        stageName = args[2].toLowerCase();
        if (!VALID_STAGE_NAME.test(stageName)) {
          fail(node, `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`, file);
        }
      } else if (args.length !== 1) {
        fail(node, 'FROM requires either one or three arguments', file);
      }
      const flags = flagsOf(node, [{ name: 'platform', type: 'string' }], file);
      definitionDescriptionLint('FROM', stageName ? [stageName] : [], node.comments, node, lint);
      const comment = docComment(node.comments, stageName);
      return {
        kind: 'from',
        node,
        baseName: args[0],
        stageName,
        platform: flags.used('platform') ? flags.string('platform') : undefined,
        comment: comment || undefined,
      };
    }
    case 'run': {
      const flags = flagsOf(
        node,
        [
          { name: 'mount', type: 'strings' },
          { name: 'network', type: 'string', default: 'default' },
          { name: 'security', type: 'string', default: 'sandbox' },
          { name: 'device', type: 'strings' },
        ],
        file,
      );
      const mountNodes = node.flags.filter((f) => f.name === 'mount');
      const mounts = flags.strings('mount').map((value, i) => ({ value, flag: mountNodes[i] }));
      for (const m of mounts) {
        // `from` must not use variables; checked here like BuildKit's parse step
        for (const field of m.value.split(',')) {
          const eq = field.indexOf('=');
          if (eq > 0 && field.slice(0, eq).toLowerCase() === 'from' && /\$./.test(field.slice(eq + 1))) {
            fail(node, "'from' doesn't support variable expansion, define alias stage instead", file, m.flag.range);
          }
        }
      }
      let network: NetworkMode;
      let security: SecurityMode;
      let devices: DeviceSpec[];
      try {
        network = parseNetwork(flags.string('network'));
      } catch (e) {
        if (e instanceof RunFlagError) fail(node, e.message, file, flags.node('network')?.range);
        throw e;
      }
      try {
        security = parseSecurity(flags.string('security'));
      } catch (e) {
        if (e instanceof RunFlagError) fail(node, e.message, file, flags.node('security')?.range);
        throw e;
      }
      const deviceNodes = node.flags.filter((f) => f.name === 'device');
      devices = flags.strings('device').map((v, i) => {
        try {
          return parseDevice(v);
        } catch (e) {
          if (e instanceof RunFlagError) fail(node, e.message, file, deviceNodes[i]?.range);
          throw e;
        }
      });
      return {
        kind: 'run',
        node,
        command: handleJsonArgs(args, node.json),
        prependShell: !node.json,
        files: node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp })),
        mounts,
        network,
        security,
        devices,
        flagsUsed: flags.usedNames(),
      };
    }
    case 'cmd':
    case 'entrypoint': {
      flagsOf(node, NO_FLAGS, file);
      return { kind: keyword, node, command: handleJsonArgs(args, node.json), prependShell: !node.json };
    }
    case 'shell': {
      flagsOf(node, NO_FLAGS, file);
      const shell = handleJsonArgs(args, node.json);
      if (shell.length === 0) fail(node, 'SHELL requires at least one argument', file);
      if (!node.json) fail(node, 'SHELL requires the arguments to be in JSON form', file);
      return { kind: 'shell', node, command: shell, prependShell: false };
    }
    case 'copy':
    case 'add': {
      const NAME = keyword.toUpperCase();
      if (args.length < 2) {
        fail(node, `${NAME} requires at least two arguments, but only one was provided. Destination could not be determined`, file);
      }
      const defs: FlagDef[] =
        keyword === 'copy'
          ? [
              { name: 'exclude', type: 'strings' },
              { name: 'parents', type: 'bool' },
              { name: 'chown', type: 'string' },
              { name: 'from', type: 'string' },
              { name: 'chmod', type: 'string' },
              { name: 'link', type: 'bool' },
            ]
          : [
              { name: 'exclude', type: 'strings' },
              { name: 'chown', type: 'string' },
              { name: 'chmod', type: 'string' },
              { name: 'link', type: 'bool' },
              { name: 'keep-git-dir', type: 'bool' },
              { name: 'checksum', type: 'string' },
              { name: 'unpack', type: 'bool' },
            ];
      const flags = flagsOf(node, defs, file);
      const dest = args[args.length - 1];
      if (parseHeredocWord(dest)) fail(node, `${NAME} cannot accept a heredoc as a destination`, file);
      const heredocs = new Map(node.heredocs.map((h) => [h.name, h]));
      const sourcePaths: string[] = [];
      const sourceContents: SourceContent[] = [];
      for (const src of args.slice(0, -1)) {
        const h = node.json ? undefined : parseHeredocWord(src);
        if (h) {
          let content = heredocs.get(h.name)?.content ?? '';
          if (h.chomp) content = chompHeredocContent(content);
          sourceContents.push({ path: h.name, data: content, expand: h.expand });
        } else {
          sourcePaths.push(src);
        }
      }
      const opt = (name: string): string | undefined => (flags.used(name) ? flags.string(name) : undefined);
      return {
        kind: keyword,
        node,
        sourcePaths,
        sourceContents,
        destPath: dest,
        from: keyword === 'copy' ? opt('from') : undefined,
        chown: opt('chown'),
        chmod: opt('chmod'),
        link: flags.bool('link'),
        parents: keyword === 'copy' ? flags.bool('parents') : false,
        exclude: flags.strings('exclude'),
        checksum: keyword === 'add' ? opt('checksum') : undefined,
        keepGitDir: keyword === 'add' ? flags.bool('keep-git-dir') : false,
        unpack: keyword === 'add' && flags.used('unpack') ? flags.bool('unpack') : undefined,
      };
    }
    case 'env':
    case 'label': {
      flagsOf(node, NO_FLAGS, file);
      return { kind: keyword, node, pairs: parseKeyValues(node, keyword === 'env' ? 'ENV' : 'LABEL', file) };
    }
    case 'arg': {
      if (args.length < 1) fail(node, 'ARG requires at least one argument', file);
      flagsOf(node, NO_FLAGS, file);
      const out: ArgInstruction['args'] = [];
      for (const arg of args) {
        const eq = arg.indexOf('=');
        const key = eq < 0 ? arg : arg.slice(0, eq);
        if (key === '') fail(node, 'ARG names can not be blank', file);
        const comment = docComment(node.comments, key);
        out.push({ key, value: eq < 0 ? undefined : arg.slice(eq + 1), comment: comment || undefined });
      }
      definitionDescriptionLint('ARG', out.map((a) => a.key), node.comments, node, lint);
      return { kind: 'arg', node, args: out };
    }
    case 'maintainer':
    case 'user':
    case 'workdir':
    case 'stopsignal': {
      const NAME = keyword.toUpperCase();
      if (args.length !== 1) fail(node, `${NAME} requires exactly one argument`, file);
      flagsOf(node, NO_FLAGS, file);
      if (keyword === 'maintainer' && lint) {
        lint({ rule: 'MaintainerDeprecated', message: 'Maintainer instruction is deprecated in favor of using label', range: node.range });
      }
      return { kind: keyword, node, value: args[0] };
    }
    case 'expose': {
      if (args.length === 0) fail(node, 'EXPOSE requires at least one argument', file);
      flagsOf(node, NO_FLAGS, file);
      return { kind: 'expose', node, values: [...args].sort() };
    }
    case 'volume': {
      if (args.length === 0) fail(node, 'VOLUME requires at least one argument', file);
      flagsOf(node, NO_FLAGS, file);
      const values = args.map((v) => v.trim());
      if (values.some((v) => v === '')) fail(node, 'VOLUME specified can not be an empty string', file);
      return { kind: 'volume', node, values };
    }
    case 'healthcheck': {
      if (args.length === 0) fail(node, 'HEALTHCHECK requires at least one argument', file);
      const typ = args[0].toUpperCase();
      const rest = args.slice(1);
      if (typ === 'NONE') {
        if (rest.length !== 0) fail(node, 'HEALTHCHECK NONE takes no arguments', file);
        // BuildKit silently ignores options on NONE; we refuse them (an accepted flag must mean something).
        flagsOf(node, NO_FLAGS, file);
        return { kind: 'healthcheck', node, health: { Test: ['NONE'] } };
      }
      const flags = flagsOf(
        node,
        [
          { name: 'interval', type: 'string' },
          { name: 'timeout', type: 'string' },
          { name: 'start-period', type: 'string' },
          { name: 'start-interval', type: 'string' },
          { name: 'retries', type: 'string' },
        ],
        file,
      );
      if (typ !== 'CMD') fail(node, `Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`, file);
      const cmd = handleJsonArgs(rest, node.json);
      if (cmd.length === 0) fail(node, 'Missing command after HEALTHCHECK CMD', file);
      const health: HealthcheckInstruction['health'] = { Test: [node.json ? 'CMD' : 'CMD-SHELL', ...cmd] };
      health.Interval = parseInterval(node, flags, 'interval', file);
      health.Timeout = parseInterval(node, flags, 'timeout', file);
      health.StartPeriod = parseInterval(node, flags, 'start-period', file);
      health.StartInterval = parseInterval(node, flags, 'start-interval', file);
      const retries = flags.string('retries');
      health.Retries = 0;
      if (retries !== '') {
        const range = flags.node('retries')?.range;
        if (!/^[+-]?[0-9]+$/.test(retries)) fail(node, `strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`, file, range);
        const n = Number(retries);
        if (n > 2147483647 || n < -2147483648) fail(node, `strconv.ParseInt: parsing ${JSON.stringify(retries)}: value out of range`, file, range);
        if (n < 0) fail(node, `--retries cannot be negative (${n})`, file, range);
        health.Retries = n;
      }
      return { kind: 'healthcheck', node, health };
    }
    case 'onbuild': {
      if (args.length === 0 && !node.trigger) fail(node, 'ONBUILD requires at least one argument', file);
      flagsOf(node, NO_FLAGS, file);
      const trigger = node.trigger;
      if (!trigger) fail(node, 'ONBUILD requires at least one argument', file);
      const triggerName = trigger.keyword.trim().toUpperCase();
      if (triggerName === 'ONBUILD') fail(node, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', file);
      if (triggerName === 'MAINTAINER' || triggerName === 'FROM') fail(node, `${triggerName} isn't allowed as an ONBUILD trigger`, file);
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
      for (const h of node.heredocs.length > 0 ? node.heredocs : trigger.heredocs) expression += `\n${h.content}${h.name}`;
      // Type the trigger now so errors surface at the ONBUILD line, not in a downstream build.
      const typed = parseInstruction(trigger, { file });
      return { kind: 'onbuild', node, expression, trigger: typed };
    }
    default: {
      const m = suggest(node.keywordText, INSTRUCTION_NAMES.map((n) => n.toUpperCase()), false);
      fail(
        node,
        `unknown instruction: ${node.keywordText}${m ? ` (did you mean ${m}?)` : ''}`,
        file,
        node.keywordRange,
        m,
      );
    }
  }
}

/** True when a keyword is written all lower or all upper case (ConsistentInstructionCasing). */
export function isSelfConsistentCasing(keyword: string): boolean {
  return isSelfConsistent(keyword);
}
