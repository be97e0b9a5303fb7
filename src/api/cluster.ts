import type { ServerResponse } from 'node:http';
import type { Logger } from '../lib/index.ts';
import { CLOUD_MAP_STYLE, toWireError } from './errors.ts';
import type { PathOutcome, PathRoute } from './server.ts';

/** `GET /cluster`: the members, who leads what, the store revision (JSON). */
export const CLUSTER_PATH = '/cluster';
const OPERATION = 'ClusterStatus';

/** What the route reads: the coordinator's status, as JSON-able data (consumer-owned interface). */
export interface ClusterSource {
  status(): Promise<unknown>;
}

/** The `/cluster` path route of the API server. */
export function clusterRoute(source: ClusterSource, logger: Logger): PathRoute {
  const sendError = (res: ServerResponse, err: unknown): string => {
    const wire = toWireError(err, CLOUD_MAP_STYLE);
    if (wire.code === CLOUD_MAP_STYLE.faultCode) logger.error({ err }, 'cluster status failed');
    send(res, wire.status, wire.body);
    return wire.code;
  };
  return {
    prefix: CLUSTER_PATH,
    reject: sendError,
    handle: async (req, res): Promise<PathOutcome> => {
      if (req.path !== CLUSTER_PATH || req.method !== 'GET') {
        send(res, 404, { message: `only GET ${CLUSTER_PATH}` });
        return { operation: OPERATION, code: 'NotFound' };
      }
      try {
        send(res, 200, await source.status());
        return { operation: OPERATION, code: 'OK' };
      } catch (err) {
        return { operation: OPERATION, code: sendError(res, err) };
      }
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
