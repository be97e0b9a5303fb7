import { PharosError } from '../lib/index.ts';
import { RCODE } from './wire.ts';

/**
 * DNS errors are sentinel codes; `rcodeFor` maps them to rcodes in one switch (Consul's
 * agent/dns/router.go habit). Handlers throw them; only the server turns them into answers.
 */
export const DNS_MALFORMED = 'DnsMalformedQuery';
export const DNS_NOT_IMPLEMENTED = 'DnsNotImplemented';
export const DNS_REFUSED = 'DnsRefused';
export const DNS_BAD_VERSION = 'DnsBadVersion';
export const DNS_UPSTREAM_FAILED = 'DnsUpstreamFailed';
export const DNS_BAD_ADDRESS = 'DnsBadAddress';
/** `--dns-io batch` asked for, but the native batched UDP addon cannot be used here. */
export const DNS_IO_UNAVAILABLE = 'DnsIoUnavailable';

export function dnsError(code: string, message: string, cause?: unknown): PharosError {
  return new PharosError(code, message, { cause });
}

/** The rcode a failure is answered with. Anything unexpected is SERVFAIL. */
export function rcodeFor(err: unknown): number {
  const code = err instanceof PharosError ? err.code : undefined;
  switch (code) {
    case DNS_MALFORMED:
      return RCODE.FORMERR;
    case DNS_NOT_IMPLEMENTED:
      return RCODE.NOTIMP;
    case DNS_REFUSED:
      return RCODE.REFUSED;
    case DNS_BAD_VERSION:
      return RCODE.BADVERS;
    case DNS_UPSTREAM_FAILED:
    default:
      return RCODE.SERVFAIL;
  }
}
