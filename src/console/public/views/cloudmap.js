// Cloud Map: namespaces → services → instances, operations, and the create/delete actions.
import { allPages, cloudmap, requestToken } from '../lib/api.js';
import { dnsRecords, namespacesWithHealth, serviceDetail, servicesWithHealth } from '../lib/data.js';
import { useLive } from '../lib/live.js';
import { Action, Ago, Counts, Field, Form, Loaded, Panel, Status, Table, VirtualList, html } from '../lib/ui.js';
import { useRef } from '../vendor/hooks.mjs';

const anyCloudMap = (s) => s === 'ns' || s.startsWith('svc:');

function nsType(n) {
  return { DNS_PRIVATE: 'private DNS', DNS_PUBLIC: 'public DNS', HTTP: 'HTTP' }[n.Type] ?? n.Type;
}

function zoneLink(n) {
  const id = n.Properties?.DnsProperties?.HostedZoneId;
  return id ? html`<a href=${`#/zones/${id}`}><code>${id}</code></a>` : html`<span class="muted">—</span>`;
}

export function NamespaceTable({ namespaces }) {
  return html`<${Table}
    label="Namespaces"
    rows=${namespaces}
    rowKey=${(n) => n.Id}
    empty="No namespace yet."
    columns=${[
      { label: 'Name', render: (n) => html`<a href=${`#/namespaces/${n.Id}`}>${n.Name}</a>` },
      { label: 'Type', render: nsType },
      { label: 'Hosted zone', render: (n) => zoneLink(n) },
      { label: 'Services', class: 'num', render: (n) => n.ServiceCount ?? n.services?.length ?? 0 },
      { label: 'Instances', render: (n) => html`<${Counts} ...${n.health} />` },
    ]}
  />`;
}

/** Remembers one idempotency token per form until it succeeds, so a retry after a lost answer is not applied twice. */
function useToken() {
  const token = useRef(requestToken());
  return { get: () => token.current, next: () => (token.current = requestToken()) };
}

export function CreateNamespace() {
  const token = useToken();
  return html`<${Panel} title="Create namespace">
    <${Form}
      label="Create namespace"
      submit="Create namespace"
      success=${(r) => `Creating: operation ${r.OperationId}. The namespace appears when it succeeds.`}
      run=${async (v) => {
        const base = { Name: v.name.trim(), CreatorRequestId: token.get(), ...(v.description ? { Description: v.description } : {}) };
        const op = v.type === 'HTTP' ? 'CreateHttpNamespace' : v.type === 'DNS_PUBLIC' ? 'CreatePublicDnsNamespace' : 'CreatePrivateDnsNamespace';
        const out = await cloudmap(op, v.type === 'DNS_PRIVATE' ? { ...base, Vpc: v.vpc || 'vpc-pharos' } : base);
        token.next();
        return out;
      }}
    >
      <${Field} label="Name" name="name" required placeholder="local-1" />
      <${Field} label="Type" name="type" type="select" value="DNS_PRIVATE" options=${[
        { value: 'DNS_PRIVATE', label: 'Private DNS (answered by Pharos DNS)' },
        { value: 'DNS_PUBLIC', label: 'Public DNS' },
        { value: 'HTTP', label: 'HTTP (API discovery only)' },
      ]} />
      <${Field} label="VPC (private DNS)" name="vpc" value="vpc-pharos" help="Any id: Pharos serves one network." />
      <${Field} label="Description" name="description" />
    </${Form}>
  </${Panel}>`;
}

export function Namespace({ id }) {
  const state = useLive(
    async () => {
      const { Namespace } = await cloudmap('GetNamespace', { Id: id });
      return { namespace: Namespace, services: await servicesWithHealth(id) };
    },
    anyCloudMap,
    [id],
  );
  return html`<${Loaded} state=${state}>${({ namespace: n, services }) => html`
    <nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › Namespace</nav>
    <h1>${n.Name} <small class="muted">${nsType(n)}</small></h1>
    <dl class="facts">
      <dt>Id</dt><dd><code>${n.Id}</code></dd>
      <dt>Hosted zone</dt><dd>${zoneLink(n)}</dd>
      ${n.Properties?.HttpProperties?.HttpName ? html`<dt>HTTP name</dt><dd>${n.Properties.HttpProperties.HttpName}</dd>` : null}
      <dt>Created</dt><dd><${Ago} at=${n.CreateDate} /></dd>
    </dl>
    <h2>Services</h2>
    <${ServiceTable} services=${services} namespace=${n} />
    <${CreateService} namespace=${n} />
    <p><${Action} label="Delete namespace" kind="danger" confirm=${`Delete namespace ${n.Name}? It must have no services.`} run=${() => cloudmap('DeleteNamespace', { Id: n.Id })} done=${() => (location.hash = '#/')} /></p>
  `}</${Loaded}>`;
}

function dnsSummary(s) {
  const d = s.DnsConfig;
  // HTTP namespaces' services have no DNS records (Cloud Map may still send an empty DnsConfig).
  if (!d?.DnsRecords?.length) return html`<span class="muted">API only</span>`;
  return `${d.DnsRecords.map((r) => `${r.Type} (TTL ${r.TTL})`).join(', ')} · ${d.RoutingPolicy ?? 'MULTIVALUE'}`;
}

function healthSummary(s) {
  if (s.HealthCheckConfig) return `${s.HealthCheckConfig.Type} ${s.HealthCheckConfig.ResourcePath ?? ''} · ${s.HealthCheckConfig.FailureThreshold ?? 1} failures`;
  if (s.HealthCheckCustomConfig) return `custom · ${s.HealthCheckCustomConfig.FailureThreshold ?? 1} failures`;
  return html`<span class="muted">none</span>`;
}

function ServiceTable({ services }) {
  return html`<${Table}
    label="Services"
    rows=${services}
    rowKey=${(s) => s.Id}
    empty="No service in this namespace."
    columns=${[
      { label: 'Name', render: (s) => html`<a href=${`#/services/${s.Id}`}>${s.Name}</a>` },
      { label: 'DNS', render: dnsSummary },
      { label: 'Health check', render: healthSummary },
      { label: 'Instances', render: (s) => html`<span class="num">${s.InstanceCount ?? 0}</span> <${Counts} ...${s.health} />` },
    ]}
  />`;
}

export function CreateService({ namespace }) {
  const token = useToken();
  const dns = namespace.Type !== 'HTTP';
  return html`<${Panel} title="Create service">
    <${Form}
      label="Create service"
      submit="Create service"
      success=${(r) => `Created service ${r.Service.Name} (${r.Service.Id}).`}
      run=${async (v) => {
        const input = { Name: v.name.trim(), NamespaceId: namespace.Id, CreatorRequestId: token.get() };
        if (dns) {
          const types = v.records.split(/[ ,+]+/).filter(Boolean);
          input.DnsConfig = { RoutingPolicy: v.routing, DnsRecords: types.map((Type) => ({ Type, TTL: Number(v.ttl) })) };
        }
        if (v.health === 'custom') input.HealthCheckCustomConfig = { FailureThreshold: 1 };
        else if (v.health !== 'none') input.HealthCheckConfig = { Type: v.health, ResourcePath: v.path || '/', FailureThreshold: Number(v.failures) };
        const out = await cloudmap('CreateService', input);
        token.next();
        return out;
      }}
    >
      <${Field} label="Name" name="name" required placeholder="web" />
      ${dns
        ? html`<${Field} label="DNS records" name="records" value="A" help="A, AAAA, SRV, CNAME; several with commas: A, SRV" />
            <${Field} label="TTL (seconds)" name="ttl" type="number" value="10" min="0" />
            <${Field} label="Routing policy" name="routing" type="select" value="MULTIVALUE" options=${['MULTIVALUE', 'WEIGHTED']} />`
        : null}
      <${Field} label="Health check" name="health" type="select" value="custom" options=${[
        { value: 'custom', label: 'Custom (set by ECS or by UpdateInstanceCustomHealthStatus)' },
        { value: 'HTTP', label: 'HTTP probe' },
        { value: 'HTTPS', label: 'HTTPS probe' },
        { value: 'TCP', label: 'TCP probe' },
        { value: 'none', label: 'None' },
      ]} />
      <${Field} label="Probe path (HTTP/HTTPS)" name="path" value="/" />
      <${Field} label="Failure threshold" name="failures" type="number" value="1" min="1" max="10" />
    </${Form}>
  </${Panel}>`;
}

export function Service({ id }) {
  const state = useLive(() => serviceDetail(id), (s) => s === 'ns' || s === `svc:${id}`, [id]);
  return html`<${Loaded} state=${state}>${({ service: s, namespace: n, instances, health }) => html`
    <nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › <a href=${`#/namespaces/${n.Id}`}>${n.Name}</a> › Service</nav>
    <h1>${s.Name}<small class="muted">.${n.Name}</small></h1>
    <dl class="facts">
      <dt>Id</dt><dd><code>${s.Id}</code></dd>
      <dt>DNS</dt><dd>${dnsSummary(s)}</dd>
      <dt>Health check</dt><dd>${healthSummary(s)}</dd>
      <dt>Instances</dt><dd>${instances.length} · <${Counts} ...${health} /></dd>
    </dl>
    ${s.DnsConfig?.DnsRecords?.length && n.Type !== 'HTTP' ? html`<h2>DNS records served</h2><${RecordTable} records=${dnsRecords(n, s, instances)} />` : null}
    <h2>Instances</h2>
    <${InstanceList} service=${s} instances=${instances} />
    <p><${Action} label="Delete service" kind="danger" confirm=${`Delete service ${s.Name}? It must have no instances.`} run=${() => cloudmap('DeleteService', { Id: s.Id })} done=${() => (location.hash = `#/namespaces/${n.Id}`)} /></p>
  `}</${Loaded}>`;
}

function RecordTable({ records }) {
  return html`<${Table}
    label="DNS records"
    rows=${records}
    empty="No records."
    columns=${[
      { label: 'Name', render: (r) => html`<code>${r.name}</code>` },
      { label: 'Type', render: (r) => r.type },
      { label: 'TTL', class: 'num', render: (r) => r.ttl },
      { label: 'Values', render: (r) => (r.values.length ? html`<code class="values">${r.values.join('\n')}</code>` : html`<span class="muted">no healthy instance</span>`) },
    ]}
  />`;
}

/** Row heights of the instance list: one line on a laptop, two on a phone (see style.css). */
const ROW_HEIGHT = 44;
const NARROW_ROW_HEIGHT = 80;

function InstanceList({ service, instances }) {
  const custom = Boolean(service.HealthCheckCustomConfig);
  if (!instances.length) return html`<p class="muted">No instance registered.</p>`;
  const header = html`<span role="columnheader" class="c-id">Instance</span><span role="columnheader" class="c-ip">IP:port</span><span role="columnheader" class="c-health">Health</span><span role="columnheader" class="c-attrs">Attributes</span><span role="columnheader" class="c-act">Actions</span>`;
  return html`<${VirtualList}
    label="Instances"
    rows=${instances}
    rowHeight=${matchMedia('(max-width: 700px)').matches ? NARROW_ROW_HEIGHT : ROW_HEIGHT}
    height=${Math.min(560, Math.max(240, window.innerHeight - 320))}
    header=${header}
    renderRow=${(i) => html`<${InstanceRow} i=${i} service=${service} custom=${custom} />`}
  />`;
}

function InstanceRow({ i, service, custom }) {
  const a = i.Attributes ?? {};
  const addr = a.AWS_INSTANCE_IPV4 ?? a.AWS_INSTANCE_IPV6 ?? a.AWS_INSTANCE_CNAME ?? '';
  const attrs = Object.entries(a).filter(([k]) => !/^AWS_INSTANCE_(IPV4|IPV6|PORT)$/.test(k));
  const d = i.detail ?? {};
  return html`
    <span role="cell" class="c-id" title=${i.Id}>${i.Id}</span>
    <span role="cell" class="c-ip"><code>${addr}${a.AWS_INSTANCE_PORT ? `:${a.AWS_INSTANCE_PORT}` : ''}</code></span>
    <span role="cell" class="c-health"><${Status} value=${i.status} /> <small class="muted">${d.reason ?? ''}${d.since ? ' · ' : ''}${d.since ? html`<${Ago} at=${d.since} />` : null}${d.pending ? ` · → ${d.pending}` : ''}</small></span>
    <span role="cell" class="c-attrs" title=${attrs.map(([k, v]) => `${k}=${v}`).join('\n')}>${attrs.map(([k, v]) => html`<code class="attr">${k}=${v}</code> `)}</span>
    <span role="cell" class="c-act">
      ${custom
        ? html`<${Action} label=${i.status === 'UNHEALTHY' ? 'Mark healthy' : 'Mark unhealthy'} run=${() => cloudmap('UpdateInstanceCustomHealthStatus', { ServiceId: service.Id, InstanceId: i.Id, Status: i.status === 'UNHEALTHY' ? 'HEALTHY' : 'UNHEALTHY' })} />`
        : null}
      <${Action} label="Deregister" kind="danger" confirm=${`Deregister ${i.Id}?`} run=${() => cloudmap('DeregisterInstance', { ServiceId: service.Id, InstanceId: i.Id })} />
    </span>`;
}

const OPERATION_DETAILS = 25;

export function Operations() {
  const state = useLive(
    async () => {
      const ops = await allPages('ListOperations', {}, 'Operations');
      // Summaries carry id and status only: details for the newest few.
      const detailed = await Promise.all(ops.slice(-OPERATION_DETAILS).map((o) => cloudmap('GetOperation', { OperationId: o.Id }).then((r) => r.Operation, () => o)));
      return detailed.sort((a, b) => (b.CreateDate ?? 0) - (a.CreateDate ?? 0));
    },
    (s) => s === 'ns' || s.startsWith('svc:'),
    [],
  );
  return html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › Operations</nav><h1>Operations</h1>
    <${Loaded} state=${state}>${(ops) => html`<${Table}
      label="Operations"
      rows=${ops}
      rowKey=${(o) => o.Id}
      empty="No operation yet."
      columns=${[
        { label: 'Operation', render: (o) => html`<code>${o.Id}</code>` },
        { label: 'Type', render: (o) => o.Type ?? '' },
        { label: 'Status', render: (o) => html`<${Status} value=${o.Status} />` },
        { label: 'Targets', render: (o) => Object.entries(o.Targets ?? {}).map(([k, v]) => `${k.toLowerCase()} ${v}`).join(', ') },
        { label: 'Error', render: (o) => (o.ErrorMessage ? `${o.ErrorCode}: ${o.ErrorMessage}` : '') },
        { label: 'Updated', render: (o) => html`<${Ago} at=${o.UpdateDate} />` },
      ]}
    />`}</${Loaded}>`;
}

export { namespacesWithHealth };
