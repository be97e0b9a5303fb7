// The Pharos console: a hash router over the views, the sign-in gate (when the server requires
// credentials) and the connection banner. Every view reads through the AWS API and reloads when
// the event stream says something it shows has changed.
import { render } from './vendor/preact.mjs';
import { useErrorBoundary, useEffect, useState } from './vendor/hooks.mjs';
import { ApiError, consoleFetch, setCsrf } from './lib/api.js';
import { connect, disconnect, useConnection } from './lib/live.js';
import { Ago, ErrorBox, Field, Form, html } from './lib/ui.js';
import { Namespace, Operations, Service } from './views/cloudmap.js';
import { Zone, Zones } from './views/dns.js';
import { Cluster, EcsService, Task, TaskDefinitions } from './views/ecs.js';
import { Overview } from './views/overview.js';

/** `#/a/b` → the view for it. */
function route(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [a, b, c, d] = parts;
  if (a === 'namespaces' && b) return html`<${Namespace} id=${b} key=${hash} />`;
  if (a === 'services' && b) return html`<${Service} id=${b} key=${hash} />`;
  if (a === 'operations') return html`<${Operations} />`;
  if (a === 'zones' && b) return html`<${Zone} id=${b} key=${hash} />`;
  if (a === 'zones') return html`<${Zones} />`;
  if (a === 'taskdefs') return html`<${TaskDefinitions} />`;
  if (a === 'clusters' && b && c === 'services' && d) return html`<${EcsService} cluster=${b} name=${d} key=${hash} />`;
  if (a === 'clusters' && b && c === 'tasks' && d) return html`<${Task} cluster=${b} id=${d} key=${hash} />`;
  if (a === 'clusters' && b) return html`<${Cluster} name=${b} key=${hash} />`;
  return html`<${Overview} />`;
}

/** A view that fails to render shows the error and a way back, instead of a blank page. */
function Guard({ children }) {
  const [error, reset] = useErrorBoundary();
  if (error) {
    return html`<${ErrorBox} error=${{ code: 'ConsoleError', message: String(error.message ?? error) }} /><p><button type="button" onClick=${reset}>Try again</button> <a href="#/">Overview</a></p>`;
  }
  return children;
}

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => {
      setHash(location.hash);
      document.querySelector('main')?.focus();
    };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function ConnectionBanner() {
  const c = useConnection();
  return html`<p class=${`conn ${c.connected ? 'up' : 'down'}`} role="status" aria-live="polite" data-connected=${String(c.connected)}>
    ${c.connected ? html`<span aria-hidden="true">● </span>Live` : html`<span aria-hidden="true">✕ </span>Server lost since <${Ago} at=${c.since} />, reconnecting…`}
    ${c.revision ? html`<small class="muted"> · revision ${c.revision}</small>` : null}
  </p>`;
}

function Shell({ session, onSignOut }) {
  const hash = useHash();
  useEffect(() => {
    connect();
    return disconnect;
  }, []);
  const nav = [
    ['#/', 'Overview'],
    ['#/operations', 'Operations'],
    ['#/zones', 'Route 53'],
    ['#/taskdefs', 'Task definitions'],
  ];
  return html`<a class="skip" href="#main" onClick=${(e) => (e.preventDefault(), document.querySelector('main').focus())}>Skip to content</a>
    <header>
      <a class="brand" href="#/">Pharos</a>
      <nav aria-label="Main"><ul>${nav.map(([href, label]) => html`<li><a href=${href} aria-current=${(hash || '#/') === href ? 'page' : undefined}>${label}</a></li>`)}</ul></nav>
      <${ConnectionBanner} />
      ${session.authRequired ? html`<span class="who">${session.accessKeyId} <button type="button" onClick=${onSignOut}>Sign out</button></span>` : null}
    </header>
    <main id="main" tabindex="-1"><${Guard} key=${hash}>${route(hash)}</${Guard}></main>`;
}

function SignIn({ onSignedIn }) {
  return html`<main class="signin">
    <h1>Pharos</h1>
    <p>This server checks credentials. Sign in with an access key it was started with (<code>--credentials</code>); the console then keeps a session cookie, and the secret is not stored.</p>
    <${Form}
      label="Sign in"
      submit="Sign in"
      run=${async (v) => {
        const s = await consoleFetch('session', { method: 'POST', body: JSON.stringify({ accessKeyId: v.accessKeyId, secretAccessKey: v.secretAccessKey }) });
        onSignedIn(s);
      }}
    >
      <${Field} label="Access key id" name="accessKeyId" required autocomplete="username" />
      <${Field} label="Secret access key" name="secretAccessKey" type="password" required autocomplete="current-password" />
    </${Form}>
  </main>`;
}

function App() {
  const [session, setSession] = useState();
  const [error, setError] = useState();
  const load = () =>
    consoleFetch('session').then(
      (s) => {
        setCsrf(s.csrf);
        setSession(s);
      },
      (e) => setError(e),
    );
  useEffect(() => {
    load();
  }, []);
  if (error) return html`<main><${ErrorBox} error=${error} /><button type="button" onClick=${() => (setError(undefined), load())}>Retry</button></main>`;
  if (!session) return html`<main><p class="muted">Loading…</p></main>`;
  if (!session.signedIn) {
    return html`<${SignIn} onSignedIn=${(s) => (setCsrf(s.csrf), setSession(s))} />`;
  }
  const signOut = async () => {
    await consoleFetch('session', { method: 'DELETE' }).catch((e) => (e instanceof ApiError ? undefined : Promise.reject(e)));
    setCsrf(undefined);
    disconnect();
    setSession({ authRequired: true, signedIn: false });
  };
  return html`<${Shell} session=${session} onSignOut=${signOut} />`;
}

render(html`<${App} />`, document.getElementById('app'));
