/**
 * Guardrails on the shape of the code, read from the sources as text (no tool to install):
 * - imports between folders follow the direction in the README
 *   (`lib ← store ← registry ← {health, dns, orchestrator} ← api ← cli`), through each folder's
 *   `index.ts` (or, for handler tables, its `ops/index.ts`), and domain code never imports handlers;
 * - no import cycle among the modules (type-only imports are erased, so they do not count);
 * - no export that nothing else uses;
 * - no source file over MAX_SOURCE_LINES lines (a file that big is doing more than one thing);
 * - the repository stands alone: no citation of documents outside it, and every
 *   `docs/compatibility.md#…` citation names a section that exists.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/**
 * What each folder of src/ may import. Siblings at one level do not import each other, except
 * where the design says so (the orchestrator runs tasks through the runtime and checks them through
 * health). A new folder must be added here, in its place in the direction.
 */
const ALLOWED: Record<string, readonly string[]> = {
  lib: [],
  store: ['lib'],
  runtime: ['lib'],
  registry: ['lib', 'store'],
  health: ['lib', 'store', 'registry'],
  dns: ['lib', 'store', 'registry'],
  route53: ['lib', 'store', 'registry'],
  orchestrator: ['lib', 'store', 'registry', 'runtime', 'health'],
  console: ['lib'],
  api: ['lib', 'store', 'registry', 'health', 'dns', 'route53', 'runtime', 'orchestrator'],
  agent: ['lib', 'store', 'registry', 'health', 'dns', 'runtime', 'orchestrator', 'api'],
  cli: ['lib', 'store', 'registry', 'health', 'dns', 'route53', 'runtime', 'orchestrator', 'console', 'api', 'agent'],
};
/** Folders whose handler tables (`ops/index.ts`) may be imported: by the wiring and the API only. */
const HANDLER_IMPORTERS = new Set(['cli', 'api']);

/**
 * Lines a non-test source file of src/ may have: past this a file holds more than one concern and
 * is split by responsibility (the folder README says which file does what).
 */
const MAX_SOURCE_LINES = 600;
/** Files allowed past MAX_SOURCE_LINES, each with the reason. Not a place to park new ones. */
const OVERSIZED: Record<string, string> = {};

function walk(dir: string, kinds = /\.(ts|js)$/, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, kinds, out);
    else if (kinds.test(e.name)) out.push(p);
  }
  return out;
}

const isTest = (file: string): boolean => /\.test\.ts$|\/(testkit|testing|testutil|conformance)\.ts$|\/testdata\//.test(file);
const srcFiles = walk(SRC);
const SELF = fileURLToPath(import.meta.url);
const everyFile = [...srcFiles, ...walk(join(ROOT, 'test')), ...walk(join(ROOT, 'bench')), ...walk(join(ROOT, 'scripts')), ...walk(join(ROOT, 'bin'))].filter((f) => f !== SELF);
const text = new Map(everyFile.map((f) => [f, readFileSync(f, 'utf8')]));

interface Import {
  target: string;
  typeOnly: boolean;
}

/** Relative imports and re-exports of a module, resolved to files. */
function importsOf(file: string): Import[] {
  const out: Import[] = [];
  const source = text.get(file)!;
  for (const m of source.matchAll(/^\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s+'(\.[^']+)'/gm)) {
    const names = m[3]!;
    // `import { type A, type B }` is erased too.
    const typeOnly = m[2] !== undefined || (/^\{[^}]*\}$/.test(names.trim()) && names.replace(/[{}\s]/g, '').split(',').filter(Boolean).every((n) => n.startsWith('type')));
    out.push({ target: resolve(dirname(file), m[4]!), typeOnly });
  }
  for (const m of source.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)) out.push({ target: resolve(dirname(file), m[1]!), typeOnly: false });
  return out;
}

const folderOf = (file: string): string => relative(SRC, file).split('/')[0]!;

describe('guardrails', () => {
  test('imports follow the direction lib ← store ← registry ← {health, dns, orchestrator} ← api ← cli', () => {
    const problems: string[] = [];
    for (const file of srcFiles) {
      const from = folderOf(file);
      const allowed = ALLOWED[from];
      if (!allowed) {
        problems.push(`src/${from}/ is not in ALLOWED (test/guardrails.test.ts): add it in its place in the direction`);
        continue;
      }
      for (const { target } of importsOf(file)) {
        if (!target.startsWith(SRC + '/')) continue;
        const to = folderOf(target);
        const rel = relative(ROOT, file);
        if (to === from) {
          // Domain code never imports its own handlers (the handlers import the domain).
          if (!isTest(file) && target.includes('/ops/') && !file.includes('/ops/')) problems.push(`${rel} imports the handler module ${relative(ROOT, target)}`);
          continue;
        }
        if (!allowed.includes(to)) problems.push(`${rel} imports src/${to}/ (src/${from}/ may import: ${allowed.join(', ') || 'nothing'})`);
        if (isTest(file)) continue;
        const inner = relative(join(SRC, to), target);
        if (inner === 'ops/index.ts') {
          if (!HANDLER_IMPORTERS.has(from)) problems.push(`${rel} imports handlers of src/${to}/ (only ${[...HANDLER_IMPORTERS].join(' and ')} wire handlers)`);
        } else if (inner !== 'index.ts') {
          problems.push(`${rel} imports ${relative(ROOT, target)}: other folders go through src/${to}/index.ts`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  test('no import cycle among the modules of src/', () => {
    const graph = new Map<string, string[]>();
    for (const file of srcFiles) {
      if (isTest(file)) continue;
      graph.set(file, importsOf(file).filter((i) => !i.typeOnly && text.has(i.target)).map((i) => i.target));
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (node: string, path: string[]): void => {
      state.set(node, 'visiting');
      for (const next of graph.get(node) ?? []) {
        if (state.get(next) === 'visiting') cycles.push([...path.slice(path.indexOf(next)), next].map((f) => relative(ROOT, f)).join(' → '));
        else if (!state.has(next)) visit(next, [...path, next]);
      }
      state.set(node, 'done');
    };
    for (const node of graph.keys()) if (!state.has(node)) visit(node, [node]);
    assert.deepEqual(cycles, []);
  });

  test('every export is used somewhere else', () => {
    const unused: string[] = [];
    for (const file of srcFiles) {
      if (file.endsWith('/index.ts') || file.endsWith('.test.ts')) continue;
      const rel = relative(ROOT, file);
      const source = text.get(file)!;
      const folderIndex = text.get(join(dirname(file), 'index.ts')) ?? '';
      // `export * from './x.ts'` in the folder's index makes every export of x public on purpose.
      const starred = new RegExp(`export \\* from '\\./${file.slice(dirname(file).length + 1).replace('.', '\\.')}'`).test(folderIndex);
      for (const m of source.matchAll(/^export\s+(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:const|let|function\*?|class|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm)) {
        const name = m[1]!;
        const word = new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`);
        let used = starred;
        for (const [other, body] of text) {
          if (used) break;
          if (other !== file && word.test(body)) used = true;
        }
        if (!used) unused.push(`${rel}: ${name}`);
      }
    }
    assert.deepEqual(unused, [], 'exports nothing else uses: drop the export (or the code)');
  });

  test(`no source file of src/ over ${MAX_SOURCE_LINES} lines`, () => {
    const oversized: string[] = [];
    for (const file of srcFiles) {
      if (isTest(file)) continue;
      const rel = relative(ROOT, file);
      const lines = text.get(file)!.split('\n').length - 1;
      if (lines > MAX_SOURCE_LINES && !(rel in OVERSIZED)) oversized.push(`${rel}: ${lines} lines`);
    }
    assert.deepEqual(oversized, [], 'split these by responsibility');
  });

  test('the repository stands alone: citations point at its own docs', () => {
    const docs = new Map<string, Set<string>>();
    const anchorsOf = (doc: string): Set<string> => {
      let set = docs.get(doc);
      if (!set) {
        set = new Set<string>();
        for (const m of readFileSync(join(ROOT, 'docs', doc), 'utf8').matchAll(/^#+\s+(.+)$/gm)) {
          // GitHub's anchors: lower case, punctuation dropped, spaces to hyphens.
          set.add(m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s-]/gu, '').replace(/\s/g, '-'));
        }
        docs.set(doc, set);
      }
      return set;
    };
    const problems: string[] = [];
    const markdown = [...walk(SRC, /\.md$/), ...walk(join(ROOT, 'docs'), /\.md$/), ...walk(join(ROOT, 'bench'), /\.md$/), join(ROOT, 'README.md')];
    const files = [...everyFile, ...markdown, join(ROOT, '.ci/run')];
    for (const file of files) {
      const body = text.get(file) ?? readFileSync(file, 'utf8');
      const rel = relative(ROOT, file);
      if (/CLOUDMAP-SPEC|ROUTE53-SPEC|\.\.\/shared\b|\/work\/shared/.test(body)) problems.push(`${rel} cites a document outside the repository`);
      for (const m of body.matchAll(/docs\/([a-z0-9-]+\.md)((?:#[a-z0-9-]+)(?:, #[a-z0-9-]+)*)/g)) {
        for (const anchor of m[2]!.split(/, ?/).map((a) => a.replace(/^#/, ''))) {
          if (!anchorsOf(m[1]!).has(anchor)) problems.push(`${rel} cites docs/${m[1]}#${anchor}, which has no such section`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});
