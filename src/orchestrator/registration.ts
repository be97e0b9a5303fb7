import { isPharosError, PharosError, type Clock } from '../lib/index.ts';
import { REGISTRY_SERVICE_MISSING } from './errors.ts';
import type { RegistryView } from '../registry/index.ts';
import type { ServiceRegistry, TaskDefinitionRecord, TaskRecord, TaskRegistration } from './model.ts';
import { registryPort, registryServiceId } from './registries.ts';

/**
 * The Cloud Map writes the orchestrator needs (the consumer-owned slice of the registry's handler
 * table): the operations take the same AWS-shaped input as the API.
 */
export interface CloudMapWriter {
  RegisterInstance(input: { ServiceId: string; InstanceId: string; Attributes: Record<string, string> }): Promise<unknown>;
  DeregisterInstance(input: { ServiceId: string; InstanceId: string }): Promise<unknown>;
  UpdateInstanceCustomHealthStatus(input: { ServiceId: string; InstanceId: string; Status: 'HEALTHY' | 'UNHEALTHY' }): Promise<unknown>;
}

/** How long to wait for an asynchronous (de)registration to show in the snapshot before going on. */
const REGISTRATION_VISIBLE_TIMEOUT_MS = 5000;

/** Retries (and their spacing) while another operation on the same instance is in flight: ~2 s in all. */
const DUPLICATE_RETRIES = 80;
const DUPLICATE_RETRY_MS = 25;

/** The attributes ECS writes for a task (docs/compatibility.md#registration). */
export function instanceAttributes(
  task: TaskRecord,
  registry: ServiceRegistry,
  taskDefinition: Pick<TaskDefinitionRecord, 'containerDefinitions'>,
  region: string,
  srv: boolean,
): Record<string, string> {
  const attributes: Record<string, string> = {};
  if (task.privateIpv4Address) attributes['AWS_INSTANCE_IPV4'] = task.privateIpv4Address;
  const port = boundPort(task, registry) ?? registryPort(registry, taskDefinition);
  if (port !== undefined && (srv || registry.containerPort !== undefined || registry.port !== undefined)) {
    attributes['AWS_INSTANCE_PORT'] = String(port);
  }
  attributes['AVAILABILITY_ZONE'] = task.availabilityZone;
  attributes['REGION'] = region;
  attributes['ECS_CLUSTER_NAME'] = task.clusterName;
  if (task.serviceName !== undefined) attributes['ECS_SERVICE_NAME'] = task.serviceName;
  attributes['ECS_TASK_DEFINITION_FAMILY'] = task.family;
  return attributes;
}

/** The host port the runtime published for the registry's container port (ECS dynamic host ports in bridge mode). */
function boundPort(task: TaskRecord, registry: ServiceRegistry): number | undefined {
  if (registry.port !== undefined || registry.containerName === undefined || registry.containerPort === undefined) return undefined;
  const c = task.containers.find((x) => x.name === registry.containerName);
  return c?.networkBindings.find((b) => b.containerPort === registry.containerPort)?.hostPort;
}

/**
 * Registers service tasks in Cloud Map, keeps their custom health in step, and deregisters them.
 * Each call resolves once the change is visible in the registry snapshot (or after a bounded wait),
 * so "deregistered, then drained, then signalled" really happens in that order.
 */
/**
 * Added to the records' TTL before a deregistered task is signalled: a resolver counts the TTL
 * from when the answer arrived, which can be after the deregistration committed, and a request
 * sent just before its cache expires is still in flight. Without it a rolling deployment under
 * TTL-respecting load now and then lost a request (1 of 1,072 in one run of the ECS story test).
 */
export const DRAIN_GRACE_MS = 1000;

export class Registrar {
  constructor(
    private readonly writer: CloudMapWriter,
    private readonly view: RegistryView,
    private readonly region: string,
    private readonly clock: Clock,
  ) {}

  /** Registers the task (instance id = task id); returns what to remember on the task record. */
  async register(task: TaskRecord, registry: ServiceRegistry, taskDefinition: TaskDefinitionRecord): Promise<TaskRegistration> {
    const serviceId = registryServiceId(registry.registryArn);
    const service = serviceId === undefined ? undefined : this.view.service(serviceId);
    if (!serviceId || !service) throw new PharosError(REGISTRY_SERVICE_MISSING, `Cloud Map service ${registry.registryArn} does not exist`);
    const srv = (service.dnsConfig?.dnsRecords ?? []).some((r) => r.type === 'SRV');
    const attributes = instanceAttributes(task, registry, taskDefinition, this.region, srv);
    await this.writer.RegisterInstance({ ServiceId: serviceId, InstanceId: task.id, Attributes: attributes });
    await this.until(() => this.view.instance(serviceId, task.id) !== undefined);
    const out: TaskRegistration = { serviceId };
    if (service.healthCheckCustomConfig) out.customHealth = 'HEALTHY';
    return out;
  }

  /** Deregisters; an instance or service that is already gone counts as done. */
  async deregister(taskId: string, registration: TaskRegistration): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.writer.DeregisterInstance({ ServiceId: registration.serviceId, InstanceId: taskId });
        break;
      } catch (err) {
        if (isPharosError(err, 'InstanceNotFound') || isPharosError(err, 'ServiceNotFound')) return;
        // The registry allows one operation per instance at a time: wait for the one in flight.
        if (isPharosError(err, 'DuplicateRequest') && attempt < DUPLICATE_RETRIES) {
          await this.clock.sleep(DUPLICATE_RETRY_MS);
          continue;
        }
        throw err;
      }
    }
    await this.until(() => this.view.instance(registration.serviceId, taskId) === undefined);
  }

  /** Sends custom health when the Cloud Map service has HealthCheckCustomConfig; else does nothing. */
  async setCustomHealth(taskId: string, registration: TaskRegistration, status: 'HEALTHY' | 'UNHEALTHY'): Promise<TaskRegistration> {
    const service = this.view.service(registration.serviceId);
    if (!service?.healthCheckCustomConfig || registration.customHealth === status) return registration;
    await this.writer.UpdateInstanceCustomHealthStatus({ ServiceId: registration.serviceId, InstanceId: taskId, Status: status });
    return { ...registration, customHealth: status };
  }

  /** Whether a Cloud Map service uses custom health (so unhealthy tasks are marked, not removed). */
  hasCustomHealth(serviceId: string): boolean {
    return this.view.service(serviceId)?.healthCheckCustomConfig !== undefined;
  }

  /**
   * The default drain delay: the largest TTL of the Cloud Map service's records (0 for API-only
   * services), plus `DRAIN_GRACE_MS`.
   */
  drainDelayMs(serviceId: string): number {
    const records = this.view.service(serviceId)?.dnsConfig?.dnsRecords ?? [];
    return Math.max(0, ...records.map((r) => r.ttl)) * 1000 + DRAIN_GRACE_MS;
  }

  /** Resolves when `done()` holds (checked on every snapshot change) or after the timeout. */
  private until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        off();
        timer.cancel();
        resolve();
      };
      const off = this.view.onChange(() => {
        if (done()) finish();
      });
      const timer = this.clock.setTimeout(finish, REGISTRATION_VISIBLE_TIMEOUT_MS);
    });
  }
}
