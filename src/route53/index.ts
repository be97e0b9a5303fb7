/** Route 53's view of DNS namespaces: hosted zones, their record sets, users' changes. See README.md. */
export { Route53, MAX_ZONES_PER_PAGE, MAX_RECORD_SETS_PER_PAGE, MAX_CHANGES_PER_BATCH, type Route53Options } from './route53.ts';
export { HostedZones, healthCheckId, CLOUD_MAP_PRINCIPAL, type RecordSetView, type ZoneView } from './zones.ts';
export { CHANGE_ACTIONS, type ChangeInput, type RecordSetInput, type ChangeAction } from './changes.ts';
export { ROUTE53_ERRORS, Route53Error, type Route53ErrorCode } from './errors.ts';
export { presentName, parseName, compareNames } from './names.ts';
