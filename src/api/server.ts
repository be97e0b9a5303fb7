import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import { readBody } from './body.ts';
import { browserRefusal } from './browserguard.ts';
import {
  ACCESS_DENIED,
  BoundaryError,
  CLOUD_MAP_STYLE,
  REQUEST_TOO_LARGE,
  SERIALIZATION_ERROR,
  THROTTLING,
  UNKNOWN_OPERATION,
  toWireError,
  type ErrorStyle,
} from './errors.ts';
import { RAW_JSON, RAW_JSON_BYTES } from '../registry/index.ts';
import { ClientLimits, SERVER_TIMEOUT_OPTIONS, type HttpLimits } from './limits.ts';
import { installFastPath, type FastAnswer, type FastPath } from './fastpath.ts';
import type { RequestHead } from './http1.ts';
import { ApiMetrics, OK_LABEL, UNKNOWN_LABEL } from './metrics.ts';
import { SigV4Verifier, type Credentials } from './sigv4.ts';

/**
 * Largest request body accepted. The biggest legitimate Cloud Map request (200 tags, or 30
 * service attributes of 1,279 characters) is well under 100 KiB; 1 MiB leaves room and still
 * bounds what one request can make the server buffer.
 */
export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * A rejected (too large) body of known length up to this size is read and discarded, so the
 * client surely sees the 413 and may reuse the connection; anything bigger, or of unknown length,
 * gets `Connection: close` instead of being read on.
 */
export const MAX_DRAIN_BYTES = 8 * 1024 * 1024;
/** How long `close()` lets in-flight requests finish before cutting their connections. */
export const CLOSE_GRACE_MS = 10_000;

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
/**
 * Socket buffer size before a write reports backpressure. Node's 16 KiB default is below a
 * 100-instance DiscoverInstances answer (~20 KB), so every such response went through a 'drain'
 * event round; 64 KiB covers a typical answer in one write. Bodies are written whole either way.
 */
const SOCKET_HIGH_WATER_MARK = 64 * 1024;
const EMPTY_BODY = Buffer.alloc(0);

/** An operation: takes the untrusted parsed JSON body, returns the AWS output object (or nothing). */
export type OperationHandler = (input: Record<string, unknown>) => unknown;

/** One AWS JSON 1.1 service: its `X-Amz-Target` prefix, its operations and how it writes errors. */
export interface ApiTarget {
  /** e.g. `Route53AutoNaming_v20170314` or `AmazonEC2ContainerServiceV20141113`. */
  prefix: string;
  /** PascalCase operation name → handler. */
  operations: Readonly<Record<string, OperationHandler>>;
  style: ErrorStyle;
  /** SigV4 service name its requests must be scoped to (`servicediscovery`, `ecs`); any accepted one when absent. */
  signingName?: string;
}

/** What the API server needs from its host: where to log, where to register metrics, the body limit, who may call. */
export interface ApiServerOptions {
  logger: Logger;
  metrics: MetricsRegistry;
  maxBodyBytes?: number;
  /** Access keys whose SigV4 signatures are accepted; none (the default) = requests are not authenticated. */
  credentials?: readonly Credentials[];
  /** Time for the signature's 15-minute window. */
  clock?: Clock;
  /** Timeouts and caps on what clients may hold (limits.ts DEFAULT_HTTP_LIMITS). */
  limits?: Partial<HttpLimits>;
  /** PEM certificate chain and key: serve HTTPS instead of HTTP (setTls replaces them). */
  tls?: TlsMaterial;
  /** Answer the common AWS JSON request on the socket (fastpath.ts; default true); false: all through node:http (`--api-http node`). TLS: node:https. */
  fastPath?: boolean;
}

/** A PEM certificate (chain) and its private key. */
export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

/** A request to a path-routed API, its whole body read and (when the server checks them) its signature checked. */
export interface PathRequest {
  method: string;
  /** The path as it arrived (still percent-encoded), without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /**
   * Resolves when the client goes away or the server closes: for routes that hold a request open
   * (the watch). A promise, not an AbortSignal: an EventTarget per held request costs memory that
   * ten thousand idle watches feel.
   */
  ended: Promise<void>;
  /** Who asks, for per-client limits: `key:<access key id>` if the signature was verified, else `addr:<address>` (an unverified key id can be made up). */
  client: string;
}

/** What a path route reports for `pharos_api_requests_total`: its operation name and `OK` or the error code. */
export interface PathOutcome {
  operation: string;
  code: string;
}

/**
 * An API routed by path prefix instead of `X-Amz-Target` (Route 53's REST-XML under
 * `/2013-04-01/`, the watch under `/v1/`): the server reads the body (same size limit) and checks
 * SigV4; the route writes its own responses, in its own wire format.
 */
export interface PathRoute {
  /** Requests whose path starts with this go to the route, whatever their method. */
  prefix: string;
  /** SigV4 service the signature must be scoped to; any accepted one when absent. */
  signingName?: string;
  /** Held open by design (watches): not counted against `--http-max-in-flight-per-client` (the route bounds them); others are. */
  heldOpen?: boolean;
  handle(req: PathRequest, res: ServerResponse): PathOutcome | Promise<PathOutcome>;
  /** Writes an error the server raised before `handle` (authentication, body size); returns the wire code. */
  reject(res: ServerResponse, err: BoundaryError): string;
}

/** A handler for a family of plain HTTP paths beside the AWS API (the web console). */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Another way than SigV4 to authenticate a `POST /` API request (the console's session cookie). */
export interface RequestAuthenticator {
  /** True when the request carries this authenticator's proof; SigV4 is then not required. */
  accepts(req: { headers: IncomingHttpHeaders }): boolean;
}

/** What dispatch reads of a request: node's `IncomingMessage`, or the fast path's parsed head. */
interface ApiRequest {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
}

/** Where a request's answer goes; returns the request id it was sent with. */
interface Reply {
  send(status: number, contentType: string, payload: string | Buffer, errorType?: string): string;
}

interface Route {
  operation: string;
  handler: OperationHandler;
  style: ErrorStyle;
  signingName?: string;
}

/**
 * The HTTP boundary: AWS JSON 1.1 (`POST /`, dispatch on `X-Amz-Target` only, never on `Host`, so
 * the SDKs' `data-` host prefix works), `GET /ping` for readiness and `GET /metrics` for Prometheus.
 * @see docs/compatibility.md#wire-protocol
 */
export class ApiServer {
  private readonly server: Server | HttpsServer;
  private readonly limits: ClientLimits;
  private readonly tls: boolean;
  private readonly routes = new Map<string, Route>();
  private readonly styles = new Map<string, ErrorStyle>();
  private readonly pathRoutes: PathRoute[] = [];
  /** Path-route requests in progress → what `close()` calls to end them. */
  private readonly held = new Set<() => void>();
  private readonly logger: Logger;
  private readonly metricsRegistry: MetricsRegistry;
  private readonly metrics: ApiMetrics;
  private readonly maxBodyBytes: number;
  private readonly verifier?: SigV4Verifier;
  private readonly mounts: { prefix: string; handler: HttpHandler }[] = [];
  private altAuth?: RequestAuthenticator;
  private readonly fast?: FastPath;
  private ready = false;
  private closing?: Promise<void>;

  constructor(options: ApiServerOptions) {
    this.logger = options.logger;
    this.metricsRegistry = options.metrics;
    this.metrics = new ApiMetrics(options.metrics);
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    if (options.credentials && options.credentials.length > 0) {
      this.verifier = new SigV4Verifier({ credentials: options.credentials, clock: options.clock ?? systemClock });
    }
    this.limits = new ClientLimits(options.limits ?? {}, options.metrics);
    const handler = (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res);
    this.tls = options.tls !== undefined;
    const serverOptions = { ...SERVER_TIMEOUT_OPTIONS, highWaterMark: SOCKET_HIGH_WATER_MARK };
    this.server = options.tls ? createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, handler) : createServer(serverOptions, handler);
    this.limits.apply(this.server as Server);
    if (!options.tls && options.fastPath !== false) {
      const app = { takes: (head: RequestHead) => this.fastTakes(head), serve: (head: RequestHead, body: Buffer, socket: Socket, answer: FastAnswer) => this.fastServe(head, body, socket, answer) };
      this.fast = installFastPath(this.server as Server, app, this.limits, this.metricsRegistry, this.maxBodyBytes);
    }
  }

  /** The fast path answers `POST /` AWS JSON requests that node:http would route to `dispatch`; the rest go to node:http. */
  private fastTakes(head: RequestHead): boolean {
    if (this.pathRoutes.some((r) => '/'.startsWith(r.prefix))) return false;
    // A browser guard refusal is written (and the connection closed) by node:http's path.
    return this.verifier !== undefined || browserRefusal(head.headers) === undefined;
  }

  private fastServe(head: RequestHead, body: Buffer, socket: Socket, answer: FastAnswer): void {
    const addr = socket.remoteAddress ?? '';
    const target = head.headers['x-amz-target'];
    if (!this.limits.admitAddress(addr)) {
      const wire = toWireError(tooManyInFlight(), this.styleFor(target));
      answer.send(wire.status, JSON_CONTENT_TYPE, JSON.stringify(wire.body), randomUUID(), wire.code, true);
      this.metrics.record(UNKNOWN_LABEL, THROTTLING, 0);
      return;
    }
    const reply: Reply = {
      send: (status, contentType, payload, errorType) => {
        this.limits.release(addr);
        const requestId = randomUUID();
        answer.send(status, contentType, payload, requestId, errorType, this.closing !== undefined);
        return requestId;
      },
    };
    // The head itself: its `rawHeaders` are decoded only if SigV4 reads them.
    this.dispatch(head, reply, body);
  }

  /** Replaces the certificate and key of an HTTPS server (SIGHUP); new connections get them, open ones keep theirs. Throws on bad PEM. */
  setTls(material: TlsMaterial): void {
    if (!this.tls) throw new Error('the API server was not started with TLS');
    (this.server as HttpsServer).setSecureContext({ cert: material.cert, key: material.key });
  }

  /** Adds a service's operations to the target table. */
  addTarget(target: ApiTarget): void {
    this.styles.set(target.prefix, target.style);
    for (const [operation, handler] of Object.entries(target.operations)) {
      this.routes.set(`${target.prefix}.${operation}`, { operation, handler, style: target.style, signingName: target.signingName });
    }
  }

  /** Adds an API routed by path prefix (see `PathRoute`). */
  addPathRoute(route: PathRoute): void {
    this.pathRoutes.push(route);
  }

  /**
   * Routes requests whose path starts with `prefix` (e.g. `/console/`) to `handler`, any method.
   * Checked before the AWS API, so a mounted path is never dispatched on `X-Amz-Target`. The
   * first mount is linked from the page `GET /` answers.
   */
  mount(prefix: string, handler: HttpHandler): void {
    if (!prefix.startsWith('/') || !prefix.endsWith('/') || prefix === '/') throw new TypeError(`mount prefix must be a path like /console/, not ${prefix}`);
    this.mounts.push({ prefix, handler });
  }

  /** Accepts API requests this authenticator vouches for without SigV4 (only when credentials are set). */
  authenticateWith(authenticator: RequestAuthenticator): void {
    this.altAuth = authenticator;
  }

  /** Whether requests must carry a valid SigV4 signature (credentials were given). */
  get authenticates(): boolean {
    return this.verifier !== undefined;
  }

  /** `/ping` answers 200 only once this is set (after every part of the server has started). */
  setReady(ready: boolean): void {
    this.ready = ready;
  }

  /** Starts listening; port 0 picks a free port. Resolves with the bound address. */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Base URL of the bound server, e.g. `http://127.0.0.1:7700`. */
  get url(): string {
    const addr = this.server.address() as AddressInfo | null;
    if (!addr) throw new Error('API server is not listening');
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `${this.tls ? 'https' : 'http'}://${host}:${addr.port}`;
  }

  /**
   * Stops accepting connections, lets in-flight requests finish (their responses carry
   * `Connection: close`), closes idle keep-alive sockets at once and cuts what is left after
   * `CLOSE_GRACE_MS`. Repeatable.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.ready = false;
    for (const end of [...this.held]) end();
    if (!this.server.listening) return (this.closing = Promise.resolve());
    this.closing = new Promise<void>((resolve) => {
      const grace = setTimeout(() => {
        this.server.closeAllConnections();
        this.fast?.closeAll();
      }, CLOSE_GRACE_MS);
      grace.unref();
      this.server.close(() => {
        clearTimeout(grace);
        this.fast?.stop();
        resolve();
      });
      this.server.closeIdleConnections();
      this.fast?.closeIdle();
    });
    return this.closing;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.limits.track(req, res);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathOnly = q === -1 ? url : url.slice(0, q);
    if (!this.verifier) {
      const refusal = browserRefusal(req.headers);
      if (refusal !== undefined) {
        this.refuse(req, res, pathOnly, new BoundaryError(ACCESS_DENIED, refusal));
        return;
      }
    }
    for (const mount of this.mounts) {
      if (pathOnly.startsWith(mount.prefix)) {
        mount.handler(req, res);
        return;
      }
      if (`${pathOnly}/` === mount.prefix) {
        res.writeHead(308, { Location: mount.prefix, 'Content-Length': 0 });
        res.end();
        return;
      }
    }
    // Mounts (the console) and routes held open by design (watches) are not counted per client.
    for (const route of this.pathRoutes) {
      if (pathOnly.startsWith(route.prefix)) {
        if (!route.heldOpen && !this.limits.admit(req, res)) {
          this.refuse(req, res, pathOnly, tooManyInFlight());
          return;
        }
        this.onPathRequest(route, req, res, pathOnly, q === -1 ? '' : url.slice(q + 1));
        return;
      }
    }
    if (!this.limits.admit(req, res)) {
      // The body is not read: close the connection after the answer instead.
      res.setHeader('Connection', 'close');
      this.sendError(res, toWireError(tooManyInFlight(), this.styleFor(req.headers['x-amz-target'])));
      this.metrics.record(UNKNOWN_LABEL, THROTTLING, 0);
      return;
    }
    if (req.method === 'POST') {
      this.onPost(req, res);
      return;
    }
    const path = pathOnly;
    // HEAD too: load balancers and health checkers often probe with it (node sends no body).
    if ((req.method === 'GET' || req.method === 'HEAD') && path === '/ping') {
      if (this.ready) this.send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      else this.send(res, 503, 'text/plain; charset=utf-8', 'starting\n');
      return;
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && path === '/' && this.mounts.length > 0) {
      // A person who opens the API's address in a browser finds the console from here.
      const href = this.mounts[0]!.prefix;
      this.send(res, 200, 'text/html; charset=utf-8', `<!doctype html><meta charset="utf-8"><title>Pharos</title><p>Pharos: the AWS Cloud Map and ECS API is <code>POST /</code> with <code>X-Amz-Target</code>. <a href="${href}">Open the web console</a>.</p>\n`);
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      this.metricsRegistry.metrics().then(
        (text) => this.send(res, 200, this.metricsRegistry.contentType, text),
        (err: unknown) => {
          this.logger.error({ err }, 'metrics collection failed');
          this.send(res, 500, 'text/plain; charset=utf-8', 'metrics collection failed\n');
        },
      );
      return;
    }
    this.send(res, 404, 'text/plain; charset=utf-8', 'not found: the AWS JSON API is POST / with X-Amz-Target\n');
  }

  /** Answers `err` in the style of whatever the request was for, without reading its body. */
  private refuse(req: IncomingMessage, res: ServerResponse, path: string, err: BoundaryError): void {
    res.setHeader('Connection', 'close');
    const route = this.pathRoutes.find((r) => path.startsWith(r.prefix));
    const code = route ? route.reject(res, err) : this.sendError(res, toWireError(err, this.styleFor(req.headers['x-amz-target'])));
    this.metrics.record(UNKNOWN_LABEL, code, 0);
    req.resume();
  }

  private onPost(req: IncomingMessage, res: ServerResponse): void {
    const declared = Number(req.headers['content-length']);
    if (declared > this.maxBodyBytes) {
      this.rejectTooLarge(req, res, declared);
      return;
    }
    readBody(req, this.maxBodyBytes, (body) => this.dispatch(req, this.replyTo(res), body), () => this.rejectTooLarge(req, res));
  }

  private onPathRequest(route: PathRoute, req: IncomingMessage, res: ServerResponse, path: string, query: string): void {
    const declared = Number(req.headers['content-length']);
    const tooLarge = () => {
      const err = new BoundaryError(REQUEST_TOO_LARGE, `request body exceeds ${this.maxBodyBytes} bytes`);
      if (!(declared <= MAX_DRAIN_BYTES)) res.setHeader('Connection', 'close');
      this.metrics.record(UNKNOWN_LABEL, route.reject(res, err), 0);
      req.resume();
    };
    if (declared > this.maxBodyBytes) {
      tooLarge();
      return;
    }
    // A request without a body (the watch's and Route 53's GETs) is dispatched at once, without
    // stream listeners: thousands of held watches stay as cheap as node's own requests.
    if (!(declared > 0) && req.headers['transfer-encoding'] === undefined) {
      this.dispatchPath(route, req, res, path, query, EMPTY_BODY);
      return;
    }
    readBody(req, this.maxBodyBytes, (body) => this.dispatchPath(route, req, res, path, query, body), tooLarge);
  }

  private dispatchPath(route: PathRoute, req: IncomingMessage, res: ServerResponse, path: string, query: string, body: Buffer): void {
    const started = performance.now();
    let accessKeyId: string | undefined;
    if (this.verifier && !this.altAuth?.accepts(req)) {
      try {
        accessKeyId = this.verifier.verify({ method: req.method ?? 'GET', url: req.url ?? '/', rawHeaders: req.rawHeaders, body }, route.signingName).accessKeyId;
      } catch (err) {
        this.metrics.record(UNKNOWN_LABEL, route.reject(res, err as BoundaryError), (performance.now() - started) / 1000);
        return;
      }
    }
    // Ends when the client disconnects before the answer, or when the server closes.
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const onClosing = () => {
      // A request held open past close() is answered then: its connection must not stay alive after it.
      if (!res.headersSent) res.setHeader('Connection', 'close');
      end();
    };
    this.held.add(onClosing);
    res.on('close', () => {
      this.held.delete(onClosing);
      end();
      if (this.closing) setImmediate(() => this.server.closeIdleConnections());
    });
    const client = accessKeyId !== undefined ? `key:${accessKeyId}` : `addr:${req.socket.remoteAddress ?? ''}`;
    const request: PathRequest = { method: req.method ?? 'GET', path, query: new URLSearchParams(query), headers: req.headers, body, ended, client };
    let outcome: PathOutcome | Promise<PathOutcome>;
    try {
      outcome = route.handle(request, res);
    } catch (err) {
      this.pathFault(res, path, err);
      return;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (o) => this.metrics.record(o.operation, o.code, (performance.now() - started) / 1000),
        (err: unknown) => this.pathFault(res, path, err),
      );
    } else {
      this.metrics.record(outcome.operation, outcome.code, (performance.now() - started) / 1000);
    }
  }

  /** A path route threw instead of answering: routes map their own errors, so this is a bug, logged once. */
  private pathFault(res: ServerResponse, path: string, err: unknown): void {
    this.logger.error({ err, path }, 'API request failed');
    if (!res.headersSent) this.send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
    else res.destroy();
  }

  private rejectTooLarge(req: IncomingMessage, res: ServerResponse, declared?: number): void {
    const style = this.styleFor(req.headers['x-amz-target']);
    if (declared === undefined || declared > MAX_DRAIN_BYTES) res.setHeader('Connection', 'close');
    const err = new BoundaryError(REQUEST_TOO_LARGE, `request body exceeds ${this.maxBodyBytes} bytes`);
    this.sendError(res, toWireError(err, style));
    req.resume();
    this.metrics.record(UNKNOWN_LABEL, REQUEST_TOO_LARGE, 0);
  }

  private replyTo(res: ServerResponse): Reply {
    return { send: (status, contentType, payload, errorType) => this.send(res, status, contentType, payload, errorType) };
  }

  private dispatch(req: ApiRequest, res: Reply, body: Buffer): void {
    const started = performance.now();
    const target = req.headers['x-amz-target'];
    const route = typeof target === 'string' ? this.routes.get(target) : undefined;
    if (this.verifier && !this.altAuth?.accepts(req)) {
      // Before anything else, unknown targets included: an unauthenticated caller learns nothing.
      try {
        this.verifier.verify({ method: req.method ?? 'POST', url: req.url ?? '/', rawHeaders: req.rawHeaders, body }, route?.signingName);
      } catch (err) {
        this.fail(res, route?.operation ?? UNKNOWN_LABEL, started, err, route?.style ?? this.styleFor(target));
        return;
      }
    }
    if (!route) {
      const style = this.styleFor(target);
      const shown = typeof target === 'string' ? JSON.stringify(target) : 'missing';
      this.fail(res, UNKNOWN_LABEL, started, new BoundaryError(UNKNOWN_OPERATION, `unknown operation: X-Amz-Target is ${shown}`), style);
      return;
    }
    let input: unknown;
    try {
      // An operation without input sends `{}`; an empty body is read the same way.
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      this.fail(res, route.operation, started, new BoundaryError(SERIALIZATION_ERROR, 'request body is not valid JSON'), route.style);
      return;
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      this.fail(res, route.operation, started, new BoundaryError(SERIALIZATION_ERROR, 'request body must be a JSON object'), route.style);
      return;
    }
    let result: unknown;
    try {
      result = route.handler(input as Record<string, unknown>);
    } catch (err) {
      this.fail(res, route.operation, started, err, route.style);
      return;
    }
    // Handlers may answer synchronously (DiscoverInstances reads the snapshot): no extra tick then.
    if (result instanceof Promise) {
      result.then(
        (output: unknown) => this.succeed(res, route, started, output),
        (err: unknown) => this.fail(res, route.operation, started, err, route.style),
      );
    } else {
      this.succeed(res, route, started, result);
    }
  }

  private succeed(res: Reply, route: Route, started: number, output: unknown): void {
    let payload: string | Buffer;
    try {
      // An output may carry its own body (registry RAW_JSON_BYTES / RAW_JSON: DiscoverInstances' pre-serialized answer).
      const own = output !== null && typeof output === 'object' ? (output as Record<symbol, unknown>) : undefined;
      const bytes = own?.[RAW_JSON_BYTES];
      const raw = own?.[RAW_JSON];
      payload = Buffer.isBuffer(bytes) ? bytes : typeof raw === 'string' ? raw : JSON.stringify(output ?? {});
    } catch (err) {
      this.fail(res, route.operation, started, err, route.style);
      return;
    }
    res.send(200, JSON_CONTENT_TYPE, payload);
    this.metrics.record(route.operation, OK_LABEL, (performance.now() - started) / 1000);
  }

  private fail(res: Reply, operation: string, started: number, err: unknown, style: ErrorStyle): void {
    const wire = toWireError(err, style);
    const requestId = res.send(wire.status, JSON_CONTENT_TYPE, JSON.stringify(wire.body), wire.code);
    // Client errors are the caller's business; a fault is logged once, here, with its cause.
    if (wire.fault) this.logger.error({ err, operation, requestId }, 'API request failed');
    this.metrics.record(operation, wire.code, (performance.now() - started) / 1000);
  }

  private sendError(res: ServerResponse, wire: { status: number; code: string; body: Record<string, unknown> }): string {
    return this.send(res, wire.status, JSON_CONTENT_TYPE, JSON.stringify(wire.body), wire.code);
  }

  private send(res: ServerResponse, status: number, contentType: string, payload: string | Buffer, errorType?: string): string {
    const requestId = randomUUID();
    const headers: Record<string, string | number> = {
      'Content-Type': contentType,
      'Content-Length': typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length,
      'x-amzn-RequestId': requestId,
    };
    if (errorType !== undefined) headers['x-amzn-ErrorType'] = errorType;
    if (this.closing) headers['Connection'] = 'close';
    res.writeHead(status, headers);
    res.end(payload);
    return requestId;
  }

  /** Errors for an unknown operation still follow the style of the service the prefix names. */
  private styleFor(target: string | string[] | undefined): ErrorStyle {
    if (typeof target !== 'string') return CLOUD_MAP_STYLE;
    const dot = target.lastIndexOf('.');
    return (dot > 0 && this.styles.get(target.slice(0, dot))) || CLOUD_MAP_STYLE;
  }
}

/** What a client past `--http-max-in-flight-per-client` is told (SDKs retry a throttling error). */
function tooManyInFlight(): BoundaryError {
  return new BoundaryError(THROTTLING, 'too many requests in flight from this client address; retry later');
}
