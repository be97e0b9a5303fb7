import { parseArn } from '../../lib/index.ts';
import { invalidInput, operationNotFound } from '../errors.ts';
import type { OperationRecord } from '../model.ts';
import { operationOut } from '../output.ts';
import { byKey, page } from '../paging.ts';
import type { Registry } from '../registry.ts';
import { checkEnum, type Input } from '../validate.ts';
import { oneValue, ownedHere, readFilters, readPaging, type Out } from './common.ts';

/** GetOperation and ListOperations: the read side of the asynchronous operation engine. */

const OPERATION_FILTER_NAMES = ['NAMESPACE_ID', 'SERVICE_ID', 'STATUS', 'TYPE', 'UPDATE_DATE'] as const;
const OPERATION_STATUSES = ['SUBMITTED', 'PENDING', 'SUCCESS', 'FAIL'] as const;
const OPERATION_TYPES = ['CREATE_NAMESPACE', 'DELETE_NAMESPACE', 'UPDATE_NAMESPACE', 'UPDATE_SERVICE', 'REGISTER_INSTANCE', 'DEREGISTER_INSTANCE'] as const;

export async function GetOperation(reg: Registry, r: Input): Promise<Out> {
  const id = r.str('OperationId', { required: true, max: 255 });
  if (!ownedHere(reg, r)) throw operationNotFound(id);
  const rec = await reg.operations.lookup(id);
  if (!rec) throw operationNotFound(id);
  return { Operation: operationOut(rec, reg.accountId) };
}

export async function ListOperations(reg: Registry, r: Input): Promise<Out> {
  const { token, max } = readPaging(r);
  const filters = readFilters(r, OPERATION_FILTER_NAMES, (name, condition, values, path) => {
    switch (name) {
      case 'NAMESPACE_ID':
      case 'SERVICE_ID': {
        if (condition !== 'EQ') throw invalidInput(`${path}.Condition: ${name} supports only EQ`);
        oneValue(values, path);
        const target = name === 'NAMESPACE_ID' ? 'NAMESPACE' : 'SERVICE';
        const v = values[0]!.startsWith('arn:') ? (parseArn(values[0]!)?.resource.replace(/^(namespace|service)\//, '') ?? values[0]!) : values[0]!;
        return (op: OperationRecord) => op.targets[target] === v;
      }
      case 'STATUS':
      case 'TYPE': {
        if (condition !== 'EQ' && condition !== 'IN') throw invalidInput(`${path}.Condition: ${name} supports EQ and IN`);
        if (condition === 'EQ') oneValue(values, path);
        const allowed: readonly string[] = name === 'STATUS' ? OPERATION_STATUSES : OPERATION_TYPES;
        values.forEach((v, i) => checkEnum(`${path}.Values[${i}]`, v, allowed));
        return name === 'STATUS' ? (op: OperationRecord) => values.includes(op.status) : (op: OperationRecord) => values.includes(op.type);
      }
      case 'UPDATE_DATE': {
        if (condition !== 'BETWEEN') throw invalidInput(`${path}.Condition: UPDATE_DATE requires BETWEEN`);
        if (values.length !== 2) throw invalidInput(`${path}.Values: BETWEEN needs exactly two values (start, end)`);
        const [start, end] = values.map((v, i) => {
          const n = Number(v);
          if (!Number.isFinite(n)) throw invalidInput(`${path}.Values[${i}]: must be a timestamp in epoch seconds`);
          return n * 1000;
        }) as [number, number];
        if (start > end) throw invalidInput(`${path}.Values: the start must not be after the end`);
        return (op: OperationRecord) => op.updateDate >= start && op.updateDate <= end;
      }
    }
  });
  const keyOf = (op: OperationRecord) => `${String(op.createDate).padStart(16, '0')}|${op.id}`;
  const all: OperationRecord[] = [];
  for (const rec of reg.operations.committed()) if (filters.every((f) => f(rec))) all.push(rec);
  all.sort(byKey(keyOf));
  const p = page('op', all, keyOf, token, max);
  const out: Out = { Operations: p.items.map((op) => ({ Id: op.id, Status: op.status })) };
  if (p.nextToken) out['NextToken'] = p.nextToken;
  return out;
}
