/** Authoritative DNS for every DNS namespace, answered from the registry snapshot. See README.md. */
export { startDnsServer, DnsResponder, parseHostPort, MAX_UDP_PAYLOAD, DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_TCP_IDLE_MS } from './server.ts';
export type { DnsServer, DnsServerOptions, DnsResponderOptions } from './server.ts';
export { RegistryZones, DEFAULT_MAX_ANSWERS, DEFAULT_SOA_TTL } from './zones.ts';
export type { DnsHandler, DnsRequest, DnsReply } from './handler.ts';
export * from './errors.ts';
export { startDnsWorkers, autoDnsWorkers, MAX_DNS_WORKERS, type DnsWorkers, type DnsWorkersOptions } from './workers.ts';
export { DEFAULT_RRL, ResponseRateLimiter, type RrlOptions } from './rrl.ts';
export { UDP_IO_CHOICES, type UdpIo } from './udpbatch.ts';
