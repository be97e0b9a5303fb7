/** Public surface of `pharos agent` (a container instance over the API). See README.md. */
export { startAgent, type AgentOptions, type RunningAgent } from './agent.ts';
export { AgentClient, AGENT_UNREACHABLE, type AgentClientOptions } from './client.ts';
export { ApiTaskSource } from './source.ts';
export { signRequest, type AwsCredentials } from './sign.ts';
