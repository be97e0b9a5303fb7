import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../lib/index.ts';
import type { RegistryView } from '../registry/index.ts';
import type { ApiServer, HttpHandler } from './server.ts';
import { type ConsoleSession, type ConsoleSessions } from './session.ts';
import { sameOrigin } from './browserguard.ts';

/**
 * The web console's side of the HTTP server, mounted at `/console/`: its static files (handed in
 * by the CLI), the session endpoints, a server-sent-events stream that says when anything changed,
 * and the instance health details (reason, since when) that the AWS API does not carry. Everything
 * else the console shows it reads through the AWS API, like any client.
 */

export const CONSOLE_PREFIX = '/console/';
/**
 * Changes within this window go out as one event: a deployment or a bulk registration writes
 * hundreds of keys in a burst, and each event makes every open console refetch what it shows.
 * Small against the 1 s a change may take to show.
 */
export const COALESCE_MS = 30;
/** An event (`ping`) at least this often, so a console notices a server that hangs, not only one that closes. */
export const HEARTBEAT_MS = 5_000;
/** Open event streams at most (one per console tab); bounds sockets and memory. */
export const MAX_EVENT_STREAMS = 256;
/** The sign-in body is two short strings. */
const MAX_SIGN_IN_BYTES = 4096;
/** EventSource waits this long before reconnecting after the stream drops. */
const RECONNECT_MS = 1000;

/** What the event stream watches for ECS changes: the store's watch (the orchestrator reads the store directly). */
export interface ChangeFeed {
  revision(): Promise<number>;
  watch(
    prefix: string,
    afterRevision: number,
    onEvents: (events: readonly { key: string; revision: number }[]) => void,
    onError?: (err: Error) => void,
  ): { cancel(): void };
}

export interface ConsoleBackendOptions {
  /** Serves the console's files (index.html, scripts, styles) for paths under `/console/`. */
  assets: HttpHandler;
  /** Cloud Map changes, announced after the view applied them (so a refetch sees them), and health details. */
  registry: RegistryView;
  /** ECS changes: the store, watched under `ecsPrefix`. */
  store: ChangeFeed;
  ecsPrefix: string;
  /** Set when the API requires credentials: the console then needs a session. */
  sessions?: ConsoleSessions;
  logger: Logger;
}

/** Serves `/console/` and feeds open consoles with change events. `start()` before mounting, `close()` before the API closes. */
export class ConsoleBackend {
  private readonly streams = new Set<ServerResponse>();
  private readonly pendingScopes = new Set<string>();
  private revision = 0;
  private flushTimer?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private ecsWatch?: { cancel(): void };
  private closed = false;

  constructor(private readonly options: ConsoleBackendOptions) {}

  /** Subscribes to registry and ECS changes; mounts the console on `api`. */
  async start(api: ApiServer): Promise<void> {
    this.unsubscribe = this.options.registry.onChange((change) => {
      this.note(change.revision, change.kind === 'instance' || change.kind === 'health' ? `svc:${change.serviceId}` : 'ns');
    });
    await this.watchEcs();
    this.heartbeat = setInterval(() => this.broadcast('ping', {}), HEARTBEAT_MS);
    this.heartbeat.unref();
    api.mount(CONSOLE_PREFIX, (req, res) => this.handle(req, res));
    if (this.options.sessions) api.authenticateWith(this.options.sessions);
  }

  /** Ends every event stream (they would otherwise hold the API's close for its grace period) and stops watching. Repeatable. */
  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.ecsWatch?.cancel();
    clearInterval(this.heartbeat);
    clearTimeout(this.flushTimer);
    for (const res of this.streams) res.end();
    this.streams.clear();
  }

  private async watchEcs(): Promise<void> {
    const from = await this.options.store.revision();
    if (this.closed) return;
    this.revision = Math.max(this.revision, from);
    this.ecsWatch = this.options.store.watch(
      this.options.ecsPrefix,
      from,
      (events) => {
        for (const ev of events) this.note(ev.revision, 'ecs');
      },
      (err) => {
        // History compacted under a slow watch: start again from now; consoles refetch once.
        this.options.logger.warn({ err }, 'console: ECS watch restarted');
        this.note(this.revision, 'ecs');
        this.watchEcs().catch((e: unknown) => this.options.logger.error({ err: e }, 'console: ECS watch failed'));
      },
    );
  }

  private note(revision: number, scope: string): void {
    if (revision > this.revision) this.revision = revision;
    this.pendingScopes.add(scope);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      const scopes = [...this.pendingScopes];
      this.pendingScopes.clear();
      this.broadcast('change', { revision: this.revision, scopes });
    }, COALESCE_MS);
  }

  private broadcast(event: string, data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.streams) res.write(frame);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const sub = path.slice(CONSOLE_PREFIX.length);
    try {
      if (sub === 'session') return this.onSession(req, res);
      if (sub === 'events' || sub === 'health') {
        if (req.method !== 'GET') return sendJson(res, 405, { message: `${req.method} is not allowed here` });
        if (this.options.sessions && !this.options.sessions.fromCookie(req.headers.cookie)) {
          return sendJson(res, 401, { message: 'sign in first' });
        }
        return sub === 'events' ? this.onEvents(req, res) : this.onHealth(req, res);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { message: `${req.method} is not allowed here` });
      this.options.assets(req, res);
    } catch (err) {
      this.options.logger.error({ err, path }, 'console request failed');
      if (!res.headersSent) sendJson(res, 500, { message: 'internal error' });
      else res.end();
    }
  }

  /** `GET`: am I signed in (and the CSRF token); `POST {accessKeyId, secretAccessKey}`: sign in; `DELETE`: sign out. */
  private onSession(req: IncomingMessage, res: ServerResponse): void {
    const sessions = this.options.sessions;
    const secure = (req.socket as TLSSocket).encrypted === true;
    if (req.method === 'GET') {
      if (!sessions) return sendJson(res, 200, { authRequired: false, signedIn: true });
      const session = sessions.fromCookie(req.headers.cookie);
      return sendJson(res, 200, describe(session));
    }
    if (!sameOrigin(req.headers)) return sendJson(res, 403, { message: 'cross-origin request refused' });
    if (req.method === 'DELETE') {
      const session = sessions?.fromCookie(req.headers.cookie);
      if (sessions && session) {
        if (!sessions.accepts(req)) return sendJson(res, 403, { message: 'missing or wrong CSRF token' });
        sessions.revoke(session);
      }
      res.setHeader('Set-Cookie', sessions?.clearCookie(secure) ?? []);
      return sendJson(res, 200, { authRequired: sessions !== undefined, signedIn: sessions === undefined });
    }
    if (req.method !== 'POST') return sendJson(res, 405, { message: `${req.method} is not allowed here` });
    if (!sessions) return sendJson(res, 200, { authRequired: false, signedIn: true });
    // A JSON content type cannot be sent cross-site without a CORS preflight, which is never granted.
    if (!String(req.headers['content-type']).startsWith('application/json')) {
      return sendJson(res, 415, { message: 'sign in with a JSON body: {"accessKeyId": ..., "secretAccessKey": ...}' });
    }
    readBody(req, MAX_SIGN_IN_BYTES).then(
      (body) => {
        let input: unknown;
        try {
          input = JSON.parse(body);
        } catch {
          return sendJson(res, 400, { message: 'the body is not JSON' });
        }
        const { accessKeyId, secretAccessKey } = (input ?? {}) as Record<string, unknown>;
        if (typeof accessKeyId !== 'string' || typeof secretAccessKey !== 'string') {
          return sendJson(res, 400, { message: 'accessKeyId and secretAccessKey are required strings' });
        }
        const session = sessions.signIn(accessKeyId, secretAccessKey);
        if (!session) {
          // The key id is not secret and helps whoever reads the log; the secret never goes there.
          this.options.logger.warn({ accessKeyId: accessKeyId.slice(0, 128) }, 'console sign-in refused');
          return sendJson(res, 401, { message: 'Unknown access key id, or a wrong secret access key.' });
        }
        this.options.logger.info({ accessKeyId }, 'console sign-in');
        res.setHeader('Set-Cookie', sessions.cookie(session, secure));
        sendJson(res, 200, describe(session));
      },
      () => sendJson(res, 413, { message: `the body exceeds ${MAX_SIGN_IN_BYTES} bytes` }),
    );
  }

  private onEvents(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= MAX_EVENT_STREAMS) return sendJson(res, 503, { message: 'too many open consoles' });
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    res.write(`retry: ${RECONNECT_MS}\nevent: hello\ndata: ${JSON.stringify({ revision: this.revision, heartbeatMs: HEARTBEAT_MS })}\n\n`);
    this.streams.add(res);
    const drop = () => this.streams.delete(res);
    req.on('close', drop);
    res.on('error', drop);
  }

  /** `GET /console/health?serviceId=…`: each instance's status with its reason and when it last changed. */
  private onHealth(req: IncomingMessage, res: ServerResponse): void {
    const serviceId = new URL(req.url ?? '/', 'http://console').searchParams.get('serviceId') ?? '';
    const view = this.options.registry;
    if (!view.service(serviceId)) return sendJson(res, 404, { message: `no service ${JSON.stringify(serviceId.slice(0, 64))}` });
    const instances: Record<string, { status: string; reason?: string; since?: number; pending?: string }> = {};
    for (const id of view.instances(serviceId).keys()) {
      const rec = view.healthRecord(serviceId, id);
      instances[id] = { status: view.health(serviceId, id), reason: rec?.reason, since: rec?.updatedAt, pending: rec?.pending?.status };
    }
    sendJson(res, 200, { serviceId, instances });
  }
}

function describe(session: ConsoleSession | undefined): Record<string, unknown> {
  if (!session) return { authRequired: true, signedIn: false };
  return { authRequired: true, signedIn: true, accessKeyId: session.accessKeyId, expiresAt: session.expiresAt, csrf: session.csrf };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.destroy();
        reject(new Error('too large'));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
