/**
 * Headless Chromium for the console tests and benchmarks: Debian's `chromium` driven by
 * playwright-core (no browser download). One browser per test file; each test opens its own
 * context (fresh cookies). Missing chromium skips the tests with the reason, and fails them when
 * CI=true (`.ci/run` installs it).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { requireOrSkip } from './helpers.ts';

export const CHROMIUM = process.env['PHAROS_CHROMIUM'] ?? '/usr/bin/chromium';

/** Quiet, offline, reproducible: nothing but the page under test talks to the network. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** The skip reason when chromium is missing (throws under CI=true). */
export const browserSkip = requireOrSkip(existsSync(CHROMIUM), `chromium (${CHROMIUM})`) ?? false;

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (cookies, storage) with the given viewport and colour scheme. */
  context(options?: { width?: number; height?: number; dark?: boolean }): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** Launches chromium; playwright gives it a fresh temporary user-data-dir and deletes it on close. */
export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  return {
    browser,
    context: ({ width = 1280, height = 800, dark = false } = {}) => browser.newContext({ viewport: { width, height }, colorScheme: dark ? 'dark' : 'light' }),
    close: () => browser.close(),
  };
}
