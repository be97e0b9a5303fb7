// The first page: every namespace and every ECS cluster with their health, at a glance.
import { useLive } from '../lib/live.js';
import { Loaded, html } from '../lib/ui.js';
import { CreateNamespace, NamespaceTable, namespacesWithHealth } from './cloudmap.js';
import { ClusterTable, CreateCluster, clustersWithHealth } from './ecs.js';

export function Overview() {
  const namespaces = useLive(namespacesWithHealth, () => true, []);
  const clusters = useLive(clustersWithHealth, (s) => s === 'ecs', []);
  return html`<h1>Overview</h1>
    <section aria-labelledby="h-ns">
      <h2 id="h-ns">Cloud Map namespaces</h2>
      <${Loaded} state=${namespaces}>${(list) => html`<${NamespaceTable} namespaces=${list} />`}</${Loaded}>
      <${CreateNamespace} />
    </section>
    <section aria-labelledby="h-ecs">
      <h2 id="h-ecs">ECS clusters</h2>
      <${Loaded} state=${clusters}>${(list) => html`<${ClusterTable} clusters=${list} />`}</${Loaded}>
      <${CreateCluster} />
    </section>`;
}
