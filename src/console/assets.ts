import { hash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/**
 * The console's static files, read once at start and kept in memory (with a gzip copy): the files
 * of `public/` and, under `vendor/`, Preact and htm as the ES modules their packages ship. No build
 * step: the browser loads the modules as they are. The only change made to a file is that bare
 * `from "preact"` specifiers become relative, so no import map (an inline script) is needed and the
 * Content-Security-Policy can forbid inline scripts.
 */

/**
 * The browser files are not compiled: next to this module when it runs from src/, and still in
 * src/ when it runs compiled from dist/console/.
 */
const PUBLIC_DIR = [new URL('./public/', import.meta.url), new URL('../../src/console/public/', import.meta.url)].map((u) => fileURLToPath(u)).find((dir) => existsSync(dir));
const require = createRequire(import.meta.url);
/** The folder of a package entry point (their `exports` hide package.json). */
const distDir = (specifier: string) => dirname(require.resolve(specifier));

/** `vendor/<name>` → file in node_modules: the ES module build beside each package's CommonJS entry. */
const VENDOR: Readonly<Record<string, () => string>> = {
  'preact.mjs': () => join(distDir('preact'), 'preact.mjs'),
  'hooks.mjs': () => join(distDir('preact/hooks'), 'hooks.mjs'),
  'htm.mjs': () => join(distDir('htm'), 'htm.module.js'),
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Smaller files gain nothing from gzip. */
const GZIP_MIN_BYTES = 1024;

/**
 * Same-origin only: scripts and styles from files, API calls and the event stream to this server,
 * no framing (clickjacking), no inline script.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

interface Asset {
  type: string;
  body: Buffer;
  gzip?: Buffer;
  etag: string;
}

/** Loads the console's files; returns the handler for `GET /console/<path>` (the prefix is `mountPrefix`). */
export function consoleAssets(mountPrefix: string): (req: IncomingMessage, res: ServerResponse) => void {
  if (PUBLIC_DIR === undefined) throw new Error('console: src/console/public/ not found');
  const assets = new Map<string, Asset>();
  const add = (path: string, body: Buffer) => {
    const type = TYPES[extname(path)] ?? 'application/octet-stream';
    const gzip = body.length >= GZIP_MIN_BYTES && !type.startsWith('image/png') ? gzipSync(body) : undefined;
    assets.set(path, { type, body, gzip, etag: `"${hash('sha1', body, 'base64url')}"` });
  };
  for (const file of walk(PUBLIC_DIR)) add(relative(PUBLIC_DIR, file).split(sep).join('/'), readFileSync(file));
  for (const [name, locate] of Object.entries(VENDOR)) {
    const text = readFileSync(locate(), 'utf8').replace(/from\s*"preact"/g, 'from"./preact.mjs"');
    add(`vendor/${name}`, Buffer.from(text));
  }

  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!.slice(mountPrefix.length);
    const asset = assets.get(path === '' ? 'index.html' : path);
    if (!asset) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
      res.end('not found\n');
      return;
    }
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      'Content-Type': asset.type,
      ETag: asset.etag,
      // Revalidate every time: a restarted server with a newer console must not be mixed with cached modules.
      'Cache-Control': 'no-cache',
      Vary: 'Accept-Encoding',
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = asset.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip! : asset.body;
    if (gzip) headers['Content-Encoding'] = 'gzip';
    headers['Content-Length'] = body.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}
