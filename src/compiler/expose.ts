/**
 * EXPOSE port specs: `[ip:][hostPort:]containerPort[-end][/proto]`, as
 * BuildKit parses them. Only the container side is kept, as `port/proto`.
 */
import { isIP } from 'node:net';

/** An EXPOSE value error; `message` follows BuildKit. */
export class PortSpecError extends Error {}

function splitParts(raw: string): [string, string, string] {
  const parts = raw.split(':');
  const n = parts.length;
  switch (n) {
    case 1:
      return ['', '', parts[0]];
    case 2:
      return ['', parts[0], parts[1]];
    case 3:
      return [parts[0], parts[1], parts[2]];
    default:
      return [parts.slice(0, n - 2).join(':'), parts[n - 2], parts[n - 1]];
  }
}

function parseUint16(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

function parsePortRange(ports: string): [number, number] | undefined {
  if (ports === '') return undefined;
  if (!ports.includes('-')) {
    const p = parseUint16(ports);
    return p === undefined ? undefined : [p, p];
  }
  const parts = ports.split('-');
  if (parts.length !== 2) return undefined;
  const a = parseUint16(parts[0]);
  const b = parseUint16(parts[1]);
  if (a === undefined || b === undefined || b < a) return undefined;
  return [a, b];
}

/** The protocol part of a spec as written (`80/TcP` gives `TcP`), or undefined. */
export function specProtocol(raw: string): string | undefined {
  const container = splitParts(raw)[2];
  const i = container.indexOf('/');
  return i < 0 ? undefined : container.slice(i + 1);
}

/** Parse one spec into `port/proto` keys (ranges expanded). */
export function parsePortSpec(raw: string): string[] {
  const fail = (why: string): never => {
    throw new PortSpecError(`invalid port: ${JSON.stringify(raw)}: ${why}`);
  };
  let [ip, hostPort, containerPort] = splitParts(raw);
  const slash = containerPort.indexOf('/');
  let proto = slash < 0 ? '' : containerPort.slice(slash + 1);
  containerPort = slash < 0 ? containerPort : containerPort.slice(0, slash);
  if (containerPort === '') fail('no port specified');
  if (proto === '') proto = 'tcp';
  proto = proto.toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') fail(`invalid proto: ${proto}`);
  if (ip !== '' && ip.startsWith('[')) {
    if (!ip.endsWith(']')) fail(`invalid IP address ${ip}`);
    ip = ip.slice(1, -1);
  }
  if (ip !== '' && isIP(ip) === 0) fail(`invalid IP address: ${ip}`);
  const range = parsePortRange(containerPort) ?? fail(`invalid containerPort: ${containerPort}`);
  if (hostPort !== '') {
    const hr = parsePortRange(hostPort) ?? fail(`invalid hostPort: ${hostPort}`);
    if (range[1] - range[0] !== hr[1] - hr[0] && range[1] !== range[0]) {
      fail(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
    }
  }
  const out: string[] = [];
  for (let p = range[0]; p <= range[1]; p++) out.push(`${p}/${proto}`);
  return out;
}

/** Parse several specs, concatenating their ports. */
export function parsePortSpecs(specs: readonly string[]): string[] {
  return specs.flatMap(parsePortSpec);
}
