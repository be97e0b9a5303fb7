// Live updates: one EventSource on /console/events. The server sends `change` (coalesced, with the
// scopes that changed: `ns` for namespaces and services, `svc:<id>` for a service's instances and
// health, `ecs` for ECS), `ping` every few seconds, and `hello` on (re)connect. Views reload what
// they show when a scope they watch changes; after a reconnect everything reloads, since changes
// may have been missed. No message for LOST_AFTER_MISSED_PINGS heartbeats = the server is lost.
import { useEffect, useRef, useState } from '../vendor/hooks.mjs';

const LOST_AFTER_MISSED_PINGS = 2.5;

const listeners = new Set();
const statusListeners = new Set();
let status = { connected: false, since: Date.now(), revision: 0 };
let source;
let watchdog;

function setStatus(next) {
  status = { ...status, ...next };
  for (const l of statusListeners) l(status);
}

function armWatchdog(heartbeatMs) {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => {
    setStatus({ connected: false, since: Date.now() });
    // Reopen: a hung connection never errors by itself.
    connect();
  }, heartbeatMs * LOST_AFTER_MISSED_PINGS);
}

/** Opens (or reopens) the event stream. */
export function connect() {
  source?.close();
  source = new EventSource('/console/events');
  let heartbeatMs = 5000;
  source.addEventListener('hello', (e) => {
    const data = JSON.parse(e.data);
    heartbeatMs = data.heartbeatMs ?? heartbeatMs;
    const wasLost = !status.connected;
    setStatus({ connected: true, since: Date.now(), revision: data.revision });
    armWatchdog(heartbeatMs);
    if (wasLost) for (const l of listeners) l(null);
  });
  source.addEventListener('ping', () => armWatchdog(heartbeatMs));
  source.addEventListener('change', (e) => {
    const data = JSON.parse(e.data);
    setStatus({ revision: data.revision });
    armWatchdog(heartbeatMs);
    for (const l of listeners) l(data.scopes);
  });
  source.onerror = () => {
    if (status.connected) setStatus({ connected: false, since: Date.now() });
    // EventSource retries by itself (the server asks for 1 s); a 401 closes it for good.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  };
}

export function disconnect() {
  clearTimeout(watchdog);
  source?.close();
  source = undefined;
}

/** The connection state, re-rendered on change. */
export function useConnection() {
  const [s, set] = useState(status);
  useEffect(() => {
    statusListeners.add(set);
    return () => statusListeners.delete(set);
  }, []);
  return s;
}

/**
 * Loads data with `load()` now and again whenever a scope `watches(scope)` accepts changes (or
 * after a reconnect). One load at a time: changes during a load cause exactly one more, so a burst
 * of changes costs two loads, not one per change. `deps` restart it (a new id in the route).
 */
export function useLive(load, watches, deps) {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true });
  const reload = useRef(() => {});
  useEffect(() => {
    const r = { busy: false, again: false, alive: true };
    setState({ data: undefined, error: undefined, loading: true });
    const go = async () => {
      if (r.busy) {
        r.again = true;
        return;
      }
      r.busy = true;
      do {
        r.again = false;
        try {
          const data = await load();
          if (r.alive) setState({ data, error: undefined, loading: false });
        } catch (error) {
          if (r.alive) setState((s) => ({ data: s.data, error, loading: false }));
        }
      } while (r.again && r.alive);
      r.busy = false;
    };
    const onChange = (scopes) => {
      if (scopes === null || scopes.some(watches)) go();
    };
    listeners.add(onChange);
    reload.current = go;
    go();
    return () => {
      r.alive = false;
      listeners.delete(onChange);
    };
  }, deps);
  return { ...state, reload: () => reload.current() };
}
