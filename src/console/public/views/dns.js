// Route 53: hosted zones (one per DNS namespace) → record sets, read through the Route 53 API
// (REST-XML) exactly as `aws route53` reads them: what Pharos DNS serves, plus records users added.
import { route53 } from '../lib/api.js';
import { useLive } from '../lib/live.js';
import { Loaded, Table, html } from '../lib/ui.js';

const anyCloudMap = (s) => s === 'ns' || s.startsWith('svc:');
const text = (el, name) => el.getElementsByTagName(name)[0]?.textContent ?? undefined;
const bareId = (id) => String(id).replace(/^\/hostedzone\//, '');
/** Route 53's own page limits: 100 zones, 300 record sets. */
const ZONE_PAGE = 100;
const RRSET_PAGE = 300;

async function listZones() {
  const zones = [];
  let marker;
  do {
    const doc = await route53(`hostedzone?maxitems=${ZONE_PAGE}${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`);
    for (const z of doc.getElementsByTagName('HostedZone')) {
      zones.push({ id: bareId(text(z, 'Id')), name: text(z, 'Name'), count: Number(text(z, 'ResourceRecordSetCount') ?? 0), private: text(z, 'PrivateZone') === 'true', comment: text(z, 'Comment') });
    }
    marker = text(doc.documentElement, 'IsTruncated') === 'true' ? text(doc.documentElement, 'NextMarker') : undefined;
  } while (marker);
  return zones;
}

async function listRecordSets(zoneId) {
  const sets = [];
  let next = '';
  for (;;) {
    const doc = await route53(`hostedzone/${encodeURIComponent(zoneId)}/rrset?maxitems=${RRSET_PAGE}${next}`);
    for (const r of doc.getElementsByTagName('ResourceRecordSet')) {
      sets.push({
        name: text(r, 'Name'),
        type: text(r, 'Type'),
        ttl: text(r, 'TTL'),
        id: text(r, 'SetIdentifier'),
        routing: text(r, 'MultiValueAnswer') === 'true' ? 'multivalue' : text(r, 'Weight') !== undefined ? `weight ${text(r, 'Weight')}` : 'simple',
        values: [...r.getElementsByTagName('Value')].map((v) => v.textContent),
      });
    }
    const root = doc.documentElement;
    if (text(root, 'IsTruncated') !== 'true') return sets;
    next = `&name=${encodeURIComponent(text(root, 'NextRecordName'))}&type=${encodeURIComponent(text(root, 'NextRecordType'))}${text(root, 'NextRecordIdentifier') ? `&identifier=${encodeURIComponent(text(root, 'NextRecordIdentifier'))}` : ''}`;
  }
}

export function Zones() {
  const state = useLive(listZones, anyCloudMap, []);
  return html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › Route 53</nav>
    <h1>Route 53 hosted zones</h1>
    <p class="muted">One hosted zone per DNS namespace: the record sets Pharos DNS serves, and those added with <code>aws route53 change-resource-record-sets</code>.</p>
    <${Loaded} state=${state}>${(zones) => html`<${Table}
      label="Hosted zones"
      rows=${zones}
      rowKey=${(z) => z.id}
      empty="No hosted zone: create a DNS namespace."
      columns=${[
        { label: 'Zone', render: (z) => html`<a href=${`#/zones/${z.id}`}>${z.name}</a>` },
        { label: 'Id', render: (z) => html`<code>${z.id}</code>` },
        { label: 'Type', render: (z) => (z.private ? 'private' : 'public') },
        { label: 'Record sets', class: 'num', render: (z) => z.count },
      ]}
    />`}</${Loaded}>`;
}

export function Zone({ id }) {
  const state = useLive(async () => ({ zone: text((await route53(`hostedzone/${encodeURIComponent(id)}`)).documentElement, 'Name'), sets: await listRecordSets(id) }), anyCloudMap, [id]);
  return html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Overview</a> › <a href="#/zones">Route 53</a> › Zone</nav>
    <${Loaded} state=${state}>${({ zone, sets }) => html`
      <h1>${zone} <small class="muted">${id}</small></h1>
      <${Table}
        label="Record sets"
        rows=${sets}
        rowKey=${(r) => `${r.name}/${r.type}/${r.id ?? ''}`}
        columns=${[
          { label: 'Name', render: (r) => html`<code>${r.name}</code>` },
          { label: 'Type', render: (r) => r.type },
          { label: 'Routing', render: (r) => r.routing },
          { label: 'Set id', render: (r) => r.id ?? '' },
          { label: 'TTL', class: 'num', render: (r) => r.ttl ?? '' },
          { label: 'Values', render: (r) => html`<code class="values">${r.values.join('\n')}</code>` },
        ]}
      />`}</${Loaded}>`;
}
