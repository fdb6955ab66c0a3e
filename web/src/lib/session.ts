/**
 * The signed-in credential (an API key or a JWT), kept in localStorage, and what can be read from it
 * in the browser. A JWT is decoded (not verified: the server does that) to show who you are and when
 * it expires; an API key is opaque, and the server's /me answers for it.
 */
import { jwtDecode } from 'jwt-decode';
import { useSyncExternalStore } from 'react';

const STORAGE_KEY = 'oss-runner.credential';

export interface TokenInfo {
  kind: 'jwt' | 'api-key';
  subject: string | null;
  /** Epoch ms, for JWTs. */
  expiresAt: number | null;
}

type Listener = () => void;
const listeners = new Set<Listener>();
let credential: string | null = localStorage.getItem(STORAGE_KEY);
/** Set when the server refused the credential: the sign-in comes back over the page. */
let refused = false;

function emit() {
  for (const l of listeners) l();
}

export const session = {
  get credential() {
    return credential;
  },
  get refused() {
    return refused;
  },
  signIn(value: string) {
    credential = value.trim();
    refused = false;
    localStorage.setItem(STORAGE_KEY, credential);
    emit();
  },
  signOut() {
    credential = null;
    refused = false;
    localStorage.removeItem(STORAGE_KEY);
    emit();
  },
  /** A 401 from the server: ask again, keeping the page. */
  markRefused() {
    if (refused) return;
    refused = true;
    emit();
  },
  subscribe: (listener: Listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

let snapshot = { credential, refused };
function getSnapshot() {
  if (snapshot.credential !== credential || snapshot.refused !== refused) snapshot = { credential, refused };
  return snapshot;
}

export function useSession() {
  return useSyncExternalStore(session.subscribe, getSnapshot);
}

export function tokenInfo(value: string): TokenInfo {
  try {
    const claims = jwtDecode<{ sub?: string; exp?: number }>(value);
    return { kind: 'jwt', subject: claims.sub ?? null, expiresAt: claims.exp ? claims.exp * 1000 : null };
  } catch {
    return { kind: 'api-key', subject: null, expiresAt: null };
  }
}
