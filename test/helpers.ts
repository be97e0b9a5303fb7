/**
 * Shared pieces of the whole-system tests: a server on free ports with a temporary data dir
 * (in-process or as a real `bin/pharos.js` child), an SDK v3 client pointed at it, raw HTTP, and
 * waiting for asynchronous operations.
 */
import { ECS, type Task } from '@aws-sdk/client-ecs';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { lookup, type Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defaultConfig, startServer, type RunningServer, type ServerConfig } from '../src/cli/index.ts';
import { eventually, silentLogger } from '../src/lib/index.ts';
import type { Runtime } from '../src/runtime/index.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLOUD_MAP_PREFIX = 'Route53AutoNaming_v20170314';
export const DUMMY_CREDENTIALS = { accessKeyId: 'pharos', secretAccessKey: 'pharos' };

export function tempDir(prefix = 'pharos-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** An SDK v3 client the way the README says: endpoint, dummy credentials, no `data-` host prefix. */
export function sdClient(endpoint: string): ServiceDiscovery {
  // One attempt: a 5xx must fail the test, not be retried into a pass.
  return new ServiceDiscovery({ endpoint, region: 'us-east-1', credentials: DUMMY_CREDENTIALS, disableHostPrefix: true, maxAttempts: 1 });
}

/** An ECS SDK v3 client of the test server (one attempt, as `sdClient`). */
export function ecsClient(endpoint: string): ECS {
  return new ECS({ endpoint, region: 'us-east-1', credentials: DUMMY_CREDENTIALS, maxAttempts: 1 });
}

export interface TestServer extends RunningServer {
  dataDir: string;
  config: ServerConfig;
  sd: ServiceDiscovery;
  /** Closes the server and deletes its data dir. */
  destroy(): Promise<void>;
}

/** A test server's config: free loopback ports, an SQLite store in `dataDir`, no log output. */
export function testConfig(dataDir: string, overrides: Partial<ServerConfig> = {}): ServerConfig {
  return defaultConfig({
    apiAddr: { host: '127.0.0.1', port: 0 },
    dnsAddr: { host: '127.0.0.1', port: 0 },
    dataDir,
    store: `sqlite:${join(dataDir, 'pharos.db')}`,
    logLevel: 'silent',
    ...overrides,
  });
}

/** Starts `pharos server` in this process on free ports over `dataDir` (a new temp dir by default), with `runtime` for ECS tasks if given. */
export async function startTestServer(overrides: Partial<ServerConfig> = {}, dataDir = tempDir(), runtime?: Runtime): Promise<TestServer> {
  const config = testConfig(dataDir, overrides);
  const server = await startServer(config, { logger: silentLogger(), ...(runtime ? { runtime } : {}) });
  const sd = sdClient(server.apiUrl);
  return {
    ...server,
    dataDir,
    config,
    sd,
    destroy: async () => {
      sd.destroy();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls GetOperation until SUCCESS; a FAIL is an error. Returns the final operation. */
export async function waitOp(sd: ServiceDiscovery, operationId: string | undefined, timeoutMs = 5000) {
  if (!operationId) throw new Error('no OperationId');
  return eventually(
    async () => {
      const { Operation } = await sd.getOperation({ OperationId: operationId });
      if (Operation?.Status === 'FAIL') throw new Error(`operation ${operationId} failed: ${Operation.ErrorCode} ${Operation.ErrorMessage}`);
      return Operation?.Status === 'SUCCESS' ? Operation : undefined;
    },
    { timeoutMs, intervalMs: 20, message: `operation ${operationId} did not succeed` },
  );
}

/** Creates an HTTP namespace and waits for it; returns its id. */
export async function httpNamespace(sd: ServiceDiscovery, name: string): Promise<string> {
  const { OperationId } = await sd.createHttpNamespace({ Name: name });
  const op = await waitOp(sd, OperationId);
  return op.Targets!['NAMESPACE']!;
}

/** Creates a private DNS namespace and waits for it; returns its id. */
export async function privateNamespace(sd: ServiceDiscovery, name: string, vpc = 'vpc-1234'): Promise<string> {
  const { OperationId } = await sd.createPrivateDnsNamespace({ Name: name, Vpc: vpc });
  const op = await waitOp(sd, OperationId);
  return op.Targets!['NAMESPACE']!;
}

/** Registers an instance and waits for the operation. */
export async function register(sd: ServiceDiscovery, serviceId: string, instanceId: string, attributes: Record<string, string>): Promise<void> {
  const { OperationId } = await sd.registerInstance({ ServiceId: serviceId, InstanceId: instanceId, Attributes: attributes });
  await waitOp(sd, OperationId);
}

/** Runs `fn`, expects it to throw a modeled error named `name`, returns the error for member checks. */
export async function rejectsWith(fn: () => Promise<unknown>, name: string): Promise<Record<string, unknown> & Error> {
  try {
    await fn();
  } catch (err) {
    const e = err as Error & Record<string, unknown>;
    if (e.name !== name) throw new Error(`expected ${name}, got ${e.name}: ${e.message}`, { cause: err });
    const meta = e['$metadata'] as { httpStatusCode?: number } | undefined;
    if (meta?.httpStatusCode !== 400) throw new Error(`expected HTTP 400 for ${name}, got ${meta?.httpStatusCode}`);
    return e;
  }
  throw new Error(`expected ${name}, but the call succeeded`);
}

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json?: Record<string, unknown>;
}

/** A raw AWS JSON 1.1 POST, for what SDKs cannot send (unknown targets, bad JSON, odd Host headers). */
export function rawPost(url: string, target: string | undefined, body: string, headers: Record<string, string> = {}): Promise<RawReply> {
  return rawRequest(url, 'POST', '/', body, {
    'Content-Type': 'application/x-amz-json-1.1',
    ...(target === undefined ? {} : { 'X-Amz-Target': target }),
    ...headers,
  });
}

export function rawRequest(url: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface ChildServer {
  child: ChildProcess;
  apiUrl: string;
  /** stderr lines seen so far (JSON log lines). */
  logs: string[];
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/** Starts `node bin/pharos.js server <args>` and resolves once it logs its listening address. */
export function spawnServer(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<ChildServer> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/pharos.js'), 'server', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in ${timeoutMs} ms:\n${logs.join('\n')}`));
    }, timeoutMs);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      logs.push(line);
      try {
        const rec = JSON.parse(line) as { apiUrl?: string };
        if (rec.apiUrl) {
          clearTimeout(timer);
          resolve({ child, apiUrl: rec.apiUrl, logs, exited });
        }
      } catch {
        // not a log line (e.g. a Node warning)
      }
    });
    child.stdout!.resume();
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${logs.join('\n')}`));
    });
  });
}

/** What a child process run to its end printed, and how it ended. */
export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunChildOptions {
  /** The child's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  timeoutMs?: number;
  /** Aborting it kills the child and rejects with an AbortError. */
  signal?: AbortSignal;
}

/** A child that ran past its timeout (and was killed), with what it printed until then. */
export class ChildTimeoutError extends Error {
  constructor(
    command: string,
    timeoutMs: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${command} did not end in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
}

/** Longer than any CLI call or script a test runs; a hung child then fails its test with its output instead of hanging the suite. */
export const CHILD_TIMEOUT_MS = 120_000;

/**
 * Runs `command args` to its end, asynchronously: the server under test often runs in this
 * process, and a blocking spawnSync would starve it. Resolves on 'close', not 'exit': a child can
 * exit before its stdout has been read to the end. Past `timeoutMs` the child is killed and the
 * promise rejects with its output so far.
 */
export function runChild(command: string, args: string[], options: RunChildOptions = {}): Promise<ChildRun> {
  const { env = process.env, cwd, input, timeoutMs = CHILD_TIMEOUT_MS, signal } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, signal, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ChildTimeoutError(command, timeoutMs, stdout, stderr));
    }, timeoutMs);
    child.on('error', (err) => (clearTimeout(timer), reject(err)));
    child.on('close', (code, signal) => (clearTimeout(timer), resolve({ code, signal, stdout, stderr })));
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Whether a command is on PATH. */
export function haveCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * For tests that need a system component: returns a skip reason when it is missing, and throws
 * instead when CI=true (CI must have everything).
 */
export function requireOrSkip(ok: boolean, what: string): string | undefined {
  if (ok) return undefined;
  if (process.env.CI === 'true') throw new Error(`${what} is required in CI`);
  return `${what} is not installed`;
}

/** Whether `name` resolves to a loopback address (e.g. `data-localhost` through a hosts entry). */
export async function resolvesToLoopback(name: string): Promise<boolean> {
  try {
    return (await lookup(name, { family: 4 })).address.startsWith('127.');
  } catch {
    return false;
  }
}

/**
 * The endpoint to give the AWS CLI: `http://localhost:<port>` when `data-localhost` resolves (so
 * even CLI v2 2.9, which cannot turn the `data-` prefix off, reaches DiscoverInstances), else the
 * server's own URL (CLI v1 and new v2 with AWS_DISABLE_HOST_PREFIX_INJECTION=true).
 */
export async function cliEndpoint(apiUrl: string): Promise<string> {
  return (await resolvesToLoopback('data-localhost')) ? `http://localhost:${new URL(apiUrl).port}` : apiUrl;
}

/** Exit codes of a service error: 255 from CLI v1, 254 from CLI v2. */
export const CLI_SERVICE_ERROR = [254, 255];

/** A `pharos agent` child process, once registered. */
export interface Agent {
  child: ChildProcess;
  arn: string;
  exited: Promise<number | string>;
  stderr: string[];
}

/** Starts `node bin/pharos.js agent <args>`; resolves once it printed its container instance ARN. */
export function spawnAgent(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<Agent> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/pharos.js'), 'agent', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agent did not start:\n${stderr.join('\n')}`));
    }, timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /container instance (arn:\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ child, arn: m[1]!, exited, stderr });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`agent exited (${code}):\n${stderr.join('\n')}`), { code }));
    });
  });
}

/** The sorted IPv4 answers for `name`; none while it has no address (NXDOMAIN or NODATA). */
export async function resolveA(resolver: Resolver, name: string): Promise<string[]> {
  try {
    return (await resolver.resolve4(name)).sort();
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOTFOUND' || (err as { code?: string }).code === 'ENODATA') return [];
    throw err;
  }
}

/** The tasks of an ECS service whose lastStatus is RUNNING. */
export async function runningTasks(ecs: ECS, cluster: string, serviceName: string): Promise<Task[]> {
  const { taskArns } = await ecs.listTasks({ cluster, serviceName });
  if (!taskArns?.length) return [];
  const { tasks } = await ecs.describeTasks({ cluster, tasks: taskArns });
  return (tasks ?? []).filter((t) => t.lastStatus === 'RUNNING');
}

/** An awsvpc task's address, as DescribeTasks shows it. */
export const taskIpOf = (t: Task): string | undefined => t.containers?.[0]?.networkInterfaces?.[0]?.privateIpv4Address;

/**
 * Waits until `count` tasks of the service are RUNNING (each passing `accept`, when given) and
 * `answers()` (DNS, or DiscoverInstances) is exactly their addresses. Returns the tasks and the
 * sorted addresses.
 */
export async function waitRunningInDns(o: {
  ecs: ECS;
  cluster: string;
  serviceName: string;
  count: number;
  answers: () => Promise<string[]>;
  accept?: (t: Task) => boolean;
  timeoutMs?: number;
  message: string;
}): Promise<{ tasks: Task[]; ips: string[] }> {
  return eventually(
    async () => {
      const tasks = await runningTasks(o.ecs, o.cluster, o.serviceName);
      if (tasks.length !== o.count || (o.accept && !tasks.every(o.accept))) return undefined;
      const ips = tasks.map(taskIpOf).sort() as string[];
      return JSON.stringify(await o.answers()) === JSON.stringify(ips) ? { tasks, ips } : undefined;
    },
    { timeoutMs: o.timeoutMs ?? 20_000, message: o.message },
  );
}

/**
 * Clients that respect the record TTL while a service changes under them: resolve, keep the
 * answer for `ttlSeconds`, send `request` to a random address, again and again until `stop()`.
 * Every failed request and every empty answer is a failure.
 */
export function ttlLoad(answers: () => Promise<string[]>, ttlSeconds: number, request: (ip: string) => Promise<unknown>): { stop(): Promise<{ requests: number; failures: string[] }> } {
  let loading = true;
  let requests = 0;
  const failures: string[] = [];
  const load = (async () => {
    let cache = { ips: [] as string[], until: 0 };
    while (loading) {
      if (Date.now() >= cache.until || cache.ips.length === 0) cache = { ips: await answers(), until: Date.now() + ttlSeconds * 1000 };
      const ip = cache.ips[Math.floor(Math.random() * cache.ips.length)];
      requests++;
      if (!ip) {
        failures.push('empty answer');
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      await request(ip).catch((err: Error) => failures.push(`${ip}: ${err.message}`));
    }
  })();
  return {
    async stop() {
      loading = false;
      await load;
      return { requests, failures };
    },
  };
}
