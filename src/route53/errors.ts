import { PharosError } from '../lib/index.ts';

/**
 * The Route 53 error codes Pharos gives, each exactly the AWS error shape name, with the HTTP
 * status Route 53 sends it with: the one table the REST-XML boundary reads (api/route53.ts).
 * @see docs/route53.md (errors)
 */
export const ROUTE53_ERRORS = {
  NoSuchHostedZone: 404,
  NoSuchChange: 404,
  InvalidInput: 400,
  InvalidDomainName: 400,
  InvalidChangeBatch: 400,
  InvalidPaginationToken: 400,
  PriorRequestNotComplete: 400,
} as const satisfies Record<string, number>;
export type Route53ErrorCode = keyof typeof ROUTE53_ERRORS;

/** A Route 53 client error; `messages` is InvalidChangeBatch's list (one per refused change). */
export class Route53Error extends PharosError {
  constructor(code: Route53ErrorCode, message: string, messages?: string[]) {
    super(code, message, { fields: messages ? { messages } : {} });
  }
}

export const noSuchHostedZone = (id: string) => new Route53Error('NoSuchHostedZone', `No hosted zone found with ID: ${id}`);
export const noSuchChange = (id: string) => new Route53Error('NoSuchChange', `A change with the specified change ID does not exist: ${id}`);
export const invalidInput = (message: string) => new Route53Error('InvalidInput', message);
export const invalidDomainName = (message: string) => new Route53Error('InvalidDomainName', message);
export const invalidChangeBatch = (messages: string[]) =>
  new Route53Error('InvalidChangeBatch', messages.length === 1 ? messages[0]! : `[${messages.join(', ')}]`, messages);
export const priorRequestNotComplete = () =>
  new Route53Error('PriorRequestNotComplete', 'The request was rejected because Route 53 was still processing a prior request (a concurrent change to the same record sets); retry it.');
