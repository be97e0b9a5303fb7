import { InputReader, PharosError, type InputWording } from '../lib/index.ts';
import { INVALID_PARAMETER } from './errors.ts';

/**
 * Readers for untrusted JSON bodies (`src/lib/input.ts`, in ECS's wording). Each returns the typed
 * value or throws a PharosError (by default InvalidParameterException; a rule's `code` for fields
 * where ECS answers ClientException) whose message names the field, so no malformed body ever
 * reaches the domain code. `path` is the field's dotted name as the caller would know it
 * (`containerDefinitions[0].name`); the member read is its last segment.
 */

export { isObject, type Json } from '../lib/index.ts';

/** ECS's wording: the field's path, what it must be, a full stop. */
const ECS_WORDING: InputWording = {
  body: 'The request body must be a JSON object.',
  required: (path) => `${path} must be provided.`,
  kind: (path, expected) => {
    const shown = { string: 'a string', integer: 'an integer', boolean: 'a boolean', object: 'an object', map: 'an object', list: 'a list' }[expected];
    return `${path} must be ${shown}.`;
  },
  length: (path, bound, n) => `${path} must be at ${bound === 'min' ? 'least' : 'most'} ${n} characters long.`,
  pattern: (path, _pattern, help) => `${path} ${help ?? 'has an invalid format.'}`,
  oneOf: (path, values) => `${path} must be one of ${values.join(', ')}.`,
  range: (path, value, min, max) => (min !== undefined && value < min ? `${path} must be at least ${min}.` : `${path} must be at most ${max}.`),
  count: (path, _kind, bound, n) => `${path} must contain at ${bound === 'min' ? 'least' : 'most'} ${n} item(s).`,
};

const read = new InputReader(ECS_WORDING, (message, code) => new PharosError(code ?? INVALID_PARAMETER, message));

export const body = read.body.bind(read);
export const str = read.str.bind(read);
export const int = read.int.bind(read);
export const bool = read.bool.bind(read);
export const obj = read.obj.bind(read);
export const arr = read.list.bind(read);
export const objects = read.objects.bind(read);
export const strings = read.strings.bind(read);
