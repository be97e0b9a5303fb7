import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PharosError, isPharosError } from '../lib/index.ts';
import * as ecsErrors from '../orchestrator/errors.ts';
import * as cloudMapErrors from '../registry/errors.ts';
import { CLOUD_MAP_STYLE, ECS_STYLE, toWireError, type ErrorStyle } from './errors.ts';

/**
 * Every error code a handler can raise is declared once, with its status, in its domain's
 * `errors.ts`, and the wire mapping gives exactly that status and `__type`. Codes a domain keeps
 * for faults or internal use must never be in its table (they go out as 500 with no detail).
 */

const SRC = fileURLToPath(new URL('..', import.meta.url));

/** Every PharosError the module's exported factories build, called with placeholder arguments. */
function factoryErrors(mod: Record<string, unknown>): PharosError[] {
  const out: PharosError[] = [];
  for (const value of Object.values(mod)) {
    if (typeof value !== 'function' || /^class\b/.test(Function.prototype.toString.call(value))) continue;
    const made = (value as (...args: string[]) => unknown)('x', 'y', 'z');
    if (isPharosError(made)) out.push(made);
  }
  return out;
}

/** Error codes written as string literals where handler code builds a PharosError inline. */
function inlineCodes(dir: string): string[] {
  const codes: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/new (?:PharosError|CloudMapError)\(\s*'([A-Za-z]+)'/g)) codes.push(m[1]!);
      }
    }
  };
  walk(dir);
  return codes;
}

const domains: { name: string; table: Readonly<Record<string, number>>; style: ErrorStyle; mod: Record<string, unknown>; dir: string; nonWire: readonly string[] }[] = [
  { name: 'Cloud Map', table: cloudMapErrors.CLOUD_MAP_ERRORS, style: CLOUD_MAP_STYLE, mod: cloudMapErrors, dir: 'registry', nonWire: cloudMapErrors.REGISTRY_FAULT_CODES },
  { name: 'ECS', table: ecsErrors.ECS_ERRORS, style: ECS_STYLE, mod: ecsErrors, dir: 'orchestrator', nonWire: ecsErrors.ECS_INTERNAL_CODES },
];

describe('error tables', () => {
  for (const d of domains) {
    test(`${d.name}: every declared code goes on the wire with its status and __type`, () => {
      for (const [code, status] of Object.entries(d.table)) {
        const wire = toWireError(new PharosError(code, 'm'), d.style);
        assert.equal(wire.status, status, code);
        assert.equal(wire.code, code);
        assert.equal(wire.body['__type'], code);
        assert.equal(wire.fault, status >= 500);
      }
    });

    test(`${d.name}: every code its errors.ts or its handlers raise is declared (or is a fault)`, () => {
      const raised = [...factoryErrors(d.mod).map((e) => e.code), ...inlineCodes(join(SRC, d.dir))];
      assert.ok(raised.length > 5, 'found the raised codes');
      for (const code of raised) {
        if (d.nonWire.includes(code)) {
          assert.equal(d.table[code], undefined, `${code} is a fault, not a client error`);
          assert.equal(toWireError(new PharosError(code, 'm'), d.style).status, 500);
        } else {
          assert.ok(d.table[code] !== undefined, `${code} is raised in ${d.dir}/ but not declared in its errors.ts`);
        }
      }
      for (const value of Object.values(d.mod)) {
        // Exported code constants (CLIENT_EXCEPTION, …) are declared or non-wire too.
        if (typeof value === 'string' && /^[A-Z][A-Za-z]+$/.test(value)) assert.ok(d.table[value] !== undefined || d.nonWire.includes(value), value);
      }
    });
  }
});
