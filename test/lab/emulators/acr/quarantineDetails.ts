// Validation of `quarantineDetails` (a string holding JSON) against quarantine-details.schema.json.
// The schema is draft-04, which ajv 8 no longer reads; it uses only the handful of keywords
// interpreted below, so the schema file stays the single source of truth.
import schemaJson from './quarantine-details.schema.json';

interface SchemaNode {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean;
  required?: string[];
  items?: SchemaNode;
  minItems?: number;
  maxItems?: number;
  maxLength?: number;
  $ref?: string;
  definitions?: Record<string, SchemaNode>;
}

export const quarantineDetailsSchema = schemaJson as SchemaNode;

/** Errors of `details` (the decoded JSON) against the schema; empty when valid. */
export function schemaErrors(value: unknown, schema: SchemaNode = quarantineDetailsSchema): string[] {
  const errors: string[] = [];
  check(value, schema, '$', schema, errors);
  return errors;
}

/** Validates the PATCH field: a string of JSON matching the schema. */
export function quarantineDetailsErrors(details: unknown): string[] {
  if (typeof details !== 'string') return ['quarantineDetails must be a string holding JSON'];
  let parsed: unknown;
  try {
    parsed = JSON.parse(details);
  } catch {
    return ['quarantineDetails is not valid JSON'];
  }
  return schemaErrors(parsed);
}

function check(value: unknown, node: SchemaNode, where: string, root: SchemaNode, errors: string[]): void {
  if (node.$ref) {
    const target = resolve(node.$ref, root);
    if (!target) errors.push(`${where}: unresolvable $ref ${node.$ref}`);
    else check(value, target, where, root, errors);
    return;
  }
  if (node.type && !hasType(value, node.type)) {
    errors.push(`${where}: must be ${node.type}`);
    return;
  }
  if (node.enum && !node.enum.includes(value)) errors.push(`${where}: must be one of ${node.enum.join(', ')}`);
  if (typeof value === 'string' && node.maxLength !== undefined && [...value].length > node.maxLength) {
    errors.push(`${where}: longer than ${node.maxLength} characters`);
  }
  if (Array.isArray(value)) {
    if (node.minItems !== undefined && value.length < node.minItems) errors.push(`${where}: fewer than ${node.minItems} items`);
    if (node.maxItems !== undefined && value.length > node.maxItems) errors.push(`${where}: more than ${node.maxItems} items`);
    if (node.items) value.forEach((item, index) => check(item, node.items as SchemaNode, `${where}[${index}]`, root, errors));
  }
  if (isObject(value)) {
    for (const name of node.required ?? []) if (!(name in value)) errors.push(`${where}: missing ${name}`);
    for (const [name, child] of Object.entries(value)) {
      const property = node.properties?.[name];
      if (property) check(child, property, `${where}.${name}`, root, errors);
      else if (node.additionalProperties === false) errors.push(`${where}: unexpected property ${name}`);
    }
  }
}

function resolve(ref: string, root: SchemaNode): SchemaNode | undefined {
  const match = /^#\/definitions\/([^/]+)$/.exec(ref);
  return match ? root.definitions?.[match[1]] : undefined;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      return false;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
