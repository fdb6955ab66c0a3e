/**
 * `--param name=value` pairs as the JSON a start takes. Values come as text; each is given the type
 * the tool's parameter schema (its JSON Schema in GET /opensource-list) says: integers and booleans
 * are parsed, a list is split on commas (or given by repeating the parameter). A value that does not
 * parse is sent as it is, and the server's 400 names it.
 */
export class UsageError extends Error {}

interface PropertySchema {
  type?: string;
}

function typed(value: string, schema: PropertySchema | undefined): unknown {
  switch (schema?.type) {
    case 'integer':
    case 'number':
      return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value;
    case 'array':
      return value.split(',').filter(Boolean);
    default:
      return value;
  }
}

export function paramsOf(pairs: readonly string[], toolSchema: unknown): Record<string, unknown> {
  const properties = ((toolSchema as { properties?: Record<string, PropertySchema> } | undefined)?.properties ?? {}) as Record<string, PropertySchema | undefined>;
  const params: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param ${pair}: expected name=value`);
    const name = pair.slice(0, eq);
    const value = typed(pair.slice(eq + 1), Object.hasOwn(properties, name) ? properties[name] : undefined);
    const before = params[name];
    params[name] = Array.isArray(before) && Array.isArray(value) ? [...(before as unknown[]), ...(value as unknown[])] : value;
  }
  return params;
}
