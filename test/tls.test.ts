/**
 * The API over HTTPS (--tls-cert/--tls-key) with a private CA, as each client is told to trust it:
 * SDK v3 (an https.Agent with the CA), the AWS CLI v1 (--ca-bundle) and boto3 (verify=). The
 * certificate is replaced on disk and SIGHUP makes new connections get it; a client that does not
 * trust the CA is refused; plain HTTP on the port gets nothing.
 */
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { DUMMY_CREDENTIALS, haveCommand, rawRequest, requireOrSkip, runChild, spawnServer, tempDir, type ChildServer } from './helpers.ts';

const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;

const run = (command: string, args: string[], env: Record<string, string> = {}) => runChild(command, args, { env: { ...process.env, ...env } });

/** The subject CN of the certificate a new TLS connection gets. */
function peerCn(url: string, ca: Buffer): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), ca, servername: undefined }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.end();
      resolve(String(cn));
    });
    s.on('error', reject);
  });
}

describe('TLS', { skip: requireOrSkip(haveCommand('openssl'), 'openssl') }, () => {
  let dir = '';
  let server: ChildServer;
  let ca: Buffer;
  before(async () => {
    dir = tempDir('pharos-tls-');
    signServerCert(dir, 'pharos-one');
    ca = readCa(dir);
    server = await spawnServer(['--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--tls-cert', join(dir, 'server.pem'), '--tls-key', join(dir, 'server.key')]);
  });
  after(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  test('the API is served over HTTPS; SDK v3 works with the CA in its agent, and fails without it', async () => {
    assert.match(server.apiUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const sd = new ServiceDiscovery({ endpoint: server.apiUrl, region: 'us-east-1', credentials: DUMMY_CREDENTIALS, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca }) } });
    const { OperationId } = await sd.createHttpNamespace({ Name: 'tls-sdk' });
    assert.ok(OperationId);
    sd.destroy();
    const untrusting = new ServiceDiscovery({ endpoint: server.apiUrl, region: 'us-east-1', credentials: DUMMY_CREDENTIALS, maxAttempts: 1 });
    await assert.rejects(untrusting.listNamespaces({}), /self.signed|unable to verify|certificate/i);
    untrusting.destroy();
    // Plain HTTP on the HTTPS port: no HTTP answer.
    await assert.rejects(rawRequest(server.apiUrl.replace('https:', 'http:'), 'GET', '/ping'));
  });

  test('AWS CLI with --ca-bundle (and AWS_CA_BUNDLE)', { skip: requireOrSkip(haveCommand('aws'), 'the AWS CLI (aws)') }, async () => {
    const env = { AWS_ACCESS_KEY_ID: 'pharos', AWS_SECRET_ACCESS_KEY: 'pharos', AWS_DEFAULT_REGION: 'us-east-1', HOME: dir };
    const r = await run('aws', ['--endpoint-url', server.apiUrl, '--ca-bundle', join(dir, 'ca.pem'), 'servicediscovery', 'create-http-namespace', '--name', 'tls-cli'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /OperationId/);
    const viaEnv = await run('aws', ['--endpoint-url', server.apiUrl, 'servicediscovery', 'list-namespaces'], { ...env, AWS_CA_BUNDLE: join(dir, 'ca.pem') });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const untrusted = await run('aws', ['--endpoint-url', server.apiUrl, 'servicediscovery', 'list-namespaces'], env);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /SSL|certificate/i);
  });

  test('boto3 with verify=<CA file>', { skip: requireOrSkip(hasBoto3, 'python3 with boto3') }, async () => {
    const script = [
      'import sys, boto3',
      "sd = boto3.client('servicediscovery', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='pharos', aws_secret_access_key='pharos', verify=sys.argv[2])",
      "print(sd.create_http_namespace(Name='tls-boto')['OperationId'])",
    ].join('\n');
    const r = await run('python3', ['-c', script, server.apiUrl, join(dir, 'ca.pem')]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.trim().length > 0);
  });

  test('SIGHUP reloads the certificate and key for new connections', async () => {
    assert.equal(await peerCn(server.apiUrl, ca), 'pharos-one');
    signServerCert(dir, 'pharos-two');
    server.child.kill('SIGHUP');
    await eventually(async () => (await peerCn(server.apiUrl, ca)) === 'pharos-two', { message: 'the new certificate was not served after SIGHUP' });
    // The log line travels through the child's stderr, which may arrive after the new certificate is served.
    await eventually(async () => server.logs.some((l) => l.includes('TLS certificate reloaded')), { message: 'the reload was not logged' });
  });
});

/** Writes ca.pem once (kept across calls) and a fresh server.pem/server.key for 127.0.0.1 named `cn`. */
function signServerCert(dir: string, cn: string): void {
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  if (!haveFile(join(dir, 'ca.pem'))) {
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=pharos test CA']);
  }
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key.new', '-out', 'server.csr', '-subj', `/CN=${cn}`]);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem.new', '-days', '1', '-extfile', 'san.ext']);
  // Key first, then certificate: a reload between the two renames would pair a new key with the old certificate and be refused (and logged), never served.
  execFileSync('mv', ['server.key.new', 'server.key'], { cwd: dir });
  execFileSync('mv', ['server.pem.new', 'server.pem'], { cwd: dir });
}

function haveFile(file: string): boolean {
  return existsSync(file);
}

function readCa(dir: string): Buffer {
  return readFileSync(join(dir, 'ca.pem'));
}
