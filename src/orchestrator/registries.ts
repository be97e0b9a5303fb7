import { parseArn } from '../lib/index.ts';
import type { ServiceRecord as CloudMapService } from '../registry/index.ts';
import { invalidParameter } from './errors.ts';
import type { ServiceRegistry, TaskDefinitionRecord } from './model.ts';
import { int, objects, str, type Json } from './validate.ts';

/** ECS allows one registry per service (docs/compatibility.md#service-registries). */
const MAX_SERVICE_REGISTRIES = 1;

/** The messages AWS returns for these rules (docs/compatibility.md#service-registries). */
export const REGISTRY_MESSAGES = {
  portAndContainer: "Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both. Remove one and retry.",
  containerPortNotRequired: "The values specified for serviceRegistries do not require a value for 'containerPort'. Remove the value and retry.",
  portNotRequired: "The values specified for serviceRegistries do not require a value for 'port'. Remove the value and retry.",
  srvNeedsPort: "When specifying 'awsvpc' for networkMode and a service registry with SRV records, you must specify a value for either 'port' or the 'containerName' and 'containerPort' combination.",
  bridgeNeedsSrv: "When specifying 'host' or 'bridge' for networkMode, the service registry must use SRV records; A records are not supported.",
  bridgeNeedsContainer: "When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must be specified from the task definition.",
  noneUnsupported: "Service discovery is not supported with networkMode 'none'.",
} as const;

/** The Cloud Map service id of a registry ARN (`arn:aws:servicediscovery:…:service/srv-…`). */
export function registryServiceId(registryArn: string): string | undefined {
  const arn = parseArn(registryArn);
  if (!arn || arn.service !== 'servicediscovery') return undefined;
  const m = /^service\/(srv-[a-z0-9]+)$/.exec(arn.resource);
  return m?.[1];
}

/** Parses the shape of `serviceRegistries` (no cross-checks yet). */
export function parseServiceRegistries(input: Json): ServiceRegistry[] | undefined {
  const list = objects(input, 'serviceRegistries', { max: MAX_SERVICE_REGISTRIES });
  if (!list) return undefined;
  return list.map((r, i) => {
    const p = `serviceRegistries[${i}]`;
    const out: ServiceRegistry = { registryArn: str(r, `${p}.registryArn`, { required: true, max: 2048 })! };
    const port = int(r, `${p}.port`, { min: 1, max: 65535 });
    const containerName = str(r, `${p}.containerName`, { max: 255 });
    const containerPort = int(r, `${p}.containerPort`, { min: 1, max: 65535 });
    if (port !== undefined) out.port = port;
    if (containerName !== undefined) out.containerName = containerName;
    if (containerPort !== undefined) out.containerPort = containerPort;
    return out;
  });
}

/**
 * Checks the registries against the task definition and the Cloud Map services they name, with the
 * rules and messages of docs/compatibility.md#service-registries. `lookup` reads a Cloud Map service by id.
 */
export function checkServiceRegistries(
  registries: readonly ServiceRegistry[],
  taskDefinition: Pick<TaskDefinitionRecord, 'networkMode' | 'containerDefinitions'>,
  lookup: (serviceId: string) => CloudMapService | undefined,
): void {
  for (const reg of registries) {
    const serviceId = registryServiceId(reg.registryArn);
    if (!serviceId) throw invalidParameter(`The registryArn ${reg.registryArn} is not the ARN of a Cloud Map service (arn:aws:servicediscovery:<region>:<account>:service/srv-...).`);
    const service = lookup(serviceId);
    if (!service) throw invalidParameter(`The service registry ${reg.registryArn} does not exist.`);
    const mode = taskDefinition.networkMode;
    if (mode === 'none') throw invalidParameter(REGISTRY_MESSAGES.noneUnsupported);
    const types = new Set((service.dnsConfig?.dnsRecords ?? []).map((r) => r.type));
    const hasSrv = types.has('SRV');
    const hasContainer = reg.containerName !== undefined || reg.containerPort !== undefined;
    if (mode === 'bridge' || mode === 'host') {
      if (!hasSrv && types.size > 0) throw invalidParameter(REGISTRY_MESSAGES.bridgeNeedsSrv);
      if (reg.port !== undefined && hasContainer) throw invalidParameter(REGISTRY_MESSAGES.portAndContainer);
      if (hasSrv || types.size === 0) {
        // HTTP-only Cloud Map services carry no records, but ECS still writes AWS_INSTANCE_PORT for bridge/host.
        if (reg.containerName === undefined || reg.containerPort === undefined) throw invalidParameter(REGISTRY_MESSAGES.bridgeNeedsContainer);
      }
    } else {
      if (reg.port !== undefined && hasContainer) throw invalidParameter(REGISTRY_MESSAGES.portAndContainer);
      if (!hasSrv) {
        if (reg.containerPort !== undefined || reg.containerName !== undefined) throw invalidParameter(REGISTRY_MESSAGES.containerPortNotRequired);
        if (reg.port !== undefined) throw invalidParameter(REGISTRY_MESSAGES.portNotRequired);
      } else if (reg.port === undefined && (reg.containerName === undefined || reg.containerPort === undefined)) {
        throw invalidParameter(REGISTRY_MESSAGES.srvNeedsPort);
      }
    }
    if (reg.containerName !== undefined && reg.containerPort !== undefined) {
      const container = taskDefinition.containerDefinitions.find((c) => c.name === reg.containerName);
      if (!container) throw invalidParameter(`The container ${reg.containerName} does not exist in the task definition.`);
      if (!container.portMappings.some((m) => m.containerPort === reg.containerPort)) {
        throw invalidParameter(`The container ${reg.containerName} did not have a container port ${reg.containerPort} defined.`);
      }
    }
  }
}

/**
 * The port to register as `AWS_INSTANCE_PORT`: the registry's `port`, or the host port bound to
 * `containerName:containerPort`. Undefined when no port applies.
 */
export function registryPort(reg: ServiceRegistry, taskDefinition: Pick<TaskDefinitionRecord, 'containerDefinitions'>): number | undefined {
  if (reg.port !== undefined) return reg.port;
  if (reg.containerName === undefined || reg.containerPort === undefined) return undefined;
  const container = taskDefinition.containerDefinitions.find((c) => c.name === reg.containerName);
  const mapping = container?.portMappings.find((m) => m.containerPort === reg.containerPort);
  return mapping ? mapping.hostPort || mapping.containerPort : undefined;
}
