/** Public surface of the web console: its static files. The console itself runs in the browser (public/). See README.md. */
export { consoleAssets } from './assets.ts';
