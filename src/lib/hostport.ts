import { isIP } from 'node:net';

/** A listening or target address. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * The one parser of `host:port`, `[v6]:port`, and (with `defaultPort`) `host`, `[v6]` or a bare
 * IPv6 address. The host may be a name or an address; an empty host (`:53`) is returned empty, for
 * the caller to refuse or fill in. Throws an `Error` whose message says what is wrong.
 */
export function parseHostPort(raw: string, defaultPort?: number): HostPort {
  const text = raw.trim();
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const m = /^([^:\s[\]]*)(?::(\d+))?$/.exec(text);
    if (!m) throw new Error(`${JSON.stringify(raw)} is not host:port`);
    host = m[1]!;
    portText = m[2];
  }
  if (portText === undefined) {
    if (defaultPort === undefined) throw new Error(`${JSON.stringify(raw)} has no port (use host:port, e.g. 127.0.0.1:7700)`);
    return { host, port: defaultPort };
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port > 65535) throw new Error(`port ${portText} is out of range 0-65535`);
  return { host, port };
}

/** `host:port` for people and URLs (an IPv6 address in brackets). */
export function formatHostPort(hp: HostPort): string {
  return isIP(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
