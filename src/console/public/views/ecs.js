// ECS: clusters → services (counts, deployments, events, service registry) → tasks (IP, status,
// health, stop reason, logs); task definitions; the "service with service discovery" wizard.
import { allEcs, allPages, cloudmap, ecs, requestToken } from '../lib/api.js';
import { clustersWithHealth, ecsService, tasksOf } from '../lib/data.js';
import { useLive } from '../lib/live.js';
import { Action, Ago, Field, Form, Loaded, Panel, Status, Table, html, lastPart } from '../lib/ui.js';
import { useEffect, useRef, useState } from '../vendor/hooks.mjs';

const isEcs = (s) => s === 'ecs';

export function ClusterTable({ clusters }) {
  return html`<${Table}
    label="ECS clusters"
    rows=${clusters}
    rowKey=${(c) => c.clusterArn}
    empty="No cluster yet."
    columns=${[
      { label: 'Cluster', render: (c) => html`<a href=${`#/clusters/${encodeURIComponent(c.clusterName)}`}>${c.clusterName}</a>` },
      { label: 'Services', class: 'num', render: (c) => c.activeServicesCount },
      { label: 'Running', class: 'num', render: (c) => c.runningTasksCount },
      { label: 'Pending', class: 'num', render: (c) => c.pendingTasksCount },
      { label: 'Unhealthy tasks', render: (c) => (c.unhealthyTasks ? html`<${Status} value=${`${c.unhealthyTasks} UNHEALTHY`} />` : html`<span class="muted">0</span>`) },
    ]}
  />`;
}

export function CreateCluster() {
  return html`<${Panel} title="Create cluster">
    <${Form} label="Create cluster" submit="Create cluster" success=${(r) => `Created cluster ${r.cluster.clusterName}.`} run=${(v) => ecs('CreateCluster', { clusterName: v.name.trim() })}>
      <${Field} label="Name" name="name" required placeholder="default" />
    </${Form}>
  </${Panel}>`;
}

/** Cloud Map service id from a registry ARN (`…:service/srv-…`). */
const registryId = (arn) => lastPart(arn);

export function Cluster({ name }) {
  const state = useLive(
    async () => {
      const arns = await allEcs('ListServices', { cluster: name }, 'serviceArns');
      const services = [];
      for (let i = 0; i < arns.length; i += 10) services.push(...(await ecs('DescribeServices', { cluster: name, services: arns.slice(i, i + 10) })).services);
      return { services, tasks: await tasksOf(name, { stopped: true }) };
    },
    isEcs,
    [name],
  );
  return html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › Cluster</nav>
    <h1>${name} <small class="muted">ECS cluster</small></h1>
    <${Loaded} state=${state}>${({ services, tasks }) => html`
      <h2>Services</h2>
      <${Table}
        label="ECS services"
        rows=${services}
        rowKey=${(s) => s.serviceArn}
        empty="No service in this cluster."
        columns=${[
          { label: 'Service', render: (s) => html`<a href=${`#/clusters/${encodeURIComponent(name)}/services/${encodeURIComponent(s.serviceName)}`}>${s.serviceName}</a>` },
          { label: 'Status', render: (s) => html`<${Status} value=${s.status} />` },
          { label: 'Desired', class: 'num', render: (s) => s.desiredCount },
          { label: 'Running', class: 'num', render: (s) => s.runningCount },
          { label: 'Pending', class: 'num', render: (s) => s.pendingCount },
          { label: 'Rollout', render: (s) => html`<${Status} value=${s.deployments?.find((d) => d.status === 'PRIMARY')?.rolloutState} />` },
          { label: 'Task definition', render: (s) => lastPart(s.taskDefinition) },
          { label: 'Service registry', render: (s) => (s.serviceRegistries ?? []).map((r) => html`<a href=${`#/services/${registryId(r.registryArn)}`}>${registryId(r.registryArn)}</a> `) },
        ]}
      />
      <${CreateEcsService} cluster=${name} />
      <h2>Tasks</h2>
      <${TaskTable} cluster=${name} tasks=${tasks} />
      <p><${Action} label="Delete cluster" kind="danger" confirm=${`Delete cluster ${name}? It must have no services or tasks.`} run=${() => ecs('DeleteCluster', { cluster: name })} done=${() => (location.hash = '#/')} /></p>
    `}</${Loaded}>`;
}

function taskIp(t) {
  for (const c of t.containers ?? []) for (const n of c.networkInterfaces ?? []) if (n.privateIpv4Address) return n.privateIpv4Address;
  const b = t.containers?.flatMap((c) => c.networkBindings ?? [])[0];
  return b ? `${b.bindIP ?? ''}:${b.hostPort}` : '';
}

function TaskTable({ cluster, tasks }) {
  const sorted = [...tasks].sort((a, b) => (a.desiredStatus === b.desiredStatus ? (b.createdAt ?? 0) - (a.createdAt ?? 0) : a.desiredStatus === 'RUNNING' ? -1 : 1));
  return html`<${Table}
    label="Tasks"
    rows=${sorted}
    rowKey=${(t) => t.taskArn}
    empty="No task."
    columns=${[
      { label: 'Task', render: (t) => html`<a href=${`#/clusters/${encodeURIComponent(cluster)}/tasks/${lastPart(t.taskArn)}`}><code>${lastPart(t.taskArn).slice(0, 12)}</code></a>` },
      { label: 'IP', render: (t) => html`<code class="task-ip">${taskIp(t)}</code>` },
      { label: 'Last status', render: (t) => html`<${Status} value=${t.lastStatus} />` },
      { label: 'Desired', render: (t) => t.desiredStatus },
      { label: 'Health', render: (t) => html`<${Status} value=${t.healthStatus} />` },
      { label: 'Group', render: (t) => t.group ?? '' },
      { label: 'Started', render: (t) => html`<${Ago} at=${t.startedAt ?? t.createdAt} />` },
      { label: 'Stop reason', render: (t) => t.stoppedReason ?? '' },
      { label: '', render: (t) => (t.desiredStatus === 'RUNNING' ? html`<${Action} label="Stop" kind="danger" confirm="Stop this task?" run=${() => ecs('StopTask', { cluster, task: t.taskArn, reason: 'Stopped from the Pharos console' })} />` : null) },
    ]}
  />`;
}

export function EcsService({ cluster, name }) {
  const state = useLive(async () => ({ service: await ecsService(cluster, name), tasks: await tasksOf(cluster, { serviceName: name, stopped: true }) }), isEcs, [cluster, name]);
  return html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › <a href=${`#/clusters/${encodeURIComponent(cluster)}`}>${cluster}</a> › Service</nav>
    <h1>${name} <small class="muted">ECS service</small></h1>
    <${Loaded} state=${state}>${({ service: s, tasks }) => html`
      <dl class="facts">
        <dt>Status</dt><dd><${Status} value=${s.status} /></dd>
        <dt>Desired / running / pending</dt><dd class="counts-line"><strong data-testid="desired">${s.desiredCount}</strong> / <strong data-testid="running">${s.runningCount}</strong> / <strong>${s.pendingCount}</strong></dd>
        <dt>Task definition</dt><dd>${lastPart(s.taskDefinition)}</dd>
        <dt>Service registry</dt><dd>${(s.serviceRegistries ?? []).length ? s.serviceRegistries.map((r) => html`<a href=${`#/services/${registryId(r.registryArn)}`}>Cloud Map service ${registryId(r.registryArn)}</a>${r.port ? ` (port ${r.port})` : r.containerPort ? ` (${r.containerName}:${r.containerPort})` : ''} `) : 'none'}</dd>
      </dl>
      <div class="toolbar">
        <${Form} label="Change desired count" submit="Set desired count" resetOnSuccess=${false} success="Desired count changed." run=${(v) => ecs('UpdateService', { cluster, service: name, desiredCount: Number(v.desired) })}>
          <${Field} label="Desired count" name="desired" type="number" min="0" value=${String(s.desiredCount)} />
        </${Form}>
        <${Action} label="Force new deployment" run=${() => ecs('UpdateService', { cluster, service: name, forceNewDeployment: true })} />
      </div>
      <h2>Deployments</h2>
      <${Table}
        label="Deployments"
        rows=${s.deployments ?? []}
        rowKey=${(d) => d.id}
        columns=${[
          { label: 'Deployment', render: (d) => html`<code>${d.id}</code>` },
          { label: 'Status', render: (d) => html`<${Status} value=${d.status} />` },
          { label: 'Rollout', render: (d) => html`<${Status} value=${d.rolloutState} title=${d.rolloutStateReason} /> <small class="muted">${d.rolloutStateReason ?? ''}</small>` },
          { label: 'Task definition', render: (d) => lastPart(d.taskDefinition) },
          { label: 'Desired', class: 'num', render: (d) => d.desiredCount },
          { label: 'Running', class: 'num', render: (d) => d.runningCount },
          { label: 'Pending', class: 'num', render: (d) => d.pendingCount },
          { label: 'Failed', class: 'num', render: (d) => d.failedTasks ?? 0 },
          { label: 'Updated', render: (d) => html`<${Ago} at=${d.updatedAt} />` },
        ]}
      />
      <h2>Tasks</h2>
      <${TaskTable} cluster=${cluster} tasks=${tasks} />
      <h2>Events</h2>
      <ul class="events">${(s.events ?? []).slice(0, 20).map((e) => html`<li key=${e.id}><${Ago} at=${e.createdAt} /> ${e.message}</li>`)}</ul>
      <p><${Action} label="Delete service" kind="danger" confirm=${`Delete service ${name}? Scale it to 0 first.`} run=${() => ecs('DeleteService', { cluster, service: name })} done=${() => (location.hash = `#/clusters/${encodeURIComponent(cluster)}`)} /></p>
    `}</${Loaded}>`;
}

const LOG_REFRESH_MS = 2000;

export function Task({ cluster, id }) {
  const state = useLive(async () => (await ecs('DescribeTasks', { cluster, tasks: [id] })).tasks?.[0] ?? Promise.reject(Object.assign(new Error('task not found'), { code: 'InvalidParameterException' })), isEcs, [cluster, id]);
  return html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › <a href=${`#/clusters/${encodeURIComponent(cluster)}`}>${cluster}</a> › Task</nav>
    <h1>Task <code>${id.slice(0, 12)}</code></h1>
    <${Loaded} state=${state}>${(t) => html`
      <dl class="facts">
        <dt>Last / desired status</dt><dd><${Status} value=${t.lastStatus} /> / ${t.desiredStatus}</dd>
        <dt>Health</dt><dd><${Status} value=${t.healthStatus} /></dd>
        <dt>IP</dt><dd><code>${taskIp(t) || '—'}</code></dd>
        <dt>Task definition</dt><dd>${lastPart(t.taskDefinitionArn)}</dd>
        <dt>Started</dt><dd><${Ago} at=${t.startedAt} /></dd>
        ${t.stoppedReason ? html`<dt>Stop reason</dt><dd>${t.stopCode ?? ''} ${t.stoppedReason}</dd>` : null}
      </dl>
      ${t.desiredStatus === 'RUNNING' ? html`<p><${Action} label="Stop task" kind="danger" confirm="Stop this task?" run=${() => ecs('StopTask', { cluster, task: t.taskArn, reason: 'Stopped from the Pharos console' })} /></p>` : null}
      <h2>Containers</h2>
      <${Table}
        label="Containers"
        rows=${t.containers ?? []}
        rowKey=${(c) => c.name}
        columns=${[
          { label: 'Name', render: (c) => c.name },
          { label: 'Status', render: (c) => html`<${Status} value=${c.lastStatus} />` },
          { label: 'Health', render: (c) => html`<${Status} value=${c.healthStatus} />` },
          { label: 'Exit code', render: (c) => c.exitCode ?? '' },
          { label: 'Reason', render: (c) => c.reason ?? '' },
        ]}
      />
      <h2>Logs</h2>
      <${Logs} cluster=${cluster} task=${t.taskArn} />
    `}</${Loaded}>`;
}

/** The task's last log lines, refreshed every few seconds while shown (logs are not store changes). */
function Logs({ cluster, task }) {
  const [events, setEvents] = useState();
  const [error, setError] = useState();
  useEffect(() => {
    let alive = true;
    const load = () =>
      ecs('GetTaskLogs', { cluster, task, limit: 200 }).then(
        (r) => alive && (setEvents(r.events ?? []), setError(undefined)),
        (e) => alive && setError(e),
      );
    load();
    const timer = setInterval(load, LOG_REFRESH_MS);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [cluster, task]);
  if (error) return html`<p class="error" role="alert">${error.code}: ${error.message}</p>`;
  if (!events) return html`<p class="muted">Loading…</p>`;
  if (!events.length) return html`<p class="muted">No log lines.</p>`;
  return html`<pre class="logs" tabindex="0">${events.map((e) => `${new Date(e.timestamp * 1000).toISOString().slice(11, 23)} ${e.container} ${e.stream === 'stderr' ? '!' : ' '} ${e.message}\n`)}</pre>`;
}

const EXAMPLE_TASK_DEFINITION = JSON.stringify(
  {
    family: 'web',
    networkMode: 'awsvpc',
    containerDefinitions: [
      {
        name: 'web',
        image: 'node',
        essential: true,
        command: ['node', '-e', "require('http').createServer((q, s) => s.end('hello')).listen(8080)"],
        portMappings: [{ containerPort: 8080 }],
      },
    ],
  },
  null,
  2,
);

export function TaskDefinitions() {
  const state = useLive(async () => (await allEcs('ListTaskDefinitions', {}, 'taskDefinitionArns')).map(lastPart).reverse(), isEcs, []);
  return html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › Task definitions</nav>
    <h1>Task definitions</h1>
    <${Loaded} state=${state}>${(defs) => html`<ul class="plain">${defs.length ? defs.map((d) => html`<li key=${d}><code>${d}</code></li>`) : html`<li class="muted">None registered.</li>`}</ul>`}</${Loaded}>
    <${RegisterTaskDefinition} />`;
}

export function RegisterTaskDefinition() {
  return html`<${Panel} title="Register task definition (paste JSON)" open=${true}>
    <${Form}
      label="Register task definition"
      submit="Register"
      resetOnSuccess=${false}
      success=${(r) => `Registered ${lastPart(r.taskDefinition.taskDefinitionArn)}.`}
      run=${(v) => {
        let input;
        try {
          input = JSON.parse(v.json);
        } catch (e) {
          throw Object.assign(new Error(`The text is not JSON: ${e.message}`), { code: 'InvalidJson' });
        }
        // `aws ecs describe-task-definition` output pastes too.
        return ecs('RegisterTaskDefinition', input.taskDefinition ?? input);
      }}
    >
      <${Field} label="Task definition JSON (as for aws ecs register-task-definition --cli-input-json)" name="json" type="textarea" rows="14" required value=${EXAMPLE_TASK_DEFINITION} spellcheck="false" />
    </${Form}>
  </${Panel}>`;
}

/**
 * The walkthrough in one form: a Cloud Map service (new, or an existing one) in a DNS namespace,
 * then an ECS service whose tasks register in it. Each create carries an idempotency token kept
 * until the whole form succeeds, so a double submit or a retry after an error creates nothing twice.
 */
function CreateEcsService({ cluster }) {
  const tokens = useRef({ cloudMap: requestToken(), ecs: requestToken() });
  const choices = useLive(
    async () => ({
      taskDefinitions: (await allEcs('ListTaskDefinitions', {}, 'taskDefinitionArns')).map(lastPart).reverse(),
      namespaces: (await allPages('ListNamespaces', {}, 'Namespaces')).filter((n) => n.Type !== 'HTTP'),
    }),
    (s) => s === 'ecs' || s === 'ns',
    [],
  );
  return html`<${Panel} title="Create service with service discovery">
    <${Loaded} state=${choices}>${({ taskDefinitions, namespaces }) => html`
      <${Form}
        label="Create service with service discovery"
        submit="Create service"
        success=${(r) => `Created service ${r.service.serviceName}; its tasks start now.`}
        run=${async (v) => {
          const name = v.name.trim();
          const { taskDefinition: td } = await ecs('DescribeTaskDefinition', { taskDefinition: v.taskDefinition });
          const registry = {};
          if (v.namespace) {
            const types = v.records.split(/[ ,+]+/).filter(Boolean);
            const { Service } = await cloudmap('CreateService', {
              Name: v.discoveryName.trim() || name,
              NamespaceId: v.namespace,
              CreatorRequestId: tokens.current.cloudMap,
              DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: types.map((Type) => ({ Type, TTL: Number(v.ttl) })) },
              HealthCheckCustomConfig: { FailureThreshold: 1 },
            });
            registry.registryArn = Service.Arn;
            if (types.includes('SRV')) {
              const c = td.containerDefinitions.find((c) => c.portMappings?.length) ?? td.containerDefinitions[0];
              registry.containerName = c.name;
              registry.containerPort = c.portMappings?.[0]?.containerPort;
            }
          }
          const out = await ecs('CreateService', {
            cluster,
            serviceName: name,
            taskDefinition: v.taskDefinition,
            desiredCount: Number(v.desired),
            clientToken: tokens.current.ecs,
            ...(registry.registryArn ? { serviceRegistries: [registry] } : {}),
            ...(td.networkMode === 'awsvpc' ? { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-pharos'] } } } : {}),
          });
          tokens.current = { cloudMap: requestToken(), ecs: requestToken() };
          return out;
        }}
      >
        <${Field} label="Service name" name="name" required placeholder="web" />
        <${Field} label="Task definition" name="taskDefinition" type="select" options=${taskDefinitions.length ? taskDefinitions : [{ value: '', label: 'Register a task definition first' }]} required />
        <${Field} label="Desired count" name="desired" type="number" min="0" value="2" />
        <${Field} label="Namespace (service discovery)" name="namespace" type="select" options=${[{ value: '', label: 'No service discovery' }, ...namespaces.map((n) => ({ value: n.Id, label: n.Name }))]} value=${namespaces[0]?.Id} />
        <${Field} label="Discovery name" name="discoveryName" help="The DNS name in the namespace; the service name when empty." />
        <${Field} label="DNS records" name="records" value="A" help="A, or A, SRV" />
        <${Field} label="TTL (seconds)" name="ttl" type="number" value="10" min="0" />
      </${Form}>
    `}</${Loaded}>
  </${Panel}>`;
}

export { clustersWithHealth };
