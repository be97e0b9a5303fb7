/**
 * Makes the console screenshots in docs/ (referenced from the README): a server with a private DNS
 * namespace, an ECS service of 3 awsvpc tasks registered in Cloud Map (one made unhealthy), an HTTP
 * namespace; then the overview, a Cloud Map service, the ECS service, a hosted zone, and the
 * overview at phone width in dark mode. Root (network namespaces) and Debian's chromium.
 *
 * `node --import tsx bench/console-screenshots.ts [out-dir=docs]`
 */
import { ECS } from '@aws-sdk/client-ecs';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { defaultConfig, startServer } from '../src/cli/index.ts';
import { eventually, silentLogger } from '../src/lib/index.ts';
import { createRuntime } from '../src/runtime/index.ts';

const OUT = process.argv[2] ?? 'docs';
const CHROMIUM = process.env['PHAROS_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const RUNTIME = { taskCidr: '198.18.142.0/24', bridge: 'ph14br1', netnsPrefix: 'ph14s-', vethPrefix: 'ph14s' };
const SERVER_JS = "require('http').createServer((q, s) => s.end('ok')).listen(8080, '0.0.0.0'); console.log('listening on 8080')";
const KEYS = { accessKeyId: 'x', secretAccessKey: 'x' };

const dataDir = mkdtempSync(join(tmpdir(), 'pharos-shots-'));
const server = await startServer(
  defaultConfig({ apiAddr: { host: '127.0.0.1', port: 0 }, dnsAddr: { host: '127.0.0.1', port: 0 }, dataDir, store: `sqlite:${join(dataDir, 'pharos.db')}`, logLevel: 'silent' }),
  { logger: silentLogger(), runtime: createRuntime({ awsvpc: RUNTIME }) },
);
const sd = new ServiceDiscovery({ endpoint: server.apiUrl, region: 'us-east-1', credentials: KEYS, disableHostPrefix: true });
const ecs = new ECS({ endpoint: server.apiUrl, region: 'us-east-1', credentials: KEYS });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });

const errors: string[] = [];

async function shot(page: Page, hash: string, file: string, ready: () => Promise<unknown>) {
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.apiUrl}/console/${hash}`);
  try {
    await page.locator('[data-connected=true]').waitFor({ timeout: 60_000 });
    await ready();
  } catch (err) {
    console.log(`${file}: not ready (${(err as Error).message.split('\n')[0]}); page errors ${JSON.stringify(errors)}; page: ${(await page.locator('body').innerText()).slice(0, 300)}`);
  }
  await page.screenshot({ path: join(OUT, file), fullPage: true });
  console.log(`${OUT}/${file}`);
}

try {
  const { OperationId } = await sd.createPrivateDnsNamespace({ Name: 'local-1', Vpc: 'vpc-1' });
  const nsId = await eventually(async () => (await sd.getOperation({ OperationId })).Operation?.Targets?.['NAMESPACE']);
  const { OperationId: op2 } = await sd.createHttpNamespace({ Name: 'billing' });
  const httpNs = await eventually(async () => (await sd.getOperation({ OperationId: op2 })).Operation?.Targets?.['NAMESPACE']);
  const { Service: api } = await sd.createService({ Name: 'api', NamespaceId: httpNs });
  await sd.registerInstance({ ServiceId: api!.Id, InstanceId: 'api-1', Attributes: { AWS_INSTANCE_IPV4: '198.18.142.200', AWS_INSTANCE_PORT: '9000', stage: 'prod' } });
  const { Service: web } = await sd.createService({
    Name: 'web',
    NamespaceId: nsId,
    DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }, { Type: 'SRV', TTL: 10 }] },
    HealthCheckCustomConfig: { FailureThreshold: 1 },
  });
  await ecs.registerTaskDefinition({
    family: 'web',
    networkMode: 'awsvpc',
    containerDefinitions: [{ name: 'app', image: 'node:20', essential: true, command: [process.execPath, '-e', SERVER_JS], portMappings: [{ containerPort: 8080 }] }],
  });
  await ecs.createCluster({ clusterName: 'prod' });
  await ecs.createService({
    cluster: 'prod',
    serviceName: 'web',
    taskDefinition: 'web',
    desiredCount: 3,
    serviceRegistries: [{ registryArn: web!.Arn, containerName: 'app', containerPort: 8080 }],
    networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } },
  });
  const instances = await eventually(async () => {
    const { Instances } = await sd.listInstances({ ServiceId: web!.Id });
    return Instances?.length === 3 ? Instances : undefined;
  }, { timeoutMs: 30_000 });
  await sd.updateInstanceCustomHealthStatus({ ServiceId: web!.Id, InstanceId: instances[0]!.Id, Status: 'UNHEALTHY' });

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 760 } })).newPage();
  await shot(page, '', 'console-overview.png', () => page.getByRole('link', { name: 'local-1' }).waitFor());
  await shot(page, `#/services/${web!.Id}`, 'console-service.png', () => page.locator('.vbody .vrow').nth(2).waitFor());
  await shot(page, '#/clusters/prod/services/web', 'console-ecs-service.png', () => page.getByRole('table', { name: 'Deployments' }).waitFor());
  const { Namespace } = await sd.getNamespace({ Id: nsId });
  await shot(page, `#/zones/${Namespace!.Properties!.DnsProperties!.HostedZoneId}`, 'console-route53.png', () => page.getByRole('table', { name: 'Record sets' }).waitFor());
  const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', deviceScaleFactor: 1 })).newPage();
  await shot(phone, '', 'console-phone-dark.png', () => phone.getByRole('link', { name: 'local-1' }).waitFor());
  await ecs.updateService({ cluster: 'prod', service: 'web', desiredCount: 0 });
  await eventually(async () => ((await sd.listInstances({ ServiceId: web!.Id })).Instances?.length ?? 0) === 0, { timeoutMs: 30_000 });
} finally {
  await browser.close();
  sd.destroy();
  ecs.destroy();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
