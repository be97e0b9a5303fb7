/**
 * SigV4 against a server started with credentials, through the real clients: SDK v3 (Cloud Map
 * and ECS), the AWS CLI v1 and boto3; raw requests signed here with node:crypto for what clients
 * will not send (no signature, a tampered body, a `data-` Host). And the refusal to listen beyond
 * loopback without credentials.
 */
import { ECS } from '@aws-sdk/client-ecs';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, defaultConfig, main, parseServerArgs, startServer, type MainIo, type ServerConfig } from '../src/cli/index.ts';
import {
  CLI_SERVICE_ERROR,
  CLOUD_MAP_PREFIX,
  haveCommand,
  httpNamespace,
  rawPost,
  register,
  requireOrSkip,
  resolvesToLoopback,
  runChild,
  spawnServer,
  startTestServer,
  tempDir,
  type TestServer,
} from './helpers.ts';

const KEY = { accessKeyId: 'AKIDPHAROSTEST', secretAccessKey: 'sigv4/test+secret' };
const SECOND_KEY = { accessKeyId: 'second', secretAccessKey: 'another-secret' };

/** SDK v3 Cloud Map client with the given credentials; one attempt unless told otherwise. */
function sd(url: string, credentials = KEY, extra: Record<string, unknown> = {}): ServiceDiscovery {
  return new ServiceDiscovery({ endpoint: url, region: 'us-east-1', credentials, disableHostPrefix: true, maxAttempts: 1, ...extra });
}

/** Expects an SDK call to fail with `code` (the error's name) and HTTP `status`; returns the error. */
async function rejectsWithCode(call: Promise<unknown>, code: string, status = 400): Promise<Error> {
  try {
    await call;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    assert.equal(e.name, code, e.message);
    assert.equal(e.$metadata?.httpStatusCode, status);
    return e;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

/** A request signed with node:crypto as the SDKs sign it; `host` is the Host header to sign and send. */
function signedHeaders(o: { host: string; target: string; body: string; amzDate?: string; key?: typeof KEY }): Record<string, string> {
  const key = o.key ?? KEY;
  const amzDate = o.amzDate ?? new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.1',
    host: o.host,
    'x-amz-date': amzDate,
    'x-amz-target': o.target,
  };
  const names = Object.keys(headers).sort();
  const canonical = ['POST', '/', '', ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), createHash('sha256').update(o.body).digest('hex')].join('\n');
  const scope = `${amzDate.slice(0, 8)}/us-east-1/servicediscovery/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const h = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
  const kSigning = h(h(h(h(`AWS4${key.secretAccessKey}`, amzDate.slice(0, 8)), 'us-east-1'), 'servicediscovery'), 'aws4_request');
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${key.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${createHmac('sha256', kSigning).update(toSign).digest('hex')}`,
  };
}

describe('SigV4 with credentials configured', () => {
  let s: TestServer;
  let client: ServiceDiscovery;
  let port = '';
  const DISCOVER = `${CLOUD_MAP_PREFIX}.DiscoverInstances`;
  const DISCOVER_BODY = JSON.stringify({ NamespaceName: 'auth', ServiceName: 'web' });

  before(async () => {
    s = await startTestServer({ credentials: [SECOND_KEY, KEY] });
    port = new URL(s.apiUrl).port;
    client = sd(s.apiUrl);
    const ns = await httpNamespace(client, 'auth');
    const svc = (await client.createService({ Name: 'web', NamespaceId: ns })).Service!.Id!;
    await register(client, svc, 'w1', { AWS_INSTANCE_IPV4: '198.18.0.9' });
  });
  after(async () => {
    client.destroy();
    await s.destroy();
  });

  test('SDK v3 with the right key: Cloud Map calls and DiscoverInstances (disableHostPrefix: true)', async () => {
    const r = await client.discoverInstances({ NamespaceName: 'auth', ServiceName: 'web', HealthStatus: 'ALL' });
    assert.deepEqual(r.Instances?.map((i) => i.InstanceId), ['w1']);
    const second = sd(s.apiUrl, SECOND_KEY);
    assert.equal((await second.listNamespaces({})).Namespaces?.length, 1);
    second.destroy();
  });

  test('SDK v3 with the data- host prefix on: signed over Host data-localhost:<port>, verified as it arrived', async () => {
    const prefixed = sd(`http://localhost:${port}`, KEY, { disableHostPrefix: false });
    const hosts: string[] = [];
    // After signing, before sending: connect to 127.0.0.1 whatever the hosts file says, and keep
    // the signed Host header (data-localhost:<port>) untouched, as a hosts entry would.
    prefixed.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { hostname: string; headers: Record<string, string> };
        hosts.push(req.headers['host'] ?? '');
        req.hostname = '127.0.0.1';
        return next(args);
      },
      { step: 'deserialize', name: 'connectToLoopback' },
    );
    const r = await prefixed.discoverInstances({ NamespaceName: 'auth', ServiceName: 'web', HealthStatus: 'ALL' });
    assert.deepEqual(r.Instances?.map((i) => i.InstanceId), ['w1']);
    assert.deepEqual(hosts, [`data-localhost:${port}`]);
    prefixed.destroy();
  });

  test('raw request signed over Host data-localhost: accepted; the same request with another Host is not', async () => {
    const headers = signedHeaders({ host: `data-localhost:${port}`, target: DISCOVER, body: DISCOVER_BODY });
    const ok = await rawPost(s.apiUrl, undefined, DISCOVER_BODY, headers);
    assert.equal(ok.status, 200, ok.text);
    const moved = await rawPost(s.apiUrl, undefined, DISCOVER_BODY, { ...headers, host: `localhost:${port}` });
    assert.equal(moved.status, 400);
    assert.equal(moved.json?.['__type'], 'InvalidSignatureException');
    assert.match(String(moved.json?.['Message']), /host:localhost:/);
  });

  test('ECS SDK with the right key works; signed for servicediscovery it is refused', async () => {
    const ecs = new ECS({ endpoint: s.apiUrl, region: 'us-east-1', credentials: KEY, maxAttempts: 1 });
    const created = await ecs.createCluster({ clusterName: 'auth' });
    assert.equal(created.cluster?.clusterName, 'auth');
    ecs.destroy();
    const headers = signedHeaders({ host: `127.0.0.1:${port}`, target: 'AmazonEC2ContainerServiceV20141113.ListClusters', body: '{}' });
    const r = await rawPost(s.apiUrl, undefined, '{}', headers);
    assert.equal(r.json?.['__type'], 'InvalidSignatureException');
    assert.match(String(r.json?.['message']), /scoped to correct service: 'ecs'/);
  });

  test('a wrong secret → InvalidSignatureException', async () => {
    const wrong = sd(s.apiUrl, { accessKeyId: KEY.accessKeyId, secretAccessKey: 'not-it' });
    const e = await rejectsWithCode(wrong.listNamespaces({}), 'InvalidSignatureException');
    assert.match(e.message, /^The request signature we calculated does not match the signature you provided/);
    wrong.destroy();
  });

  test('an unknown access key → UnrecognizedClientException', async () => {
    const unknown = sd(s.apiUrl, { accessKeyId: 'AKIDNOBODY', secretAccessKey: KEY.secretAccessKey });
    await rejectsWithCode(unknown.listNamespaces({}), 'UnrecognizedClientException');
    unknown.destroy();
  });

  test('no signature → MissingAuthenticationTokenException (403)', async () => {
    const r = await rawPost(s.apiUrl, DISCOVER, DISCOVER_BODY);
    assert.equal(r.status, 403);
    assert.equal(r.json?.['__type'], 'MissingAuthenticationTokenException');
    assert.equal(r.headers['x-amzn-errortype'], 'MissingAuthenticationTokenException');
  });

  test('a tampered body → InvalidSignatureException', async () => {
    const headers = signedHeaders({ host: `127.0.0.1:${port}`, target: DISCOVER, body: DISCOVER_BODY });
    const r = await rawPost(s.apiUrl, undefined, DISCOVER_BODY.replace('web', 'db'), headers);
    assert.equal(r.status, 400);
    assert.equal(r.json?.['__type'], 'InvalidSignatureException');
  });

  test('an X-Amz-Date 20 minutes old → Signature expired; the SDK then corrects its clock from the Date header', async () => {
    const old = new Date(Date.now() - 20 * 60_000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const raw = await rawPost(s.apiUrl, undefined, DISCOVER_BODY, signedHeaders({ host: `127.0.0.1:${port}`, target: DISCOVER, body: DISCOVER_BODY, amzDate: old }));
    assert.equal(raw.json?.['__type'], 'InvalidSignatureException');
    assert.match(String(raw.json?.['Message']), /^Signature expired: /);

    const skewed = sd(s.apiUrl, KEY, { systemClockOffset: -20 * 60_000 });
    const e = await rejectsWithCode(skewed.listNamespaces({}), 'InvalidSignatureException');
    assert.match(e.message, /^Signature expired/);
    // The SDK took the server's time from the error's Date header: its next request is in time.
    assert.equal((await skewed.listNamespaces({})).Namespaces?.length, 1);
    skewed.destroy();
  });

  describe('AWS CLI', { skip: requireOrSkip(haveCommand('aws'), 'the AWS CLI (aws)') }, () => {
    let home = '';
    before(() => (home = tempDir('pharos-home-')));
    after(() => rmSync(home, { recursive: true, force: true }));
    const env = (key: typeof KEY, disablePrefix = true): Record<string, string> => ({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      AWS_ACCESS_KEY_ID: key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      ...(disablePrefix ? { AWS_DISABLE_HOST_PREFIX_INJECTION: 'true' } : {}),
    });
    const aws = (args: string[], e: Record<string, string>, url = s.apiUrl) => runChild('aws', ['--endpoint-url', url, '--output', 'json', ...args], { env: e });

    test('the right key: list-namespaces, discover-instances, ecs list-clusters', async () => {
      const list = await aws(['servicediscovery', 'list-namespaces'], env(KEY));
      assert.equal(list.code, 0, list.stderr);
      assert.equal((JSON.parse(list.stdout) as { Namespaces: unknown[] }).Namespaces.length, 1);
      const found = await aws(['servicediscovery', 'discover-instances', '--namespace-name', 'auth', '--service-name', 'web', '--health-status', 'ALL'], env(KEY));
      assert.equal(found.code, 0, found.stderr);
      assert.match(found.stdout, /"InstanceId": "w1"/);
      const clusters = await aws(['ecs', 'list-clusters'], env(KEY));
      assert.equal(clusters.code, 0, clusters.stderr);
      assert.match(clusters.stdout, /cluster\/auth/);
    });

    test('discover-instances signed over data-localhost (prefix on, hosts entry)', async (t) => {
      if (!(await resolvesToLoopback('data-localhost'))) {
        t.skip(requireOrSkip(false, "a '127.0.0.1 data-localhost' hosts entry"));
        return;
      }
      const r = await aws(['servicediscovery', 'discover-instances', '--namespace-name', 'auth', '--service-name', 'web', '--health-status', 'ALL'], env(KEY, false), `http://localhost:${port}`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"InstanceId": "w1"/);
    });

    test('a wrong secret and an unknown key are service errors the CLI names', async () => {
      const wrong = await aws(['servicediscovery', 'list-namespaces'], env({ ...KEY, secretAccessKey: 'nope' }));
      assert.ok(CLI_SERVICE_ERROR.includes(wrong.code!), `exit ${wrong.code}: ${wrong.stderr}`);
      assert.match(wrong.stderr, /\(InvalidSignatureException\) when calling the ListNamespaces operation: The request signature we calculated does not match/);
      const unknown = await aws(['servicediscovery', 'list-namespaces'], env({ accessKeyId: 'AKIDNOBODY', secretAccessKey: 'x' }));
      assert.match(unknown.stderr, /\(UnrecognizedClientException\)/);
    });
  });

  const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;
  test('boto3 with the right key discovers; with a wrong one it gets InvalidSignatureException', { skip: requireOrSkip(hasBoto3, 'python3 with boto3') }, async () => {
    const script = `
import json, sys, boto3, botocore.exceptions
from botocore.config import Config
def client(secret):
    return boto3.client('servicediscovery', endpoint_url=sys.argv[1], region_name='us-east-1',
                        aws_access_key_id=sys.argv[2], aws_secret_access_key=secret,
                        config=Config(inject_host_prefix=False, retries={'max_attempts': 1}))
found = client(sys.argv[3]).discover_instances(NamespaceName='auth', ServiceName='web', HealthStatus='ALL')
try:
    client('wrong').list_namespaces()
    code = None
except botocore.exceptions.ClientError as e:
    code = e.response['Error']['Code']
print(json.dumps({'ids': [i['InstanceId'] for i in found['Instances']], 'error': code}))
`;
    const r = await runChild('python3', ['-c', script, s.apiUrl, KEY.accessKeyId, KEY.secretAccessKey]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { ids: ['w1'], error: 'InvalidSignatureException' });
  });
});

describe('listening beyond loopback', () => {
  async function runMain(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const io: MainIo = { stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t) }, env };
    return { code: await main(argv, io), stderr };
  }

  test('without credentials pharos server refuses to start (exit 2) and says how to fix it', async () => {
    for (const addr of ['0.0.0.0:0', '[::]:0', '198.18.0.1:0']) {
      const r = await runMain(['server', '--api-addr', addr]);
      assert.equal(r.code, 2, addr);
      assert.match(r.stderr, /reachable beyond loopback, and no credentials are configured: set --credentials/);
    }
    const fromEnv = await runMain(['server'], { PHAROS_API_ADDR: '0.0.0.0:0' });
    assert.equal(fromEnv.code, 2);
  });

  test('which addresses count as loopback, and what --credentials parses to', () => {
    const parse = (argv: string[], env: Record<string, string> = {}) => (parseServerArgs(argv, env) as { config: ServerConfig }).config;
    for (const host of ['127.0.0.1:0', '127.3.2.1:0', '[::1]:0', 'localhost:0', '[::ffff:127.0.0.1]:0']) {
      assert.deepEqual(parse(['--api-addr', host]).credentials, [], host);
    }
    for (const host of ['0.0.0.0:0', '[::]:0', '198.18.0.1:0', 'example.com:0', '127.0.0.1.nip.io:0', '[::ffff:198.18.0.1]:0']) {
      assert.throws(() => parse(['--api-addr', host]), ConfigError, host);
      assert.equal(parse(['--api-addr', host, '--credentials', 'k:s']).apiAddr.port, 0, host);
    }
    assert.deepEqual(parse([], { PHAROS_CREDENTIALS: 'AKIA1:wJalr/K7+x=, b.c-d_e:s:with:colons' }).credentials, [
      { accessKeyId: 'AKIA1', secretAccessKey: 'wJalr/K7+x=' },
      { accessKeyId: 'b.c-d_e', secretAccessKey: 's:with:colons' },
    ]);
    assert.deepEqual(parse(['--credentials', 'none'], { PHAROS_CREDENTIALS: 'k:s' }).credentials, []);
  });

  test('startServer refuses too, before it opens anything', async () => {
    const dataDir = join(tempDir(), 'never');
    await assert.rejects(startServer(defaultConfig({ apiAddr: { host: '0.0.0.0', port: 0 }, dataDir, store: `sqlite:${join(dataDir, 'p.db')}` })), /beyond loopback/);
    assert.equal(existsSync(dataDir), false);
  });

  test('bad --credentials values exit 2 without echoing the secret', async () => {
    for (const value of ['nocolon', 'key:', ':secret', 'a:x,a:y', 'k:has space']) {
      const r = await runMain(['server', '--credentials', value]);
      assert.equal(r.code, 2, value);
      assert.match(r.stderr, /--credentials: /);
      assert.ok(!r.stderr.includes('has space') && !r.stderr.includes(':x'), r.stderr);
    }
  });

  test('PHAROS_CREDENTIALS applies to a real pharos server process', async () => {
    const dataDir = tempDir();
    const child = await spawnServer(['--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', dataDir], {
      PHAROS_CREDENTIALS: `${SECOND_KEY.accessKeyId}:${SECOND_KEY.secretAccessKey},${KEY.accessKeyId}:${KEY.secretAccessKey}`,
    });
    try {
      assert.equal((await rawPost(child.apiUrl, `${CLOUD_MAP_PREFIX}.ListNamespaces`, '{}')).status, 403);
      const client = sd(child.apiUrl);
      assert.deepEqual((await client.listNamespaces({})).Namespaces, []);
      client.destroy();
      assert.ok(child.logs.some((l) => l.includes('"sigv4":true')), child.logs.join('\n'));
    } finally {
      child.child.kill('SIGTERM');
      await child.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
