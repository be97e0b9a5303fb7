import { handlerBinder } from '../../lib/index.ts';
import type { Registry } from '../registry.ts';
import { Input } from '../validate.ts';
import type { CloudMapHandler, Out } from './common.ts';
import { DeregisterInstance, DiscoverInstances, DiscoverInstancesRevision, GetInstance, GetInstancesHealthStatus, ListInstances, RegisterInstance, UpdateInstanceCustomHealthStatus } from './instances.ts';
import {
  CreateHttpNamespace,
  CreatePrivateDnsNamespace,
  CreatePublicDnsNamespace,
  DeleteNamespace,
  GetNamespace,
  ListNamespaces,
  UpdateHttpNamespace,
  UpdatePrivateDnsNamespace,
  UpdatePublicDnsNamespace,
} from './namespaces.ts';
import { GetOperation, ListOperations } from './operations.ts';
import { CreateService, DeleteService, DeleteServiceAttributes, GetService, GetServiceAttributes, ListServices, UpdateService, UpdateServiceAttributes } from './services.ts';
import { ListTagsForResource, TagResource, UntagResource } from './tags.ts';

export type { CloudMapHandler } from './common.ts';

/** The 30 operations of the current Cloud Map model, as `X-Amz-Target` names them (docs/compatibility.md#models). */
export const REGISTRY_OPERATIONS = [
  'CreateHttpNamespace',
  'CreatePrivateDnsNamespace',
  'CreatePublicDnsNamespace',
  'UpdateHttpNamespace',
  'UpdatePrivateDnsNamespace',
  'UpdatePublicDnsNamespace',
  'GetNamespace',
  'ListNamespaces',
  'DeleteNamespace',
  'CreateService',
  'GetService',
  'ListServices',
  'UpdateService',
  'DeleteService',
  'GetServiceAttributes',
  'UpdateServiceAttributes',
  'DeleteServiceAttributes',
  'RegisterInstance',
  'DeregisterInstance',
  'GetInstance',
  'ListInstances',
  'GetInstancesHealthStatus',
  'UpdateInstanceCustomHealthStatus',
  'DiscoverInstances',
  'DiscoverInstancesRevision',
  'GetOperation',
  'ListOperations',
  'TagResource',
  'UntagResource',
  'ListTagsForResource',
] as const;
export type RegistryOperation = (typeof REGISTRY_OPERATIONS)[number];

/** Every Cloud Map operation and its handler; a missing or extra one is a compile error. */
export const cloudMapOps = {
  CreateHttpNamespace,
  CreatePrivateDnsNamespace,
  CreatePublicDnsNamespace,
  UpdateHttpNamespace,
  UpdatePrivateDnsNamespace,
  UpdatePublicDnsNamespace,
  GetNamespace,
  ListNamespaces,
  DeleteNamespace,
  CreateService,
  GetService,
  ListServices,
  UpdateService,
  DeleteService,
  GetServiceAttributes,
  UpdateServiceAttributes,
  DeleteServiceAttributes,
  RegisterInstance,
  DeregisterInstance,
  GetInstance,
  ListInstances,
  GetInstancesHealthStatus,
  UpdateInstanceCustomHealthStatus,
  DiscoverInstances,
  DiscoverInstancesRevision,
  GetOperation,
  ListOperations,
  TagResource,
  UntagResource,
  ListTagsForResource,
} satisfies Record<RegistryOperation, CloudMapHandler>;

/** The operations of one registry: untrusted parsed JSON in, the AWS output shape out. */
export type CloudMapApi = { readonly [K in RegistryOperation]: (input: unknown) => Promise<Out> };

/**
 * The handler table bound to `registry` (made once per registry): what the API's Cloud Map target
 * and the orchestrator call. Every call first checks that the registry runs, then reads the input
 * as an object (InvalidInput otherwise).
 */
export const cloudMap: (registry: Registry) => CloudMapApi = handlerBinder(cloudMapOps, (registry: Registry, input) => {
  registry.assertRunning();
  return Input.of(input);
});
