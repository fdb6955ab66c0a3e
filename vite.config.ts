import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The web app lives under /ui/ so its routes never collide with the API's; `npm run dev` proxies
// the API (REST, tRPC over HTTP and WebSocket, SSE, docs) to the server on API_URL.
const api = process.env.API_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  root: 'web',
  base: '/ui/',
  plugins: [react()],
  build: { outDir: '../dist/web', emptyOutDir: true },
  server: {
    proxy: {
      '/trpc': { target: api, ws: true },
      '^/(health|me|opensource-list|set|runs|api-keys|audit|openapi.json|docs)': { target: api },
    },
  },
});
