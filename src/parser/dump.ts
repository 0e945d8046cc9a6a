/**
 * BuildKit's AST dump (parser.Node.Dump), the format its parser tests compare:
 * one `(keyword ["flags"] "arg" ...)` line per instruction, strings quoted with
 * Go's strconv.Quote.
 */
import type { DockerfileAst, InstructionNode } from './ast.js';
import { goQuote } from './bytes.js';

const GO_SPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+';
const TRIM = new RegExp(`^${GO_SPACE}|${GO_SPACE}$`, 'gu');

/** Go's strings.TrimSpace on a decoded string. */
function goTrimSpace(s: string): string {
  return s.replace(TRIM, '');
}

function dumpNode(node: InstructionNode): string {
  let str = node.keyword;
  if (node.flags.length > 0) str += ' [' + node.flags.map((f) => goQuote(f.text)).join(' ') + ']';
  if (node.trigger) str += ' (' + dumpNode(node.trigger) + ')';
  for (const arg of node.args) str += ' ' + goQuote(arg);
  return goTrimSpace(str);
}

/**
 * The tree in BuildKit's dump format, exactly as its `Node.Dump()` prints it
 * (without a trailing newline).
 */
export function dumpBuildkit(ast: DockerfileAst): string {
  return goTrimSpace(ast.instructions.map((n) => '(' + dumpNode(n) + ')').join('\n'));
}
