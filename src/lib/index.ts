export * from './errors.ts';
export * from './clock.ts';
export * from './ids.ts';
export * from './log.ts';
export * from './metrics.ts';
export * from './retry.ts';
export * from './abort.ts';
export * from './handlers.ts';
