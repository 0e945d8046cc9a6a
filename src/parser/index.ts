/**
 * The Dockerfile parser: text → syntax tree. No IO, no variable expansion.
 */
export type {
  Directive,
  DockerfileAst,
  EscapeToken,
  FlagNode,
  Heredoc,
  InstructionNode,
  ParseWarning,
} from './ast.js';
export { parseDockerfile, type ParseOptions, EMPTY_CONTINUATION } from './parse.js';
export { dumpBuildkit } from './dump.js';
export {
  detectSyntax,
  parseDirectiveCheck,
  parseDirectives,
  type DirectiveLookup,
  type FoundDirective,
} from './directives.js';
export { encodeSourceText, escapeNonPrintable, goQuote } from './bytes.js';
export { decodeDockerfileSource } from './source.js';
export { chompHeredocContent, MAX_SUBSTITUTION_DEPTH } from './heredoc.js';
export { parseWords, parseNameValue, parseJsonArgs, parseHeredocWord, heredocNamesFromLine } from './helpers.js';
