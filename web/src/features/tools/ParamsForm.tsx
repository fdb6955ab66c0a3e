import { useEffect, useRef, useState, type KeyboardEvent, type SyntheticEvent } from 'react';

/** The JSON Schema the server publishes for a tool's parameters (what this form understands of it). */
interface PropertySchema {
  type?: string;
  enum?: string[];
  items?: { enum?: string[] };
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  'x-roots'?: string[];
}
export interface ParamsSchema {
  properties?: Record<string, PropertySchema>;
  required?: string[];
}

export const hasParams = (schema: unknown) => Object.keys((schema as ParamsSchema | undefined)?.properties ?? {}).length > 0;

/** The server's pattern where the browser's `pattern` attribute (a regular expression with the v flag) takes it as it is; the server checks either way. */
function browserPattern(pattern: string | undefined): string | undefined {
  if (!pattern) return undefined;
  try {
    new RegExp(pattern, 'v');
    return pattern;
  } catch {
    return undefined;
  }
}

function initialValues(schema: ParamsSchema): Record<string, unknown> {
  return Object.fromEntries(Object.entries(schema.properties ?? {}).flatMap(([name, p]) => (p.default === undefined ? [] : [[name, p.default]])));
}

/**
 * A form generated from a tool's parameter schema; `errors` (the server's, by parameter) show beside
 * their fields. It opens with focus on its first field; Escape cancels it.
 */
export function ParamsForm({
  tool,
  schema,
  pending,
  errors,
  onSubmit,
  onCancel,
}: {
  tool: string;
  schema: ParamsSchema;
  pending: boolean;
  errors: Record<string, string>;
  onSubmit: (params: Record<string, unknown>) => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState<Record<string, unknown>>(() => initialValues(schema));
  const set = (name: string, value: unknown) => setValues((v) => ({ ...v, [name]: value }));
  const required = new Set(schema.required ?? []);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => form.current?.querySelector<HTMLElement>('input, select, textarea')?.focus(), []);
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key !== 'Escape') return;
    e.preventDefault();
    onCancel();
  };
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    // Empty optional fields are left out, so the server applies its defaults.
    onSubmit(Object.fromEntries(Object.entries(values).filter(([, v]) => v !== '' && v !== undefined)));
  };
  return (
    <form ref={form} className="params" onSubmit={submit} onKeyDown={onKeyDown} aria-label={`Parameters of ${tool}`}>
      {Object.entries(schema.properties ?? {}).map(([name, p]) => {
        const id = `param-${tool}-${name}`;
        const label = (
          <>
            {name}
            {required.has(name) && <span aria-hidden="true"> *</span>}
          </>
        );
        const help = p.description ?? (p['x-roots'] ? `a path under ${p['x-roots'].join(' or ')}` : undefined);
        const error = errors[name];
        const described = { 'aria-invalid': error ? true : undefined, 'aria-describedby': error ? `${id}-error` : undefined };
        const problem = error && (
          <small id={`${id}-error`} role="alert" className="error">
            {error}
          </small>
        );
        if (p.type === 'array' && p.items?.enum) {
          const chosen = (values[name] as string[] | undefined) ?? [];
          return (
            <fieldset key={name}>
              <legend>{label}</legend>
              {p.items.enum.map((option) => (
                <label key={option} className="inline">
                  <input
                    type="checkbox"
                    checked={chosen.includes(option)}
                    onChange={(e) => set(name, e.target.checked ? [...chosen, option] : chosen.filter((c) => c !== option))}
                  />{' '}
                  {option}
                </label>
              ))}
              {help && <small className="muted">{help}</small>}
              {problem}
            </fieldset>
          );
        }
        return (
          <div key={name} className="field">
            <label htmlFor={id}>{label}</label>
            {p.enum ? (
              <select id={id} {...described} value={(values[name] as string | undefined) ?? ''} required={required.has(name)} onChange={(e) => set(name, e.target.value || undefined)}>
                {!required.has(name) && p.default === undefined && <option value="">—</option>}
                {p.enum.map((option) => (
                  <option key={option}>{option}</option>
                ))}
              </select>
            ) : p.type === 'boolean' ? (
              <input id={id} {...described} type="checkbox" checked={values[name] === true} onChange={(e) => set(name, e.target.checked)} />
            ) : p.type === 'integer' ? (
              <input
                id={id}
                {...described}
                type="number"
                step={1}
                min={p.minimum}
                max={p.maximum}
                required={required.has(name)}
                value={(values[name] as number | undefined) ?? ''}
                onChange={(e) => set(name, e.target.value === '' ? undefined : Number(e.target.value))}
              />
            ) : (
              <input id={id} {...described} type="text" spellCheck={false} maxLength={p.maxLength} pattern={browserPattern(p.pattern)} required={required.has(name)} value={(values[name] as string | undefined) ?? ''} onChange={(e) => set(name, e.target.value)} />
            )}
            {help && <small className="muted">{help}</small>}
            {problem}
          </div>
        );
      })}
      <div className="actions">
        <button type="submit" className="primary" disabled={pending}>
          Run {tool}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
