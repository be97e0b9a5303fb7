#!/usr/bin/env node
// Runs the compiled JavaScript in dist/ (built from src/ by `npm run build`; `npm ci` and
// `npm start` build it when it is missing or stale). Stack traces point into src/ through the
// source maps.
process.setSourceMapsEnabled(true);
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/cli/main.js')) throw err;
  process.stderr.write('pharos: dist/ is not built; run `npm run build` (npm ci and npm start do it)\n');
  process.exit(1);
}
process.exitCode = await cli.main(process.argv.slice(2));
