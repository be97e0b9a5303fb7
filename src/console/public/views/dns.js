// DNS: the records Pharos DNS serves for each DNS namespace, built from the services' DNS config and
// their healthy instances (the same data DNS answers from).
import { allPages, allHealth } from '../lib/api.js';
import { dnsRecords } from '../lib/data.js';
import { useLive } from '../lib/live.js';
import { Loaded, html } from '../lib/ui.js';
import { RecordTable } from './cloudmap.js';
import { nsFilter } from '../lib/data.js';

async function loadZones() {
  const namespaces = (await allPages('ListNamespaces', {}, 'Namespaces')).filter((n) => n.Type !== 'HTTP');
  return Promise.all(
    namespaces.map(async (n) => {
      const services = await allPages('ListServices', nsFilter(n.Id), 'Services');
      const records = [];
      for (const s of services) {
        if (!s.DnsConfig) continue;
        const [instances, status] = await Promise.all([allPages('ListInstances', { ServiceId: s.Id }, 'Instances'), allHealth(s.Id)]);
        records.push(...dnsRecords(n, s, instances.map((i) => ({ ...i, status: status[i.Id] ?? 'UNKNOWN' }))));
      }
      return { namespace: n, records };
    }),
  );
}

export function Dns() {
  const state = useLive(loadZones, (s) => s === 'ns' || s.startsWith('svc:'), []);
  return html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › DNS</nav>
    <h1>DNS records</h1>
    <p class="muted">What Pharos DNS answers for each DNS namespace (hosted zone), from the services' DNS settings and their healthy instances. SOA and NS at each apex are not listed.</p>
    <${Loaded} state=${state}>${(zones) =>
      zones.length
        ? zones.map((z) => html`<section key=${z.namespace.Id}><h2>${z.namespace.Name}. <small class="muted">${z.namespace.Properties?.DnsProperties?.HostedZoneId ?? ''}</small></h2><${RecordTable} records=${z.records} /></section>`)
        : html`<p class="muted">No DNS namespace.</p>`}</${Loaded}>`;
}
