// The web app's entry. The full app (sign-in, catalog, live runs) is built on the typed tRPC client;
// until then this page lists the catalog and points to the API documentation.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { Tool, ToolList } from '../../shared/src/schemas/tool';

function App() {
  const [tools, setTools] = useState<Tool[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    fetch('/opensource-list')
      .then((r) => r.json() as Promise<ToolList>)
      .then((list) => setTools(list.items))
      .catch((e: unknown) => setError(String(e)));
  }, []);
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '2rem auto', padding: '0 1rem' }}>
      <h1>OSS Runner</h1>
      <p>
        Run whitelisted open-source tools and watch their output live. The API is documented at <a href="/docs">/docs</a>.
      </p>
      {error && <p role="alert">Could not load the catalog: {error}</p>}
      {tools === null && !error && <p>Loading the catalog…</p>}
      <ul>
        {tools?.map((t) => (
          <li key={t.name}>
            <strong>{t.name}</strong> {t.description} {t.available ? '' : `(unavailable: ${t.unavailable_reason ?? ''})`}
          </li>
        ))}
      </ul>
    </main>
  );
}

const root = document.getElementById('root');
if (root) createRoot(root).render(<StrictMode><App /></StrictMode>);
