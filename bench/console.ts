/**
 * Web console figures, measured in headless Chromium against a real `pharos server` (in process):
 *
 * 1. First load over loopback: bytes transferred (the browser's own `transferSize` of the document
 *    and every resource) and time to interactive (navigation start → the overview's tables drawn
 *    with the event stream open), cold (a new browser context each time).
 * 2. A registry change → visible in the open console: the page itself flips an instance's custom
 *    health through the API and times, with a MutationObserver, when the row shows the new status.
 *    Reference in the same run: the same change seen by polling GetInstancesHealthStatus from the
 *    page (what any API client waits for).
 * 3. 1,000 instances in one service: time to render the list, then a scroll from top to bottom in
 *    steps of one frame: longest frame, frames over 50 ms, rows in the DOM.
 *
 * `node --import tsx bench/console.ts [--loads 20] [--changes 200] [--instances 1000]`
 */
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { defaultConfig, startServer } from '../src/cli/index.ts';
import { eventually, silentLogger } from '../src/lib/index.ts';
import { createRuntime } from '../src/runtime/index.ts';

const { values } = parseArgs({ options: { loads: { type: 'string', default: '20' }, changes: { type: 'string', default: '200' }, instances: { type: 'string', default: '1000' } } });
const LOADS = Number(values.loads);
const CHANGES = Number(values.changes);
const INSTANCES = Number(values.instances);
const CHROMIUM = process.env['PHAROS_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const f = (ms: number) => `${ms.toFixed(0)} ms`;

const dataDir = mkdtempSync(join(tmpdir(), 'pharos-consolebench-'));
const server = await startServer(
  defaultConfig({ apiAddr: { host: '127.0.0.1', port: 0 }, dnsAddr: { host: '127.0.0.1', port: 0 }, dataDir, store: `sqlite:${join(dataDir, 'pharos.db')}`, logLevel: 'silent', maxInstancesPerService: Math.max(1000, INSTANCES + 1), maxInstancesPerNamespace: Math.max(2000, INSTANCES + 10) }),
  { logger: silentLogger(), runtime: createRuntime({ awsvpc: 'host' }) },
);
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
/** tsx (esbuild) names the functions inside page.evaluate callbacks with a `__name` helper the page lacks. */
const NAME_HELPER = 'window.__name = (f) => f';
const newContext = async () => {
  const c = await browser.newContext();
  await c.addInitScript(NAME_HELPER);
  return c;
};
const sd = new ServiceDiscovery({ endpoint: server.apiUrl, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, disableHostPrefix: true, maxAttempts: 1 });

async function namespace(name: string): Promise<string> {
  const { OperationId } = await sd.createHttpNamespace({ Name: name });
  return eventually(async () => (await sd.getOperation({ OperationId })).Operation?.Targets?.['NAMESPACE']);
}

try {
  // Some data so the overview has something to draw: 5 namespaces of 4 services of 5 instances.
  for (let n = 0; n < 5; n++) {
    const nsId = await namespace(`ns${n}`);
    for (let s = 0; s < 4; s++) {
      const { Service } = await sd.createService({ Name: `svc${s}`, NamespaceId: nsId, HealthCheckCustomConfig: { FailureThreshold: 1 } });
      await Promise.all(Array.from({ length: 5 }, (_, i) => sd.registerInstance({ ServiceId: Service!.Id, InstanceId: `i${i}`, Attributes: { AWS_INSTANCE_IPV4: `198.18.140.${i + 1}` } })));
    }
  }

  // ---- 1. first load ------------------------------------------------------------------------
  const bytes: number[] = [];
  const interactive: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${server.apiUrl}/console/`);
    await page.locator('[data-connected=true]').waitFor();
    await page.getByRole('table', { name: 'Namespaces' }).waitFor();
    const m = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      const resources = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
      return { bytes: nav.transferSize + resources.reduce((a, r) => a + r.transferSize, 0), now: performance.now() };
    });
    bytes.push(m.bytes);
    interactive.push(m.now);
    await context.close();
  }

  // ---- 2. change → visible --------------------------------------------------------------------
  const nsId = await namespace('live');
  const { Service } = await sd.createService({ Name: 'web', NamespaceId: nsId, HealthCheckCustomConfig: { FailureThreshold: 1 } });
  await sd.registerInstance({ ServiceId: Service!.Id, InstanceId: 'probe', Attributes: { AWS_INSTANCE_IPV4: '198.18.140.200' } });
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(`${server.apiUrl}/console/#/services/${Service!.Id}`);
  await page.locator('[data-connected=true]').waitFor();
  await page.locator('.vbody .vrow').first().waitFor();
  const visible: number[] = [];
  const viaApi: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const status = i % 2 === 0 ? 'UNHEALTHY' : 'HEALTHY';
    const r = await page.evaluate(
      async ({ serviceId, status }) => {
        const target = (op: string) => ({ 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `Route53AutoNaming_v20170314.${op}` });
        const cell = () => document.querySelector('.vbody .vrow .c-health .status');
        const t0 = performance.now();
        const shown = new Promise<number>((resolve) => {
          const check = () => cell()?.textContent?.includes(status) && (observer.disconnect(), resolve(performance.now() - t0));
          const observer = new MutationObserver(check);
          observer.observe(document.querySelector('.vbody')!, { subtree: true, childList: true, characterData: true });
        });
        await fetch('/', { method: 'POST', headers: target('UpdateInstanceCustomHealthStatus'), body: JSON.stringify({ ServiceId: serviceId, InstanceId: 'probe', Status: status }) });
        // Reference: an API client polling for the same change.
        let api = 0;
        for (;;) {
          const res = await fetch('/', { method: 'POST', headers: target('GetInstancesHealthStatus'), body: JSON.stringify({ ServiceId: serviceId }) });
          if ((await res.json()).Status.probe === status) {
            api = performance.now() - t0;
            break;
          }
        }
        return { ui: await shown, api };
      },
      { serviceId: Service!.Id!, status },
    );
    visible.push(r.ui);
    viaApi.push(r.api);
  }
  await context.close();

  // ---- 3. 1,000 instances ------------------------------------------------------------------------
  const bigNs = await namespace('big');
  const { Service: big } = await sd.createService({ Name: 'many', NamespaceId: bigNs, HealthCheckCustomConfig: { FailureThreshold: 1 } });
  for (let i = 0; i < INSTANCES; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, INSTANCES - i) }, (_, j) =>
        sd.registerInstance({ ServiceId: big!.Id, InstanceId: `i-${String(i + j).padStart(5, '0')}`, Attributes: { AWS_INSTANCE_IPV4: `198.18.${140 + ((i + j) >> 8) % 2}.${(i + j) % 256}`, AWS_INSTANCE_PORT: '8080', version: '1' } }),
      ),
    );
  }
  const bigContext = await newContext();
  const bigPage = await bigContext.newPage();
  await bigPage.goto(`${server.apiUrl}/console/`);
  await bigPage.locator('[data-connected=true]').waitFor();
  const renderStart = await bigPage.evaluate(() => performance.now());
  await bigPage.evaluate((id) => (location.hash = `#/services/${id}`), big!.Id!);
  await bigPage.getByText(`${INSTANCES} ·`, { exact: false }).first().waitFor({ timeout: 60_000 });
  await bigPage.locator('.vbody .vrow').first().waitFor();
  const renderMs = (await bigPage.evaluate(() => performance.now())) - renderStart;
  const scroll = await bigPage.evaluate(async () => {
    const box = document.querySelector('.vbody') as HTMLElement;
    const frames: number[] = [];
    let last = performance.now();
    const maxRows = { n: 0 };
    while (box.scrollTop + box.clientHeight < box.scrollHeight - 1) {
      box.scrollTop += box.clientHeight / 2;
      await new Promise((r) => requestAnimationFrame(() => r(undefined)));
      const now = performance.now();
      frames.push(now - last);
      last = now;
      maxRows.n = Math.max(maxRows.n, box.querySelectorAll('.vrow').length);
    }
    const lastRow = [...box.querySelectorAll('.vrow .c-id')].map((e) => e.textContent).sort().pop();
    return { frames, rows: maxRows.n, lastRow };
  });
  await bigContext.close();

  console.log(`first load, ${LOADS} cold loads: transferred p50 ${(pct(bytes, 50) / 1024).toFixed(1)} KiB, max ${(Math.max(...bytes) / 1024).toFixed(1)} KiB; interactive p50 ${f(pct(interactive, 50))}, p99 ${f(pct(interactive, 99))}, max ${f(Math.max(...interactive))}`);
  console.log(`change → visible in the console, ${CHANGES} changes: p50 ${f(pct(visible, 50))}, p99 ${f(pct(visible, 99))}, max ${f(Math.max(...visible))}`);
  console.log(`  reference, same change seen by polling GetInstancesHealthStatus: p50 ${f(pct(viaApi, 50))}, p99 ${f(pct(viaApi, 99))}`);
  console.log(`${INSTANCES} instances: list drawn in ${f(renderMs)}; scroll to the end in ${scroll.frames.length} steps: longest frame ${f(Math.max(...scroll.frames))}, frames > 50 ms: ${scroll.frames.filter((x) => x > 50).length}, rows in the DOM at most ${scroll.rows}, last row ${scroll.lastRow}`);
} finally {
  sd.destroy();
  await browser.close();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
