import { PharosError } from '../lib/index.ts';

/*
 * Every runtime error is a PharosError with a stable `code`. Messages start with the ECS
 * stop-reason category (`CannotStartContainerError:`, `ResourceInitializationError:`), so the
 * orchestrator can put `err.message` straight into a task's `stoppedReason`.
 */

export const RUNTIME_EXECUTABLE_NOT_FOUND = 'RuntimeExecutableNotFound';
export const RUNTIME_BAD_CONTAINER_SPEC = 'RuntimeBadContainerSpec';
export const RUNTIME_PORT_IN_USE = 'RuntimePortInUse';
export const RUNTIME_TASK_CIDR_EXHAUSTED = 'RuntimeTaskCidrExhausted';
export const RUNTIME_NETNS_UNSUPPORTED = 'RuntimeNetnsUnsupported';
export const RUNTIME_NETWORK_MODE_UNSUPPORTED = 'RuntimeNetworkModeUnsupported';
export const RUNTIME_SETUP_FAILED = 'RuntimeSetupFailed';
export const RUNTIME_SPAWN_FAILED = 'RuntimeSpawnFailed';
export const RUNTIME_TASK_EXISTS = 'RuntimeTaskExists';
export const RUNTIME_TASK_STOPPED = 'RuntimeTaskStopped';
export const RUNTIME_CLOSED = 'RuntimeClosed';
export const RUNTIME_ABORTED = 'RuntimeAborted';
export const RUNTIME_BAD_CONFIG = 'RuntimeBadConfig';
export const RUNTIME_IMAGE_PULL_FAILED = 'RuntimeImagePullFailed';
export const RUNTIME_ENGINE_UNAVAILABLE = 'RuntimeEngineUnavailable';
export const RUNTIME_ENGINE_FAILED = 'RuntimeEngineFailed';
export const RUNTIME_DEPENDENCY_FAILED = 'RuntimeDependencyFailed';

/** The container's executable does not exist or is not executable (ENOENT/EACCES). */
export class ExecutableNotFoundError extends PharosError {
  constructor(container: string, executable: string, detail = 'not found') {
    super(RUNTIME_EXECUTABLE_NOT_FOUND, `CannotStartContainerError: container ${container}: executable "${executable}" ${detail}`, {
      fields: { container, executable },
    });
  }
}

/** The spec cannot be run as given (no command, bad port, missing working directory, ...). */
export class BadContainerSpecError extends PharosError {
  constructor(message: string, fields: Record<string, unknown> = {}) {
    super(RUNTIME_BAD_CONTAINER_SPEC, `CannotStartContainerError: ${message}`, { fields });
  }
}

/** A host port mapping is taken by another process or another task. */
export class PortInUseError extends PharosError {
  constructor(container: string, port: number, protocol: string, cause?: unknown) {
    super(RUNTIME_PORT_IN_USE, `CannotStartContainerError: container ${container}: host port ${port}/${protocol} is already in use`, {
      cause,
      fields: { container, port, protocol },
    });
  }
}

/** No free address is left in the task CIDR. */
export class TaskCidrExhaustedError extends PharosError {
  constructor(cidr: string) {
    super(RUNTIME_TASK_CIDR_EXHAUSTED, `ResourceInitializationError: no free address left in task CIDR ${cidr}`, { fields: { cidr } });
  }
}

/** Network namespaces cannot be made here (not Linux, not root, no `ip`/`nsenter`). */
export class NetnsUnsupportedError extends PharosError {
  constructor(reason: string) {
    super(RUNTIME_NETNS_UNSUPPORTED, `ResourceInitializationError: awsvpc tasks need network namespaces: ${reason}`, { fields: { reason } });
  }
}

export class NetworkModeUnsupportedError extends PharosError {
  constructor(mode: string, supported: readonly string[]) {
    super(RUNTIME_NETWORK_MODE_UNSUPPORTED, `ResourceInitializationError: network mode ${mode} is not supported by this runtime (supported: ${supported.join(', ')})`, {
      fields: { mode },
    });
  }
}

/** A host networking command (`ip ...`) failed. */
export class SetupFailedError extends PharosError {
  constructor(what: string, detail: string, cause?: unknown) {
    super(RUNTIME_SETUP_FAILED, `ResourceInitializationError: ${what}: ${detail}`, { cause, fields: { what } });
  }
}

/** spawn() failed for a reason other than a missing executable. */
export class SpawnFailedError extends PharosError {
  constructor(container: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(RUNTIME_SPAWN_FAILED, `CannotStartContainerError: container ${container}: ${detail}`, { cause, fields: { container } });
  }
}

export class TaskExistsError extends PharosError {
  constructor(taskId: string) {
    super(RUNTIME_TASK_EXISTS, `CannotStartContainerError: task ${taskId} is already running`, { fields: { taskId } });
  }
}

export class TaskStoppedError extends PharosError {
  constructor(taskId: string) {
    super(RUNTIME_TASK_STOPPED, `task ${taskId} is stopped`, { fields: { taskId } });
  }
}

export class RuntimeClosedError extends PharosError {
  constructor() {
    super(RUNTIME_CLOSED, 'runtime is closed');
  }
}

export class RuntimeAbortedError extends PharosError {
  constructor(taskId: string) {
    super(RUNTIME_ABORTED, `task ${taskId}: start aborted`, { fields: { taskId } });
  }
}

/** A runtime option (task CIDR, bridge name, prefixes) is not valid. */
export class BadRuntimeConfigError extends PharosError {
  constructor(message: string) {
    super(RUNTIME_BAD_CONFIG, message);
  }
}

/** The image is not present locally and pulling it failed (ECS: CannotPullContainerError). */
export class ImagePullFailedError extends PharosError {
  constructor(image: string, detail: string, cause?: unknown) {
    super(RUNTIME_IMAGE_PULL_FAILED, `CannotPullContainerError: pull image "${image}": ${detail}`, { cause, fields: { image } });
  }
}

/** No container engine answers on the configured endpoint. */
export class EngineUnavailableError extends PharosError {
  constructor(endpoint: string, detail: string, cause?: unknown) {
    super(RUNTIME_ENGINE_UNAVAILABLE, `ResourceInitializationError: container engine at ${endpoint} is not answering: ${detail}`, { cause, fields: { endpoint } });
  }
}

/** The engine refused to create or start a container (bad image config, runtime error, ...). */
export class EngineFailedError extends PharosError {
  constructor(container: string, what: string, detail: string, cause?: unknown) {
    super(RUNTIME_ENGINE_FAILED, `CannotStartContainerError: container ${container}: ${what}: ${detail}`, { cause, fields: { container } });
  }
}

/** A `dependsOn` condition cannot be met (the dependency failed, exited, or timed out). */
export class DependencyFailedError extends PharosError {
  constructor(container: string, dependency: string, condition: string, why: string) {
    super(RUNTIME_DEPENDENCY_FAILED, `CannotStartContainerError: container ${container}: dependency ${dependency} (${condition}): ${why}`, {
      fields: { container, dependency, condition },
    });
  }
}
