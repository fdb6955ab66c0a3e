import { useState, type FormEvent } from 'react';

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
  format?: string;
  'x-roots'?: string[];
}
export interface ParamsSchema {
  properties?: Record<string, PropertySchema>;
  required?: string[];
}

export const hasParams = (schema: unknown) => Object.keys((schema as ParamsSchema | undefined)?.properties ?? {}).length > 0;

function initialValues(schema: ParamsSchema): Record<string, unknown> {
  return Object.fromEntries(Object.entries(schema.properties ?? {}).flatMap(([name, p]) => (p.default === undefined ? [] : [[name, p.default]])));
}

/** A form generated from a tool's parameter schema; values go to the server as they are typed. */
export function ParamsForm({ tool, schema, pending, onSubmit, onCancel }: { tool: string; schema: ParamsSchema; pending: boolean; onSubmit: (params: Record<string, unknown>) => void; onCancel: () => void }) {
  const [values, setValues] = useState<Record<string, unknown>>(() => initialValues(schema));
  const set = (name: string, value: unknown) => setValues((v) => ({ ...v, [name]: value }));
  const required = new Set(schema.required ?? []);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    // Empty optional fields are left out, so the server applies its defaults.
    onSubmit(Object.fromEntries(Object.entries(values).filter(([, v]) => v !== '' && v !== undefined)));
  };
  return (
    <form className="params" onSubmit={submit} aria-label={`Parameters of ${tool}`}>
      {Object.entries(schema.properties ?? {}).map(([name, p]) => {
        const id = `param-${tool}-${name}`;
        const label = (
          <>
            {name}
            {required.has(name) && <span aria-hidden="true"> *</span>}
          </>
        );
        const help = p.description ?? (p['x-roots'] ? `a path under ${p['x-roots'].join(' or ')}` : undefined);
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
            </fieldset>
          );
        }
        return (
          <div key={name} className="field">
            <label htmlFor={id}>{label}</label>
            {p.enum ? (
              <select id={id} value={(values[name] as string | undefined) ?? ''} required={required.has(name)} onChange={(e) => set(name, e.target.value || undefined)}>
                {!required.has(name) && p.default === undefined && <option value="">—</option>}
                {p.enum.map((option) => (
                  <option key={option}>{option}</option>
                ))}
              </select>
            ) : p.type === 'boolean' ? (
              <input id={id} type="checkbox" checked={values[name] === true} onChange={(e) => set(name, e.target.checked)} />
            ) : p.type === 'integer' ? (
              <input
                id={id}
                type="number"
                step={1}
                min={p.minimum}
                max={p.maximum}
                required={required.has(name)}
                value={(values[name] as number | undefined) ?? ''}
                onChange={(e) => set(name, e.target.value === '' ? undefined : Number(e.target.value))}
              />
            ) : (
              <input id={id} type="text" spellCheck={false} maxLength={p.maxLength} required={required.has(name)} value={(values[name] as string | undefined) ?? ''} onChange={(e) => set(name, e.target.value)} />
            )}
            {help && <small className="muted">{help}</small>}
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
