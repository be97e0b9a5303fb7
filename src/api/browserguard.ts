import type { IncomingHttpHeaders } from 'node:http';

/**
 * Without credentials the API trusts whoever can reach it, and only loopback can
 * (`checkApiExposure` refuses other addresses). A web page can still reach it through the user's
 * browser, in two ways this closes (docs/compatibility.md#requests-from-browsers):
 * - DNS rebinding: the page's own name is re-pointed at 127.0.0.1, so its requests reach Pharos
 *   as same-origin ones, carrying the page's name in `Host`. Only loopback names are accepted.
 * - Cross-site requests: a form POST needs no CORS preflight, and Route 53's REST calls need no
 *   custom header. Browsers send `Origin` with them; AWS SDKs and CLIs never do. A request whose
 *   `Origin` is not the server's own origin is refused.
 * Returns why the request is refused, or undefined when it is not.
 */
export function browserRefusal(headers: IncomingHttpHeaders): string | undefined {
  const host = headers.host;
  // HTTP/1.0 clients may omit Host; browsers always send it.
  if (host !== undefined && !isLoopbackName(hostName(host))) {
    return `Host ${JSON.stringify(host)} is not a loopback name: without --credentials, Pharos answers only requests addressed to localhost, a *.localhost name, 127.0.0.0/8 or [::1] (a page's own name would be DNS rebinding); use one of those in --endpoint-url, or set --credentials`;
  }
  if (!sameOrigin(headers)) {
    return `Origin ${JSON.stringify(headers.origin)} is not this server: without --credentials, Pharos refuses requests that browsers send on behalf of other sites`;
  }
  return undefined;
}

/** `name:port`, `[v6]:port` or a bare name → the lower-case name, IPv6 without brackets. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') === -1 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** localhost, *.localhost (RFC 6761: always loopback), 127.0.0.0/8, ::1, each also with the SDKs' `data-` prefix. */
function isLoopbackName(name: string): boolean {
  const n = name.startsWith('data-') ? name.slice('data-'.length) : name;
  return n === 'localhost' || n.endsWith('.localhost') || n === '::1' || /^127(\.\d{1,3}){3}$/.test(n);
}

/** No `Origin` (not a browser, or a same-origin GET), or one that names the host the request went to. */
export function sameOrigin(headers: IncomingHttpHeaders): boolean {
  const { origin, host } = headers;
  if (origin === undefined) return true;
  if (host === undefined) return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === new URL(`${url.protocol}//${host}`).host;
  } catch {
    // `null` (sandboxed frames, file: pages) and anything unparsable.
    return false;
  }
}
