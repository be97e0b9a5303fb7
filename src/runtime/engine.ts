import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import Docker from 'dockerode';
import { BadRuntimeConfigError, EngineUnavailableError, ImagePullFailedError } from './errors.ts';

/**
 * The Docker Engine API, as Podman (`podman system service`) and Docker Engine serve it, through
 * dockerode. This file knows the wire (endpoints, multiplexed streams, error shapes); container.ts
 * knows tasks.
 */

/** Sockets tried, in order, when neither `--container-engine` nor DOCKER_HOST names one. */
export const DEFAULT_ENGINE_SOCKETS: readonly string[] = ['/run/podman/podman.sock', '/var/run/docker.sock'];
/** Connecting to the endpoint takes at most this long; an engine slower to answer /version is logged as slow. */
const ENGINE_PROBE_TIMEOUT_MS = 2000;
/**
 * An endpoint that accepted the connection gets this long to answer /version before it is taken as
 * absent: an engine answers in milliseconds when warm, but Podman's first request after a start
 * (storage initialisation) can take seconds on a loaded host, and giving up early would silently
 * run images as host processes.
 */
const ENGINE_SLOW_TIMEOUT_MS = 30_000;

/** Where the engine listens: a unix socket, or host and port (tcp:// or http://). */
export type EngineEndpoint = { socketPath: string } | { host: string; port: number };

/**
 * The engine endpoint: `url` (`--container-engine`), else DOCKER_HOST, else the first of
 * DEFAULT_ENGINE_SOCKETS that exists. Undefined when none is configured or present.
 */
export function resolveEngineEndpoint(url: string | undefined, env: NodeJS.ProcessEnv = process.env): EngineEndpoint | undefined {
  const given = url || env['DOCKER_HOST'];
  if (given) return parseEngineUrl(given);
  const socketPath = DEFAULT_ENGINE_SOCKETS.find((p) => existsSync(p));
  return socketPath === undefined ? undefined : { socketPath };
}

/** `unix:///run/podman/podman.sock`, `/path/to.sock`, `tcp://127.0.0.1:2375`, `http://host:port`. */
export function parseEngineUrl(url: string): EngineEndpoint {
  if (url.startsWith('/')) return { socketPath: url };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BadRuntimeConfigError(`container engine "${url}" is not a URL (unix:///path/to.sock or tcp://host:port)`);
  }
  if (u.protocol === 'unix:') {
    if (u.pathname === '' || u.pathname === '/') throw new BadRuntimeConfigError(`container engine "${url}" has no socket path`);
    return { socketPath: decodeURIComponent(u.pathname) };
  }
  if (u.protocol === 'tcp:' || u.protocol === 'http:') {
    const port = Number(u.port || 2375);
    // Port 0 would mean "any port" to a listener; a client cannot reach it.
    if (u.hostname === '' || !Number.isInteger(port) || port < 1) throw new BadRuntimeConfigError(`container engine "${url}" needs host:port with a port from 1 to 65535`);
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
  }
  throw new BadRuntimeConfigError(`container engine "${url}": scheme ${u.protocol} is not supported (unix:// or tcp://; TLS engines are not supported)`);
}

export function describeEndpoint(e: EngineEndpoint): string {
  return 'socketPath' in e ? `unix://${e.socketPath}` : `tcp://${e.host}:${e.port}`;
}

/** What answered on the endpoint. */
export interface EngineInfo {
  /** `podman` or `docker` (from /version's components). */
  kind: 'podman' | 'docker';
  version: string;
  apiVersion: string;
}

/** A local image: its id and, when it came from a registry, its repository digest. */
export interface ImageInfo {
  id: string;
  /** `sha256:…` of the manifest when the engine knows one (pulled images), else the image id. */
  digest: string;
}

/** A connection to one engine. */
export class Engine {
  readonly docker: Docker;
  readonly endpoint: EngineEndpoint;

  constructor(endpoint: EngineEndpoint) {
    this.endpoint = endpoint;
    this.docker = new Docker('socketPath' in endpoint ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port, protocol: 'http' });
  }

  /**
   * /version within `timeoutMs`; rejects with EngineUnavailableError when nothing answers. An
   * endpoint where nothing listens (no socket file, connection refused) fails at once; one that
   * accepts the connection is an engine, maybe slow (Podman's first request initialises its
   * storage, seconds on a loaded host): after ENGINE_PROBE_TIMEOUT_MS `onSlow` is told, and the
   * answer is awaited up to `timeoutMs`.
   */
  async probe(timeoutMs = ENGINE_SLOW_TIMEOUT_MS, onSlow?: (waitedMs: number) => void): Promise<EngineInfo> {
    let timer: NodeJS.Timeout | undefined;
    let slow: NodeJS.Timeout | undefined;
    try {
      await reachable(this.endpoint, Math.min(timeoutMs, ENGINE_PROBE_TIMEOUT_MS));
      if (onSlow) slow = setTimeout(() => onSlow(ENGINE_PROBE_TIMEOUT_MS), ENGINE_PROBE_TIMEOUT_MS);
      const v = await Promise.race([
        this.docker.version(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`it accepted the connection but did not answer /version in ${timeoutMs} ms`)), timeoutMs))),
      ]);
      const podman = (v.Components ?? []).some((c) => /podman/i.test(c.Name));
      return { kind: podman ? 'podman' : 'docker', version: v.Version, apiVersion: v.ApiVersion };
    } catch (err) {
      throw new EngineUnavailableError(describeEndpoint(this.endpoint), errorText(err), err);
    } finally {
      clearTimeout(timer);
      clearTimeout(slow);
    }
  }

  /**
   * The image, pulled first when it is not present locally. A failed pull rejects with
   * ImagePullFailedError (`CannotPullContainerError: …`, ECS's stop reason).
   */
  async ensureImage(image: string, signal?: AbortSignal): Promise<ImageInfo> {
    const local = await this.inspectImage(image);
    if (local) return local;
    try {
      const stream = await this.docker.pull(image, { abortSignal: signal });
      await new Promise<void>((resolve, reject) =>
        this.docker.modem.followProgress(stream, (err: Error | null, events: { error?: string; errorDetail?: { message?: string } }[]) => {
          // Pull errors often arrive in the progress stream with a 200 status.
          const failed = err ?? events.find((e) => e.error !== undefined || e.errorDetail !== undefined);
          if (failed) reject(failed instanceof Error ? failed : new Error(failed.errorDetail?.message ?? failed.error));
          else resolve();
        }),
      );
    } catch (err) {
      throw new ImagePullFailedError(image, errorText(err), err);
    }
    const pulled = await this.inspectImage(image);
    if (!pulled) throw new ImagePullFailedError(image, 'the engine reported success but the image is not there');
    return pulled;
  }

  /**
   * `docker import`: makes image `ref` from a tar of a root filesystem (`POST /images/create?fromSrc=-`),
   * `changes` being Dockerfile lines (`CMD [...]`, `ENV K=V`). No registry involved.
   */
  async importImage(tar: Readable | string, ref: string, changes: readonly string[] = []): Promise<void> {
    const slash = ref.lastIndexOf('/');
    const colon = ref.lastIndexOf(':');
    const [repo, tag] = colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
    const stream = (await this.docker.importImage(tar as never, { repo, tag, changes: [...changes] } as never)) as unknown as NodeJS.ReadableStream;
    const events = await new Promise<ImportEvent[]>((resolve, reject) =>
      this.docker.modem.followProgress(stream, (err: Error | null, out: ImportEvent[]) => (err ? reject(err) : resolve(out ?? []))),
    );
    const failed = events.find((e) => e.error !== undefined);
    if (failed) throw new Error(failed.error);
    // Podman 4.3's compat import leaves the image unnamed (it ignores repo and tag): name it by the id it reports.
    const id = events.map((e) => e.Id ?? e.id ?? e.status).find((x) => typeof x === 'string' && /^(sha256:)?[0-9a-f]{64}$/.test(x));
    if (!(await this.inspectImage(ref)) && id !== undefined) await this.docker.getImage(id).tag({ repo, tag });
    if (!(await this.inspectImage(ref))) throw new Error('the engine reported success but the image is not there');
  }

  async inspectImage(image: string): Promise<ImageInfo | undefined> {
    try {
      const info = await this.docker.getImage(image).inspect();
      const repoDigest = (info.RepoDigests ?? []).map((d) => d.slice(d.indexOf('@') + 1)).find((d) => d.startsWith('sha256:'));
      return { id: info.Id, digest: repoDigest ?? info.Id };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }
}

/**
 * Resolves when a connection to the endpoint opens (then closes it); rejects at once when nothing
 * listens (no socket file: `ENOENT`, `ECONNREFUSED`), or after `timeoutMs`.
 */
function reachable(endpoint: EngineEndpoint, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = 'socketPath' in endpoint ? connect({ path: endpoint.socketPath }) : connect({ host: endpoint.host, port: endpoint.port });
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(why));
    };
    socket.setTimeout(timeoutMs, () => fail(`no connection in ${timeoutMs} ms`));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      fail(err.code === 'ENOENT' ? 'no socket there' : err.code === 'ECONNREFUSED' ? 'nothing listens there (connection refused)' : err.message),
    );
  });
}

/** HTTP status of a dockerode error (undefined for transport errors). */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown })?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The engine's own message (`json.message`) rather than dockerode's "(HTTP code 404) …" wrapper. */
export function errorText(err: unknown): string {
  const e = err as { json?: { message?: unknown; cause?: unknown }; reason?: unknown; message?: unknown };
  const m = e?.json?.message ?? e?.json?.cause;
  if (typeof m === 'string' && m !== '') return m.trim();
  if (Buffer.isBuffer(e?.json)) return (e.json as Buffer).toString().trim();
  return String(e?.message ?? err).trim();
}

/**
 * Splits a multiplexed stdout/stderr stream (Docker's 8-byte frame header; what logs and exec
 * send when the container has no TTY) into two streams.
 */
export function demux(docker: Docker, stream: Readable | Duplex): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(stream, stdout, stderr);
  const end = () => {
    stdout.end();
    stderr.end();
  };
  stream.once('end', end);
  stream.once('close', end);
  stream.once('error', end);
  return { stdout, stderr };
}

/** A stopped container that `remove` cannot delete is retried this many times (the engine may still be tearing it down). */
const REMOVE_ATTEMPTS = 3;

/** One line of an import's progress stream (Docker and Podman name the image id differently). */
interface ImportEvent {
  status?: string;
  id?: string;
  Id?: string;
  error?: string;
}

/** Sends `signal` to a container; one that is not running any more (409) or gone (404) is what a kill wanted anyway. */
export async function killContainer(handle: Docker.Container, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  try {
    await handle.kill({ signal });
  } catch {
    // not running any more, or gone
  }
}

/** `rm -f -v`, retried while the engine is still tearing the container down; a container already gone is fine. */
export async function removeContainer(handle: Docker.Container): Promise<void> {
  for (let i = 0; i < REMOVE_ATTEMPTS; i++) {
    try {
      await handle.remove({ force: true, v: true });
      return;
    } catch (err) {
      if (statusOf(err) === 404) return;
      if (i === REMOVE_ATTEMPTS - 1) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * (i + 1)));
    }
  }
}
