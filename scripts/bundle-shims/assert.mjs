// `assert` as yargs sees it in the bundled CLI (scripts/bundle.mjs): the two checks its
// platform shim takes from it, without loading node:assert (~3 ms of every start, and an
// AssertionError that inspects its operands each time yargs looks for a package.json and finds
// none, which it then catches). Same outcome: a throw when the check fails, with
// code ERR_ASSERTION and the message given.
function fail(message, actual, expected, operator) {
  const e = new Error(message ?? `Expected values to be ${operator === 'strictEqual' ? 'strictly equal' : 'strictly unequal'}`);
  e.name = 'AssertionError';
  e.code = 'ERR_ASSERTION';
  e.actual = actual;
  e.expected = expected;
  e.operator = operator;
  throw e;
}

export function strictEqual(actual, expected, message) {
  if (!Object.is(actual, expected)) fail(message, actual, expected, 'strictEqual');
}

export function notStrictEqual(actual, expected, message) {
  if (Object.is(actual, expected)) fail(message, actual, expected, 'notStrictEqual');
}
