import { handlerBinder } from '../../lib/index.ts';
import type { EcsApi } from '../api.ts';
import { body, type Json } from '../validate.ts';
import { CreateCluster, DeleteCluster, DescribeClusters, ListClusters } from './clusters.ts';
import { CreateService, DeleteService, DescribeServices, ListServices, UpdateService } from './services.ts';
import { ListTagsForResource, TagResource, UntagResource } from './tags.ts';
import { DeregisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions, RegisterTaskDefinition } from './taskdefs.ts';
import { DescribeTasks, GetTaskLogs, ListTasks, RunTask, StopTask } from './tasks.ts';
import { DeregisterContainerInstance, DescribeContainerInstances, ListContainerInstances, RegisterContainerInstance, UpdateContainerInstancesState } from './instances.ts';
import { PollAgentTasks, SubmitAgentTaskRegistration, SubmitAgentTaskState } from './agents.ts';

/** The ECS operations Pharos serves (docs/compatibility.md#ecs-operations), plus Pharos extensions: `GetTaskLogs` and the agent's operations. */
export const ECS_OPERATIONS = [
  'CreateCluster',
  'DescribeClusters',
  'ListClusters',
  'DeleteCluster',
  'RegisterTaskDefinition',
  'DescribeTaskDefinition',
  'ListTaskDefinitions',
  'DeregisterTaskDefinition',
  'CreateService',
  'UpdateService',
  'DescribeServices',
  'ListServices',
  'DeleteService',
  'RunTask',
  'StopTask',
  'ListTasks',
  'DescribeTasks',
  'TagResource',
  'UntagResource',
  'ListTagsForResource',
  'GetTaskLogs',
  'RegisterContainerInstance',
  'ListContainerInstances',
  'DescribeContainerInstances',
  'UpdateContainerInstancesState',
  'DeregisterContainerInstance',
  // Pharos extensions that `pharos agent` calls (ops/agents.ts).
  'PollAgentTasks',
  'SubmitAgentTaskState',
  'SubmitAgentTaskRegistration',
] as const;
export type EcsOperation = (typeof ECS_OPERATIONS)[number];

/** An ECS operation: the shared state and the untrusted JSON body in, the ECS output shape out (or a PharosError with the ECS code). */
export type EcsHandler = (ecs: EcsApi, b: Json) => Promise<unknown>;

/** Every ECS operation and its handler; a missing or extra one is a compile error. */
export const ecsOps = {
  CreateCluster,
  DescribeClusters,
  ListClusters,
  DeleteCluster,
  RegisterTaskDefinition,
  DescribeTaskDefinition,
  ListTaskDefinitions,
  DeregisterTaskDefinition,
  CreateService,
  UpdateService,
  DescribeServices,
  ListServices,
  DeleteService,
  RunTask,
  StopTask,
  ListTasks,
  DescribeTasks,
  TagResource,
  UntagResource,
  ListTagsForResource,
  GetTaskLogs,
  RegisterContainerInstance,
  ListContainerInstances,
  DescribeContainerInstances,
  UpdateContainerInstancesState,
  DeregisterContainerInstance,
  PollAgentTasks,
  SubmitAgentTaskState,
  SubmitAgentTaskRegistration,
} satisfies Record<EcsOperation, EcsHandler>;

/** The operations of one `EcsApi`: untrusted parsed JSON in, the ECS output shape out. */
export type EcsOps = { readonly [K in EcsOperation]: (input: unknown) => Promise<unknown> };

/** The handler table bound to `api` (made once per api): what the API's ECS target calls. */
export const ecs: (api: EcsApi) => EcsOps = handlerBinder(ecsOps, (_api: EcsApi, input) => body(input));
