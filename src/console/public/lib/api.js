// The console's only way to Pharos data: the AWS JSON 1.1 API, exactly as the SDKs call it
// (POST / with X-Amz-Target). With --credentials the session cookie authenticates the call and the
// CSRF token (from GET /console/session, kept in memory only) proves it comes from this page.

const PREFIX = {
  cloudmap: 'Route53AutoNaming_v20170314',
  ecs: 'AmazonEC2ContainerServiceV20141113',
};

let csrf;

/** Set after sign-in; undefined when the server needs no credentials. */
export function setCsrf(token) {
  csrf = token;
}

/** A refusal by the API: `code` is the AWS `__type`, `message` its message. */
export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** Calls one operation; resolves with its output or rejects with an ApiError. */
export async function call(service, operation, input = {}) {
  const headers = { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `${PREFIX[service]}.${operation}` };
  if (csrf) headers['X-Pharos-Csrf'] = csrf;
  let res;
  try {
    res = await fetch('/', { method: 'POST', headers, body: JSON.stringify(input), credentials: 'same-origin' });
  } catch {
    throw new ApiError('NetworkError', 'The server cannot be reached.', 0);
  }
  const text = await res.text();
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError('InvalidResponse', `HTTP ${res.status}: ${text.slice(0, 200)}`, res.status);
  }
  if (!res.ok) {
    const code = String(body.__type ?? `HTTP${res.status}`).replace(/^.*#/, '');
    throw new ApiError(code, body.Message ?? body.message ?? `HTTP ${res.status}`, res.status);
  }
  return body;
}

export const cloudmap = (op, input) => call('cloudmap', op, input);
export const ecs = (op, input) => call('ecs', op, input);

/** Every page of a paginated Cloud Map list (`NextToken`), items under `key`. */
export async function allPages(op, input, key, max = 100) {
  const out = [];
  let token;
  do {
    const page = await cloudmap(op, { ...input, MaxResults: max, ...(token ? { NextToken: token } : {}) });
    out.push(...(page[key] ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

/** Every page of GetInstancesHealthStatus, merged into one { id: status } map. */
export async function allHealth(serviceId) {
  const status = {};
  let token;
  do {
    const page = await cloudmap('GetInstancesHealthStatus', { ServiceId: serviceId, MaxResults: 100, ...(token ? { NextToken: token } : {}) });
    Object.assign(status, page.Status);
    token = page.NextToken;
  } while (token);
  return status;
}

/** Every page of an ECS list (`nextToken`), arns under `key`. */
export async function allEcs(op, input, key) {
  const out = [];
  let token;
  do {
    const page = await ecs(op, { ...input, maxResults: 100, ...(token ? { nextToken: token } : {}) });
    out.push(...(page[key] ?? []));
    token = page.nextToken;
  } while (token);
  return out;
}

/** DescribeX in chunks of the API's limit. */
export async function describeAll(op, input, key, ids, chunk, outKey) {
  const out = [];
  for (let i = 0; i < ids.length; i += chunk) {
    const page = await ecs(op, { ...input, [key]: ids.slice(i, i + chunk) });
    out.push(...(page[outKey] ?? []));
  }
  return out;
}

/** The console's own endpoints (session, health details): JSON over fetch. */
export async function consoleFetch(path, options = {}) {
  const headers = { ...(options.body ? { 'Content-Type': 'application/json' } : {}), ...(csrf ? { 'X-Pharos-Csrf': csrf } : {}) };
  let res;
  try {
    res = await fetch(`/console/${path}`, { ...options, headers, credentials: 'same-origin' });
  } catch {
    throw new ApiError('NetworkError', 'The server cannot be reached.', 0);
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(`HTTP${res.status}`, body.message ?? `HTTP ${res.status}`, res.status);
  return body;
}

/** A fresh idempotency token (CreatorRequestId, clientToken): a retried or double-clicked create is applied once. */
export function requestToken() {
  // getRandomValues, unlike randomUUID, also works on a plain-http page that is not loopback.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A Route 53 read (REST-XML under /2013-04-01/), parsed with the browser's DOMParser. Rejects with
 * the `<Error><Code>` and `<Message>` Route 53 answers.
 */
export async function route53(path) {
  let res;
  try {
    res = await fetch(`/2013-04-01/${path}`, { headers: csrf ? { 'X-Pharos-Csrf': csrf } : {}, credentials: 'same-origin' });
  } catch {
    throw new ApiError('NetworkError', 'The server cannot be reached.', 0);
  }
  const doc = new DOMParser().parseFromString(await res.text(), 'application/xml');
  if (!res.ok) {
    const text = (name) => doc.getElementsByTagName(name)[0]?.textContent;
    throw new ApiError(text('Code') ?? `HTTP${res.status}`, text('Message') ?? `HTTP ${res.status}`, res.status);
  }
  return doc;
}
