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

function dumpNode(root: InstructionNode): string {
  // ONBUILD triggers nest arbitrarily deep: walk the chain instead of recursing.
  // Only the innermost text needs trimming: a node with a trigger starts with its
  // keyword and ends with `)` or a quoted argument.
  const heads: string[] = [];
  const tails: string[] = [];
  let node = root;
  for (;;) {
    let head = node.keyword;
    if (node.flags.length > 0) head += ' [' + node.flags.map((f) => goQuote(f.text)).join(' ') + ']';
    let tail = '';
    for (const arg of node.args) tail += ' ' + goQuote(arg);
    if (!node.trigger) {
      heads.push(goTrimSpace(head + tail));
      break;
    }
    heads.push(head + ' (');
    tails.push(')' + tail);
    node = node.trigger;
  }
  return goTrimSpace(heads.join('') + tails.reverse().join(''));
}

/**
 * The tree in BuildKit's dump format, exactly as its `Node.Dump()` prints it
 * (without a trailing newline).
 */
export function dumpBuildkit(ast: DockerfileAst): string {
  return goTrimSpace(ast.instructions.map((n) => '(' + dumpNode(n) + ')').join('\n'));
}
