// Shared pieces of every view: htm bound to Preact, status badges (text and colour), tables, a
// virtualised list for long instance lists, buttons and forms that cannot be submitted twice.
import { h } from '../vendor/preact.mjs';
import { useEffect, useRef, useState } from '../vendor/hooks.mjs';
import htm from '../vendor/htm.mjs';

export const html = htm.bind(h);

const GOOD = new Set(['HEALTHY', 'RUNNING', 'SUCCESS', 'ACTIVE', 'COMPLETED', 'PRIMARY', 'OK']);
const BAD = new Set(['UNHEALTHY', 'FAIL', 'FAILED', 'STOPPED', 'INACTIVE', 'DRAINING', 'DEPROVISIONING']);
const GLYPH = { good: '●', bad: '✕', neutral: '○' };

function tone(value) {
  return GOOD.has(value) ? 'good' : BAD.has(value) ? 'bad' : 'neutral';
}

/** A status as a word with a glyph and a colour, so it reads without colour too. */
export function Status({ value, title }) {
  if (value === undefined || value === null || value === '') return html`<span class="muted">—</span>`;
  const t = tone(value);
  return html`<span class=${`status ${t}`} title=${title}><span aria-hidden="true">${GLYPH[t]} </span>${value}</span>`;
}

/** `12 s ago`, `3 min ago`; the exact time in the title. */
export function Ago({ at }) {
  if (!at) return html`<span class="muted">—</span>`;
  const ms = typeof at === 'number' && at < 1e11 ? at * 1000 : new Date(at).getTime();
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  const text = s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : s < 86400 ? `${Math.floor(s / 3600)} h ago` : `${Math.floor(s / 86400)} d ago`;
  return html`<time datetime=${new Date(ms).toISOString()} title=${new Date(ms).toLocaleString()}>${text}</time>`;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert"><strong>${error.code ?? 'Error'}</strong>: ${error.message}</p>`;
}

/** Loading / error / content for a `useLive` result. */
export function Loaded({ state, children }) {
  if (state.data === undefined) {
    return state.error ? html`<${ErrorBox} error=${state.error} />` : html`<p class="muted" aria-busy="true">Loading…</p>`;
  }
  return html`${state.error ? html`<${ErrorBox} error=${state.error} />` : null}${children(state.data)}`;
}

/** A table: `columns` = [{ label, render(row), class? }]. */
export function Table({ columns, rows, empty = 'None.', rowKey, label }) {
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  return html`<div class="table-wrap"><table aria-label=${label}>
    <thead><tr>${columns.map((c) => html`<th scope="col" class=${c.class}>${c.label}</th>`)}</tr></thead>
    <tbody>${rows.map((r, i) => html`<tr key=${rowKey ? rowKey(r) : i}>${columns.map((c) => html`<td class=${c.class} data-label=${c.label}>${c.render(r)}</td>`)}</tr>`)}</tbody>
  </table></div>`;
}

/**
 * A list of fixed-height rows of which only the visible ones (plus a margin) are in the DOM, so
 * 1,000 or 10,000 instances scroll as smoothly as 10.
 */
export function VirtualList({ rows, rowHeight = 40, height = 480, header, renderRow, label }) {
  const [top, setTop] = useState(0);
  const box = useRef();
  const OVERSCAN = 8;
  const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((top + height) / rowHeight) + OVERSCAN);
  const visible = rows.slice(first, last);
  return html`<div class="vlist" role="table" aria-label=${label} aria-rowcount=${rows.length + 1}>
    <div class="vrow vhead" role="row">${header}</div>
    <div class="vbody" ref=${box} tabindex="0" style=${`height:${Math.min(height, rows.length * rowHeight + 2)}px`} onScroll=${(e) => setTop(e.currentTarget.scrollTop)}>
      <div style=${`height:${rows.length * rowHeight}px;position:relative`}>
        ${visible.map((r, i) => html`<div class="vrow" role="row" key=${r.key ?? first + i} aria-rowindex=${first + i + 2} style=${`position:absolute;top:${(first + i) * rowHeight}px;height:${rowHeight}px;left:0;right:0`}>${renderRow(r)}</div>`)}
      </div>
    </div>
  </div>`;
}

/**
 * A button that runs an async action once: disabled while it runs (a double click does nothing),
 * the API's error shown next to it. `confirm` asks first.
 */
export function Action({ label, run, confirm: question, kind = '', done }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState();
  const alive = useRef(true);
  // A ref, not the state: a second click can arrive before the re-render that disables the button.
  const running = useRef(false);
  useEffect(() => () => (alive.current = false), []);
  const click = async () => {
    if (running.current) return;
    if (question && !window.confirm(question)) return;
    running.current = true;
    setBusy(true);
    setError(undefined);
    try {
      await run();
      done?.();
    } catch (e) {
      if (alive.current) setError(e);
    } finally {
      running.current = false;
      if (alive.current) setBusy(false);
    }
  };
  return html`<span class="action"><button type="button" class=${kind} disabled=${busy} aria-busy=${busy} onClick=${click}>${busy ? `${label}…` : label}</button>${error ? html`<${ErrorBox} error=${error} />` : null}</span>`;
}

/**
 * A form whose submit runs `run(values)` once at a time; the fields are read by name. Shows the
 * API's error, or `success` after it worked. The form element is disabled while busy.
 */
export function Form({ run, submit, children, success, label, resetOnSuccess = true }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState();
  const [ok, setOk] = useState();
  const running = useRef(false);
  const onSubmit = async (e) => {
    e.preventDefault();
    if (running.current) return;
    running.current = true;
    const form = e.currentTarget;
    const values = Object.fromEntries(new FormData(form));
    for (const el of form.querySelectorAll('input[type=checkbox]')) values[el.name] = el.checked;
    setBusy(true);
    setError(undefined);
    setOk(undefined);
    try {
      const result = await run(values);
      setOk(typeof success === 'function' ? success(result) : success ?? 'Done.');
      if (resetOnSuccess) form.reset();
    } catch (err) {
      setError(err);
    } finally {
      running.current = false;
      setBusy(false);
    }
  };
  return html`<form onSubmit=${onSubmit} aria-label=${label}>
    <fieldset disabled=${busy}>${children}</fieldset>
    <p><button type="submit" class="primary" disabled=${busy} aria-busy=${busy}>${busy ? `${submit}…` : submit}</button></p>
    <${ErrorBox} error=${error} />
    ${ok ? html`<p class="ok" role="status">${ok}</p>` : null}
  </form>`;
}

/**
 * A labelled input; `type=select` takes `options`. `value` is the default (defaultValue): a live
 * re-render must not overwrite what a person is typing, and a form reset returns to it.
 */
export function Field({ label, name, type = 'text', value, options, help, required, ...rest }) {
  const id = useRef(`f-${name}-${Math.random().toString(36).slice(2, 8)}`).current;
  let input;
  if (type === 'select') {
    const opts = options.map((o) => (typeof o === 'string' ? { value: o, label: o } : o));
    input = html`<select id=${id} name=${name} required=${required} ...${rest}>${opts.map((o) => html`<option value=${o.value} defaultSelected=${o.value === value}>${o.label}</option>`)}</select>`;
  } else if (type === 'textarea') {
    input = html`<textarea id=${id} name=${name} required=${required} defaultValue=${value ?? ''} ...${rest} />`;
  } else if (type === 'checkbox') {
    return html`<label class="check"><input id=${id} type="checkbox" name=${name} defaultChecked=${value} ...${rest} /> ${label}</label>`;
  } else {
    input = html`<input id=${id} type=${type} name=${name} defaultValue=${value} required=${required} ...${rest} />`;
  }
  return html`<div class="field"><label for=${id}>${label}</label>${input}${help ? html`<small>${help}</small>` : null}</div>`;
}

/** A collapsible panel for a form (native <details>: keyboard and screen reader friendly). */
export function Panel({ title, children, open }) {
  return html`<details class="panel" open=${open}><summary>${title}</summary><div class="panel-body">${children}</div></details>`;
}

export function Counts({ healthy = 0, unhealthy = 0, unknown = 0 }) {
  return html`<span class="counts">
    ${healthy ? html`<span class="status good"><span aria-hidden="true">● </span>${healthy} healthy</span>` : html`<span class="muted">0 healthy</span>`}${' '}
    ${unhealthy ? html`<span class="status bad"><span aria-hidden="true">✕ </span>${unhealthy} unhealthy</span>` : html`<span class="muted">0 unhealthy</span>`}${' '}
    ${unknown ? html`<span class="status neutral"><span aria-hidden="true">○ </span>${unknown} unknown</span>` : null}
  </span>`;
}

/** `arn:aws:ecs:…:service/cluster/name` → `name`. */
export const lastPart = (arn) => (arn ? String(arn).split('/').pop() : '');
