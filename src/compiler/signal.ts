/** STOPSIGNAL values as moby/sys/signal.ParseSignal accepts them (Linux table). */

const NAMES = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL',
  'PROF', 'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1',
  'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ', 'RTMIN', 'RTMAX',
  ...Array.from({ length: 15 }, (_, i) => `RTMIN+${i + 1}`),
  ...Array.from({ length: 14 }, (_, i) => `RTMAX-${i + 1}`),
]);

/** True when `raw` is a valid stop signal (a nonzero integer, or a name with or without SIG). */
export function isValidSignal(raw: string): boolean {
  if (/^[+-]?[0-9]+$/.test(raw)) {
    const n = Number(raw);
    return n !== 0 && Number.isSafeInteger(n) && Math.abs(n) <= 2 ** 63;
  }
  const upper = raw.toUpperCase();
  return NAMES.has(upper.startsWith('SIG') ? upper.slice(3) : upper);
}
