// Preloaded (`node -r`) into one extra `ocibuild push|pull` per run by registry-bench.js (issue 8),
// never into a timed one: appends to $OCIBUILD_BENCH_PHASES, as one JSON line, when (ms after the
// process's time origin) the command opened its first connection and when it reached its exit.
// What lies between is the command's transfer phase; node -e 0 plus that phase is the floor of the
// command on this Node: what it would take if the CLI did no work of its own before its first request.
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const file = process.env.OCIBUILD_BENCH_PHASES;
let firstConnect;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  firstConnect ??= performance.now();
  return connect.apply(this, args);
};
process.on('exit', () => {
  if (file) fs.appendFileSync(file, `${JSON.stringify({ firstConnect, exit: performance.now() })}\n`);
});
