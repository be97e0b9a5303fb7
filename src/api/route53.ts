import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { PharosError, type Logger } from '../lib/index.ts';
import { ROUTE53_ERRORS, type ChangeInput, type RecordSetInput, type Route53 } from '../route53/index.ts';
import {
  ACCESS_DENIED,
  BoundaryError,
  INCOMPLETE_SIGNATURE,
  INVALID_SIGNATURE,
  MISSING_AUTHENTICATION_TOKEN,
  REQUEST_TOO_LARGE,
  THROTTLING,
  UNRECOGNIZED_CLIENT,
} from './errors.ts';
import type { PathOutcome, PathRequest, PathRoute } from './server.ts';
import { XmlError, child, parseXml, writeXml, type XmlElement } from './xml.ts';

/**
 * Route 53's REST-XML wire (API version 2013-04-01) on the API port: everything under
 * `/2013-04-01/` is Route 53, dispatched on method and path; the operations are the route53
 * module's. Errors are Route 53's XML error body, mapped here once.
 * @see docs/route53.md
 */

export const ROUTE53_PREFIX = '/2013-04-01/';
/** SigV4 signing name of Route 53 (the model's `signingName`). */
export const ROUTE53_SIGNING_NAME = 'route53';
const XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';
/** List element → member element name, as the model's list shapes name them. */
const LIST_MEMBERS = {
  HostedZones: 'HostedZone',
  ResourceRecordSets: 'ResourceRecordSet',
  ResourceRecords: 'ResourceRecord',
  VPCs: 'VPC',
  NameServers: 'NameServer',
  Messages: 'Message',
};
/** Elements of a ResourceRecordSet that describe routing Pharos does not serve. */
const UNSUPPORTED_SET_MEMBERS = new Set(['Region', 'GeoLocation', 'Failover', 'AliasTarget', 'HealthCheckId', 'TrafficPolicyInstanceId', 'CidrRoutingConfig', 'GeoProximityLocation']);
const INTERNAL_FAILURE = 'InternalFailure';

/**
 * The server's own refusals as XML services spell them (the JSON services' `...Exception` codes
 * are `__type`s; Route 53 clients read `<Code>`), with Route 53's statuses.
 */
const BOUNDARY_CODES: Readonly<Record<string, { code: string; status: number }>> = {
  [MISSING_AUTHENTICATION_TOKEN]: { code: 'MissingAuthenticationToken', status: 403 },
  [INCOMPLETE_SIGNATURE]: { code: 'IncompleteSignature', status: 400 },
  [INVALID_SIGNATURE]: { code: 'SignatureDoesNotMatch', status: 403 },
  [UNRECOGNIZED_CLIENT]: { code: 'InvalidClientTokenId', status: 403 },
  [REQUEST_TOO_LARGE]: { code: 'RequestEntityTooLarge', status: 413 },
  [ACCESS_DENIED]: { code: 'AccessDenied', status: 403 },
  // Route 53's name for it; the SDKs retry it with backoff.
  [THROTTLING]: { code: 'Throttling', status: 400 },
};

type Handler = (r53: Route53, req: PathRequest, id: string) => unknown;

/** [method, path pattern, operation, handler]: the whole operation table. */
const OPERATIONS: [string, RegExp, string, Handler][] = [
  ['GET', /^hostedzone$/, 'ListHostedZones', (r, req) => r.listHostedZones({ marker: q(req, 'marker'), maxItems: q(req, 'maxitems'), delegationSetId: q(req, 'delegationsetid'), hostedZoneType: q(req, 'hostedzonetype') })],
  ['GET', /^hostedzone\/([^/]+)$/, 'GetHostedZone', (r, _req, id) => r.getHostedZone(id)],
  ['GET', /^hostedzone\/([^/]+)\/rrset\/?$/, 'ListResourceRecordSets', (r, req, id) =>
    r.listResourceRecordSets({ hostedZoneId: id, name: q(req, 'name'), type: q(req, 'type'), identifier: q(req, 'identifier'), maxItems: q(req, 'maxitems') })],
  ['POST', /^hostedzone\/([^/]+)\/rrset\/?$/, 'ChangeResourceRecordSets', (r, req, id) => r.changeResourceRecordSets(id, readChangeBatch(req.body))],
  ['GET', /^hostedzonesbyname$/, 'ListHostedZonesByName', (r, req) => r.listHostedZonesByName({ dnsName: q(req, 'dnsname'), hostedZoneId: q(req, 'hostedzoneid'), maxItems: q(req, 'maxitems') })],
  ['GET', /^hostedzonecount$/, 'GetHostedZoneCount', (r) => r.getHostedZoneCount()],
  ['GET', /^change\/([^/]+)$/, 'GetChange', (r, _req, id) => r.getChange(id)],
];

/** The `/2013-04-01/` path route of the API server. */
export function route53Route(r53: Route53, logger: Logger): PathRoute {
  return {
    prefix: ROUTE53_PREFIX,
    signingName: ROUTE53_SIGNING_NAME,
    reject: (res, err) => sendError(res, err, logger),
    handle: async (req, res): Promise<PathOutcome> => {
      const rest = req.path.slice(ROUTE53_PREFIX.length);
      let operation = 'unknown';
      try {
        const hit = OPERATIONS.find(([method, pattern]) => method === req.method && pattern.test(rest));
        if (!hit) throw new PharosError('InvalidInput', `Route 53 has no operation ${req.method} ${req.path} here (Pharos serves the hosted-zone reads, ChangeResourceRecordSets and GetChange)`);
        const [, pattern, name, handler] = hit;
        operation = name;
        const id = decodeId(pattern.exec(rest)![1]);
        const output = (await handler(r53, req, id)) as Record<string, unknown>;
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<${name}Response xmlns="${XMLNS}">${writeXml(output, LIST_MEMBERS)}</${name}Response>`;
        send(res, 200, body);
        return { operation, code: 'OK' };
      } catch (err) {
        return { operation, code: sendError(res, err, logger) };
      }
    },
  };
}

/** A query parameter; given twice, it is refused rather than one of them picked. */
function q(req: PathRequest, name: string): string | undefined {
  const values = req.query.getAll(name);
  if (values.length > 1) throw new PharosError('InvalidInput', `The query parameter ${name} appears more than once`);
  return values[0];
}

/** Ids arrive bare (the SDKs strip `/hostedzone/` and `/change/`); a full one is accepted too. */
function decodeId(segment: string | undefined): string {
  if (segment === undefined) return '';
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    throw new PharosError('InvalidInput', `The input is not valid: ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
  return id.replace(/^\/?(hostedzone|change)\//, '');
}

/** `<ChangeResourceRecordSetsRequest><ChangeBatch>…` → the batch; a body that is not one is `InvalidInput`. */
function readChangeBatch(body: Buffer): { comment?: string; changes: ChangeInput[] } {
  let root: XmlElement;
  try {
    root = parseXml(body.toString('utf8'));
  } catch (err) {
    throw new PharosError('InvalidInput', `The request body is not valid XML: ${(err as XmlError).message}`);
  }
  if (root.name !== 'ChangeResourceRecordSetsRequest') throw new PharosError('InvalidInput', `The request body must be a ChangeResourceRecordSetsRequest, not <${root.name}>`);
  const batch = child(structure(root, 'ChangeResourceRecordSetsRequest'), 'ChangeBatch');
  const changes = batch && child(structure(batch, 'ChangeBatch'), 'Changes');
  if (!batch || !changes) throw new PharosError('InvalidInput', '1 validation error detected: ChangeBatch.Changes must not be null');
  const comment = child(batch, 'Comment')?.text;
  return {
    ...(comment !== undefined ? { comment } : {}),
    changes: changes.children
      .filter((c) => c.name === 'Change')
      .map((c, i) => {
        const set = child(structure(c, `ChangeBatch.Changes[${i}]`), 'ResourceRecordSet');
        if (!set) throw new PharosError('InvalidInput', `1 validation error detected: ChangeBatch.Changes[${i}].ResourceRecordSet must not be null`);
        return { Action: child(c, 'Action')?.text.trim() ?? '', ResourceRecordSet: readRecordSet(set, i) };
      }),
  };
}

function readRecordSet(el: XmlElement, i: number): RecordSetInput {
  const path = `ChangeBatch.Changes[${i}].ResourceRecordSet`;
  structure(el, path);
  const text = (name: string) => child(el, name)?.text;
  const integer = (name: string) => {
    const t = text(name);
    if (t === undefined) return undefined;
    if (!/^-?\d{1,12}$/.test(t.trim())) throw new PharosError('InvalidInput', `${path}.${name}: ${JSON.stringify(t)} is not an integer`);
    return Number(t.trim());
  };
  const name = text('Name');
  const type = text('Type');
  if (name === undefined || type === undefined) throw new PharosError('InvalidInput', `1 validation error detected: ${path}.${name === undefined ? 'Name' : 'Type'} must not be null`);
  const mva = text('MultiValueAnswer')?.trim();
  if (mva !== undefined && mva !== 'true' && mva !== 'false') throw new PharosError('InvalidInput', `${path}.MultiValueAnswer: ${JSON.stringify(mva)} is not true or false`);
  const records = child(el, 'ResourceRecords');
  const setIdentifier = text('SetIdentifier');
  const weight = integer('Weight');
  const ttl = integer('TTL');
  return {
    Name: name.trim(),
    Type: type.trim(),
    ...(setIdentifier !== undefined ? { SetIdentifier: setIdentifier } : {}),
    ...(weight !== undefined ? { Weight: weight } : {}),
    ...(mva !== undefined ? { MultiValueAnswer: mva === 'true' } : {}),
    ...(ttl !== undefined ? { TTL: ttl } : {}),
    ...(records
      ? { ResourceRecords: records.children.filter((r) => r.name === 'ResourceRecord').map((r, j) => child(structure(r, `${path}.ResourceRecords[${j}]`), 'Value')?.text ?? '') }
      : {}),
    unsupported: el.children.filter((c) => UNSUPPORTED_SET_MEMBERS.has(c.name)).map((c) => c.name),
  };
}

/**
 * A structure's members each appear at most once: with two `<Name>`s, which one Route 53 would use
 * is a guess, and a guess about a record's name is a wrong record (lists — `<Changes>`,
 * `<ResourceRecords>` — repeat their member element, and are not structures).
 */
function structure(el: XmlElement, path: string): XmlElement {
  const seen = new Set<string>();
  for (const c of el.children) {
    if (seen.has(c.name)) throw new PharosError('InvalidInput', `The request body is not valid: <${c.name}> appears more than once in ${path}`);
    seen.add(c.name);
  }
  return el;
}

/** Route 53's error body; returns the code. Faults are logged once, here. */
function sendError(res: ServerResponse, err: unknown, logger: Logger): string {
  let code: string;
  let status: number;
  let message: string;
  let messages: string[] | undefined;
  if (err instanceof BoundaryError && BOUNDARY_CODES[err.code]) {
    ({ code, status } = BOUNDARY_CODES[err.code]!);
    message = err.message;
  } else if (err instanceof PharosError && err.code in ROUTE53_ERRORS) {
    code = err.code;
    status = ROUTE53_ERRORS[err.code as keyof typeof ROUTE53_ERRORS];
    message = err.message;
    messages = err.fields['messages'] as string[] | undefined;
  } else {
    code = INTERNAL_FAILURE;
    status = 500;
    message = 'An internal error occurred.';
    logger.error({ err }, 'Route 53 request failed');
  }
  const requestId = randomUUID();
  const error = { Type: status >= 500 ? 'Receiver' : 'Sender', Code: code, Message: message, ...(messages ? { Messages: messages } : {}) };
  const body = `<?xml version="1.0"?>\n<ErrorResponse xmlns="${XMLNS}">${writeXml({ Error: error, RequestId: requestId }, LIST_MEMBERS)}</ErrorResponse>`;
  send(res, status, body, requestId);
  return code;
}

function send(res: ServerResponse, status: number, body: string, requestId = randomUUID()): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body), 'x-amzn-RequestId': requestId });
  res.end(body);
}
