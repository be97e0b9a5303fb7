/**
 * etcd security, each on a real one-member etcd: TLS (`etcds://` with --etcd-ca/--etcd-cert/
 * --etcd-key against `etcd --client-cert-auth`, certificates made with openssl in a temp dir) and
 * etcd's user auth (PHAROS_ETCD_USERNAME / PHAROS_ETCD_PASSWORD against `etcdctl auth enable`).
 * A server on each answers the API and DNS; the wrong or missing credentials are refused at start.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as dnsPromises } from 'node:dns';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, isPharosError } from '../src/lib/index.ts';
import { openStore, STORE_OPEN_FAILED } from '../src/store/index.ts';
import { EtcdTestCluster, etcdSkip } from '../src/store/testkit.ts';
import { haveCommand, privateNamespace, startTestServer, tempDir, waitOp } from './helpers.ts';

const skip = etcdSkip() || (haveCommand('openssl') ? false : 'openssl is not installed');
if (skip === 'openssl is not installed' && process.env['CI'] === 'true') throw new Error('CI=true but openssl is not installed');

/** A registration through `server` is discovered and answered by its DNS: the store works end to end. */
async function roundTrip(server: Awaited<ReturnType<typeof startTestServer>>, name: string): Promise<void> {
  const nsId = await privateNamespace(server.sd, `${name}.test`);
  const { Service } = await server.sd.createService({ Name: 'web', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }] } });
  await waitOp(server.sd, (await server.sd.registerInstance({ ServiceId: Service!.Id!, InstanceId: 'i-1', Attributes: { AWS_INSTANCE_IPV4: '198.18.100.7' } })).OperationId);
  const found = await server.sd.discoverInstances({ NamespaceName: `${name}.test`, ServiceName: 'web' });
  assert.deepEqual(found.Instances?.map((i) => i.InstanceId), ['i-1']);
  const r = new dnsPromises.Resolver({ timeout: 1000, tries: 1 });
  r.setServers([server.dnsAddress!]);
  assert.deepEqual(await eventually(() => r.resolve4(`web.${name}.test`).catch(() => undefined), { message: 'DNS answers' }), ['198.18.100.7']);
  const cluster = (await (await fetch(`${server.apiUrl}/cluster`)).json()) as { store: string; leader?: { id: string }; self: string };
  assert.equal(cluster.store, 'etcd');
  await eventually(async () => ((await (await fetch(`${server.apiUrl}/cluster`)).json()) as { leader?: { id: string } }).leader?.id === cluster.self, { message: 'it leads (leases work)' });
}

const refusedAtOpen = (err: unknown) => isPharosError(err, STORE_OPEN_FAILED);

describe('etcd over TLS with client certificates', { skip }, () => {
  const dir = tempDir('pharos-i10-etcd-tls-');
  let etcd: EtcdTestCluster;
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const sign = (name: string, cn: string, ext: string) => {
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`]);
  };
  before(async () => {
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=pharos etcd test CA']);
    sign('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
    sign('client', 'pharos', 'extendedKeyUsage=clientAuth\n');
    // A CA etcd does not trust, and a client certificate from it.
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '1', '-subj', '/CN=another CA']);
    etcd = await EtcdTestCluster.start(1, { tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.pem') } });
  });
  after(async () => {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a server on etcds:// with --etcd-ca/--etcd-cert/--etcd-key answers the API and DNS', async () => {
    assert.match(etcd.url(), /^etcds:\/\//);
    const server = await startTestServer({ store: etcd.url('/tls'), etcdCa: join(dir, 'ca.pem'), etcdCert: join(dir, 'client.pem'), etcdKey: join(dir, 'client.key') });
    try {
      await roundTrip(server, 'tls');
    } finally {
      await server.destroy();
    }
  });

  test('no client certificate, or a CA that did not sign the server: refused when the store opens', async () => {
    await assert.rejects(openStore(etcd.url('/tls'), { etcd: { caFile: join(dir, 'ca.pem') } }), refusedAtOpen);
    await assert.rejects(openStore(etcd.url('/tls'), { etcd: { caFile: join(dir, 'other-ca.pem'), certFile: join(dir, 'client.pem'), keyFile: join(dir, 'client.key') } }), refusedAtOpen);
    // And plain etcd:// to a TLS member does not work either.
    await assert.rejects(openStore(etcd.url('/tls').replace('etcds://', 'etcd://')), refusedAtOpen);
  });
});

describe('etcd with user auth enabled', { skip }, () => {
  let etcd: EtcdTestCluster;
  const password = 'pharos-test-root-pw';
  before(async () => {
    etcd = await EtcdTestCluster.start(1);
    const etcdctl = (...args: string[]) => execFileSync('etcdctl', ['--endpoints', etcd.endpoints[0]!, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } });
    etcdctl('user', 'add', `root:${password}`);
    etcdctl('user', 'grant-role', 'root', 'root');
    etcdctl('auth', 'enable');
  });
  after(() => etcd?.stop());

  test('a server with PHAROS_ETCD_USERNAME / PHAROS_ETCD_PASSWORD answers the API and DNS', async () => {
    const server = await startTestServer({ store: etcd.url('/auth'), etcdUsername: 'root', etcdPassword: password });
    try {
      await roundTrip(server, 'auth');
    } finally {
      await server.destroy();
    }
  });

  test('without credentials, or with a wrong password: refused when the store opens', async () => {
    await assert.rejects(openStore(etcd.url('/auth')), refusedAtOpen);
    await assert.rejects(openStore(etcd.url('/auth'), { etcd: { username: 'root', password: 'wrong' } }), refusedAtOpen);
  });
});
