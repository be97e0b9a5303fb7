/**
 * Public surface of the task runtimes. See README.md and runtime.ts for the contract.
 * Coming next in this file: `ProcessRuntime`, `NetnsRuntime` and `createRuntime(options)`
 * (one `Runtime` that sends host/bridge tasks to the process runtime and awsvpc tasks to netns).
 */
export type * from './runtime.ts';
export * from './errors.ts';
