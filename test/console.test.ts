/**
 * The web console in a real browser (headless Chromium), against a real `pharos server` whose
 * tasks run in their own network namespaces: the ECS service discovery walkthrough done entirely
 * in the console (namespace, task definition pasted as JSON, cluster, service with service
 * discovery), the tasks' IPs in the instance list and in DNS, an instance made unhealthy and shown
 * so within 1 s, scale to 0; the lost-server banner; the 1,000-row list staying virtual.
 */
import { Resolver } from 'node:dns/promises';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { eventually } from '../src/lib/index.ts';
import { createRuntime, NetnsRuntime } from '../src/runtime/index.ts';
import { browserSkip, launchBrowser, type TestBrowser } from './browser.ts';
import { register, resolveA, startTestServer, tempDir, type TestServer } from './helpers.ts';

/** Issue 14's own names and addresses (198.18.140.0/23), so parallel test files never collide. */
const RUNTIME = { taskCidr: '198.18.140.0/23', bridge: 'ph14br0', netnsPrefix: 'ph14-', vethPrefix: 'ph14v' };
/** The figure the issue sets: a change shows in an open console within this. */
const VISIBLE_WITHIN_MS = 1000;

const SERVER_JS = "require('http').createServer((q, s) => s.end('ok')).listen(8080, '0.0.0.0')";

const netnsReason = await NetnsRuntime.unsupportedReason(RUNTIME.netnsPrefix);
const netnsSkip = netnsReason === undefined ? false : `awsvpc tasks need network namespaces: ${netnsReason}`;
if (netnsSkip && process.env['CI'] === 'true') throw new Error(`CI=true but ${netnsSkip}`);

describe('web console in Chromium', { skip: browserSkip || netnsSkip }, () => {
  let browser: TestBrowser;
  let server: TestServer;
  let resolver: Resolver;

  before(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startTestServer({ drainDelayMs: 0 }, tempDir('pharos-console-'), createRuntime({ awsvpc: RUNTIME }))]);
    resolver = new Resolver({ timeout: 500, tries: 2 });
    resolver.setServers([server.dnsAddress!]);
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  async function open(path = ''): Promise<Page> {
    const context = await browser.context();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Deletes, deregistrations and stops ask first.
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${server.apiUrl}/console/${path}`);
    try {
      await page.locator('[data-connected=true]').waitFor({ timeout: 10_000 });
    } catch (err) {
      throw new Error(`console not live; page errors: ${JSON.stringify(errors)}; page: ${(await page.locator('body').innerText()).slice(0, 500)}`, { cause: err });
    }
    assert.deepEqual(errors, []);
    return page;
  }

  const a4 = (name: string) => resolveA(resolver, name);

  test('the walkthrough: namespace, task definition, service with service discovery, IPs in the list and in DNS, unhealthy within 1 s, scale to 0', async () => {
    const page = await open();

    // A private DNS namespace, from the overview. A double click creates it once.
    await page.getByText('Create namespace', { exact: true }).first().click();
    const nsForm = page.getByRole('form', { name: 'Create namespace' });
    await nsForm.getByLabel('Name').fill('walk.local');
    await nsForm.getByRole('button', { name: 'Create namespace' }).dblclick();
    await page.getByRole('link', { name: 'walk.local' }).waitFor();
    const { Namespaces } = await server.sd.listNamespaces({});
    assert.equal(Namespaces?.filter((n) => n.Name === 'walk.local').length, 1, 'one namespace after a double click');

    // A task definition pasted as JSON; a bad paste shows the API's error.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Task definitions' }).click();
    const tdForm = page.getByRole('form', { name: 'Register task definition' });
    await tdForm.getByRole('textbox').fill(JSON.stringify({ family: 'web', containerDefinitions: [] }));
    await tdForm.getByRole('button', { name: 'Register' }).click();
    await tdForm.getByRole('alert').waitFor();
    assert.match(await tdForm.getByRole('alert').innerText(), /ClientException|InvalidParameterException/);
    const definition = {
      family: 'web',
      networkMode: 'awsvpc',
      containerDefinitions: [{ name: 'app', image: 'node:20', essential: true, command: [process.execPath, '-e', SERVER_JS], portMappings: [{ containerPort: 8080 }] }],
    };
    await tdForm.getByRole('textbox').fill(JSON.stringify(definition, null, 2));
    await tdForm.getByRole('button', { name: 'Register' }).click();
    await tdForm.getByText('Registered web:1.').waitFor();

    // A cluster, then the wizard: ECS service + Cloud Map service in one form.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
    await page.getByText('Create cluster', { exact: true }).first().click();
    const clusterForm = page.getByRole('form', { name: 'Create cluster' });
    await clusterForm.getByLabel('Name').fill('walk');
    await clusterForm.getByRole('button', { name: 'Create cluster' }).click();
    await page.getByRole('link', { name: 'walk', exact: true }).click();
    await page.getByText('Create service with service discovery', { exact: true }).first().click();
    const wizard = page.getByRole('form', { name: 'Create service with service discovery' });
    await wizard.getByLabel('Service name').fill('web');
    await wizard.getByLabel('Desired count').fill('2');
    await wizard.getByLabel('DNS records').fill('A');
    await wizard.getByLabel('TTL (seconds)').fill('1');
    await wizard.getByRole('button', { name: 'Create service' }).dblclick();
    await wizard.getByText(/Created service web/).waitFor();

    // The tasks' IPs appear in the Cloud Map instance list, and DNS answers the same.
    await page.getByRole('link', { name: /^srv-/ }).first().click();
    const ips = page.locator('.vbody .c-ip code');
    await eventually(async () => (await ips.count()) === 2, { timeoutMs: 30_000, intervalMs: 100, message: 'two task instances listed' });
    const listed = (await ips.allInnerTexts()).map((t) => t.trim()).sort();
    for (const ip of listed) assert.match(ip, /^198\.18\.14[01]\.\d+$/);
    await eventually(async () => JSON.stringify(await a4('web.walk.local')) === JSON.stringify(listed), { timeoutMs: 5000, message: `DNS answers ${listed}` });

    // Mark one unhealthy: the row says so within 1 s, and DNS drops it.
    const row = page.locator('.vbody .vrow').first();
    const ip = (await row.locator('.c-ip code').innerText()).trim();
    const clicked = Date.now();
    await row.getByRole('button', { name: 'Mark unhealthy' }).click();
    await row.locator('.c-health .status.bad').waitFor({ timeout: 5000 });
    const shownMs = Date.now() - clicked;
    assert.ok(shownMs < VISIBLE_WITHIN_MS, `unhealthy shown after ${shownMs} ms`);
    await eventually(async () => !(await a4('web.walk.local')).includes(ip), { message: `DNS stops answering ${ip}` });

    // The hosted zone lists the tasks' record sets (every instance, as Route 53 does).
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Route 53' }).click();
    await page.getByRole('link', { name: 'walk.local.' }).click();
    const recordSets = page.getByRole('table', { name: 'Record sets' });
    await recordSets.waitFor();
    await eventually(async () => (await recordSets.innerText()).includes(listed.find((x) => x !== ip) ?? ip), { message: 'task IP in the record sets' });

    // Force a new deployment, then stop a task from its page (logs shown): the service replaces it.
    await page.goto(`${server.apiUrl}/console/#/clusters/walk/services/web`);
    const deployments = page.getByRole('table', { name: 'Deployments' });
    await deployments.waitFor();
    const before = await deployments.locator('tbody code').allInnerTexts();
    await page.getByRole('button', { name: 'Force new deployment' }).click();
    await eventually(async () => (await deployments.locator('tbody code').allInnerTexts()).some((id) => !before.includes(id)), { message: 'a new deployment listed' });
    await page.getByRole('table', { name: 'Tasks' }).locator('tbody a').first().click();
    await page.getByRole('heading', { name: 'Logs' }).waitFor();
    await page.getByRole('button', { name: 'Stop task' }).click();
    await page.getByText('Stop reason').waitFor({ timeout: 15_000 });

    // Scale to 0 from the ECS service page: no task runs, no instance is left.
    await page.goto(`${server.apiUrl}/console/#/clusters/walk/services/web`);
    const scale = page.getByRole('form', { name: 'Change desired count' });
    await scale.getByLabel('Desired count').fill('0');
    await scale.getByRole('button', { name: 'Set desired count' }).click();
    await eventually(async () => (await page.getByTestId('desired').innerText()) === '0', { message: 'desired count 0 shown' });
    await eventually(async () => (await page.getByTestId('running').innerText()) === '0', { timeoutMs: 30_000, message: 'running count 0 shown' });
    await eventually(async () => (await a4('web.walk.local')).length === 0, { timeoutMs: 30_000, message: 'no DNS answer after scaling to 0' });
    await page.context().close();
  });

  test('a registration made elsewhere shows without reloading; 1,000 instances stay a short, virtual list', async () => {
    const sd = server.sd;
    const { OperationId } = await sd.createHttpNamespace({ Name: 'many' });
    const nsId = await eventually(async () => (await sd.getOperation({ OperationId })).Operation?.Targets?.['NAMESPACE']);
    const { Service } = await sd.createService({ Name: 'big', NamespaceId: nsId });
    const page = await open(`#/services/${Service!.Id}`);
    await page.getByText('No instance registered.').waitFor();
    const started = Date.now();
    await register(sd, Service!.Id!, 'first', { AWS_INSTANCE_IPV4: '198.18.141.1' });
    await page.getByText('first', { exact: true }).waitFor();
    assert.ok(Date.now() - started < 5000);

    const ids = Array.from({ length: 999 }, (_, i) => `i-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((id) => sd.registerInstance({ ServiceId: Service!.Id, InstanceId: id, Attributes: { AWS_INSTANCE_IPV4: '198.18.141.2' } })));
    }
    await page.getByText(/^1000 ·/).waitFor({ timeout: 20_000 });
    await page.locator('.vbody .vrow', { hasText: 'first' }).getByRole('button', { name: 'Deregister' }).click();
    await page.getByText(/^999 ·/).waitFor();
    const rendered = await page.locator('.vbody .vrow').count();
    assert.ok(rendered < 60, `${rendered} rows in the DOM for 1,000 instances`);
    await page.locator('.vbody').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.getByText('i-0998', { exact: true }).waitFor();

    // A Cloud Map service created from the namespace page.
    await page.getByRole('link', { name: 'many' }).click();
    await page.getByText('Create service', { exact: true }).first().click();
    const form = page.getByRole('form', { name: 'Create service' });
    await form.getByLabel('Name').fill('extra');
    await form.getByLabel('Health check').selectOption('none');
    await form.getByRole('button', { name: 'Create service' }).click();
    await page.getByRole('link', { name: 'extra' }).waitFor();
    await page.context().close();
  });

  test('with --credentials: sign in once, an HttpOnly SameSite=Strict session, writes work, no secret in the page; a lost server is shown', async () => {
    const keys = { accessKeyId: 'AKIDCONSOLETEST', secretAccessKey: 'console-test-secret-0123456789' };
    const locked = await startTestServer({ credentials: [keys] }, tempDir('pharos-console-auth-'), createRuntime({ awsvpc: 'host' }));
    try {
      const context = await browser.context({ width: 390, height: 844, dark: true });
      const page = await context.newPage();
      await page.goto(`${locked.apiUrl}/console/`);
      const form = page.getByRole('form', { name: 'Sign in' });
      await form.getByLabel('Access key id').fill(keys.accessKeyId);
      await form.getByLabel('Secret access key').fill('wrong');
      await form.getByRole('button', { name: 'Sign in' }).click();
      await form.getByRole('alert').waitFor();
      await form.getByLabel('Secret access key').fill(keys.secretAccessKey);
      await form.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('[data-connected=true]').waitFor();

      const [cookie] = (await context.cookies()).filter((c) => c.name === 'pharos_session');
      assert.ok(cookie, 'a session cookie');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.ok(cookie.expires > Date.now() / 1000, 'it expires');
      assert.equal(await page.evaluate(() => document.cookie.includes('pharos_session')), false);
      assert.ok(!(await page.content()).includes(keys.secretAccessKey), 'no secret in the page');

      // A write through the session and its CSRF token; the same call without the token is refused.
      await page.getByText('Create namespace', { exact: true }).first().click();
      const nsForm = page.getByRole('form', { name: 'Create namespace' });
      await nsForm.getByLabel('Name').fill('signed');
      await nsForm.getByLabel('Type').selectOption('HTTP');
      await nsForm.getByRole('button', { name: 'Create namespace' }).click();
      await page.getByRole('link', { name: 'signed' }).waitFor();
      const forged = await page.evaluate(async () => {
        const res = await fetch('/', { method: 'POST', headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'Route53AutoNaming_v20170314.ListNamespaces' }, body: '{}' });
        return res.status;
      });
      assert.equal(forged, 403);

      await locked.destroy();
      await page.locator('[data-connected=false]').getByText(/Server lost/).waitFor({ timeout: 15_000 });
      await context.close();
    } finally {
      await locked.destroy();
    }
  });
});
