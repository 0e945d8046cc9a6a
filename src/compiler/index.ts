/**
 * The Dockerfile compiler: typed instructions, stages, the BuildGraph and
 * BuildKit's build checks. Everything here is pure; warnings are data.
 */
export {
  checkBaseImagePlatform,
  checkDockerfile,
  compileDockerfile,
  parseChmod,
  type CheckResult,
  type CompileOptions,
  type CompileResult,
  type IgnoreInput,
} from './compile.js';
export {
  INSTRUCTION_NAMES,
  chompHeredocContent,
  docComment,
  handleJsonArgs,
  parseHeredocWord,
  parseInstruction,
  type ArgInstruction,
  type CommandInstruction,
  type CopyInstruction,
  type FromInstruction,
  type HealthcheckInstruction,
  type Instruction,
  type InstructionLint,
  type KeyValueInstruction,
  type KeyValuePair,
  type ListInstruction,
  type OnbuildInstruction,
  type ParseInstructionOptions,
  type RunInstruction,
  type SingleInstruction,
  type SourceContent,
} from './instructions.js';
export { LINT_RULES, Linter, parseCheckDirective, type CheckConfig, type LintRule, type Warning } from './lint.js';
export { parseFlags, parseGoBool, FlagError, type FlagDef, type FlagType, type ParsedFlags } from './flags.js';
export { parseMount, parseDevice, parseNetwork, parseSecurity, parseRamBytes, RunFlagError, type ParsedMount, type MountType } from './run-flags.js';
export { parsePortSpec, parsePortSpecs, PortSpecError } from './expose.js';
export { parseGoDuration, formatGoDuration, DurationError } from './duration.js';
export { parsePlatform, normalizePlatform, formatPlatform, hostPlatform, PlatformError } from './platform.js';
export { isValidSignal } from './signal.js';
export { referenceError } from './reference.js';
export { levenshtein, suggest, didYouMean } from './suggest.js';
export { MAX_SUBSTITUTION_DEPTH } from './shell-lex.js';
