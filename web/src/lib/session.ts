/**
 * The signed-in credential (an API key or a JWT), kept in localStorage, and what can be read from it
 * in the browser. A JWT is decoded (not verified: the server does that) to show who you are and when
 * it expires; an API key is opaque, and the server's /me answers for it.
 */
import { jwtDecode } from 'jwt-decode';
import { useSyncExternalStore } from 'react';

const STORAGE_KEY = 'oss-runner.credential';
/** A fingerprint of the stored credential once the server has accepted it (not the credential: a hash of it). */
const ACCEPTED_KEY = 'oss-runner.accepted';

export interface TokenInfo {
  kind: 'jwt' | 'api-key';
  subject: string | null;
  /** Epoch ms, for JWTs. */
  expiresAt: number | null;
}

type Listener = () => void;
const listeners = new Set<Listener>();

/** Why the server is not being asked anything with the credential: the sign-in or a wait is shown. */
export type Refusal = 'rejected' | 'no-longer-accepted' | 'expired';

let credential: string | null = localStorage.getItem(STORAGE_KEY);
let refused: Refusal | null = null;
/** Epoch ms until which the server refuses this address (429, Retry-After); nothing is sent meanwhile. */
let throttledUntil: number | null = null;
let throttleTimer: ReturnType<typeof setTimeout> | undefined;
/** The server accepted the credential at least once since it was entered. */
let accepted = false;

/** FNV-1a, 32 bits: tells one stored credential from another, and is no use to anyone who reads it. */
function fingerprint(value: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

function storedAcceptance(): boolean {
  try {
    return credential !== null && localStorage.getItem(ACCEPTED_KEY) === fingerprint(credential);
  } catch {
    return false;
  }
}

function storeAcceptance(yes: boolean): void {
  try {
    if (yes && credential !== null) localStorage.setItem(ACCEPTED_KEY, fingerprint(credential));
    else localStorage.removeItem(ACCEPTED_KEY);
  } catch {
    // Storage refused: the next visit waits for the server's answer, as a first one does.
  }
}

/** The server accepted the stored credential on an earlier visit (and has not refused it since). */
let known = storedAcceptance();
/** Counts each fresh start of the connections (a sign-in, the end of a wait): clients are made anew for it. */
let generation = 0;

function emit() {
  for (const l of listeners) l();
}

function reset(value: string | null) {
  credential = value;
  refused = null;
  throttledUntil = null;
  clearTimeout(throttleTimer);
  accepted = false;
  known = false;
  storeAcceptance(false);
  generation++;
}

export const session = {
  get credential() {
    return credential;
  },
  /** While true, no request goes out with the credential (every retry would count as a failed sign-in). */
  get blocked() {
    return refused !== null || (throttledUntil !== null && Date.now() < throttledUntil);
  },
  signIn(value: string) {
    reset(value.trim());
    localStorage.setItem(STORAGE_KEY, value.trim());
    emit();
  },
  signOut() {
    reset(null);
    localStorage.removeItem(STORAGE_KEY);
    emit();
  },
  /**
   * The server accepted the credential before, on this visit or an earlier one, and has not refused it
   * since: the app may open a page before it answers again (a refusal still brings the sign-in).
   */
  get known() {
    return known && refused === null;
  },
  /** The server answered with a role for the credential. */
  markAccepted() {
    if (accepted) return;
    accepted = true;
    known = true;
    storeAcceptance(true);
  },
  /** A 401 over HTTP, or the WebSocket closed as unauthorized or forbidden: ask again, keeping the page. */
  markRefused() {
    if (refused) return;
    known = false;
    storeAcceptance(false);
    const expiresAt = credential ? tokenInfo(credential).expiresAt : null;
    refused = expiresAt !== null && expiresAt <= Date.now() ? 'expired' : accepted ? 'no-longer-accepted' : 'rejected';
    emit();
  },
  /** A 429: wait as long as the server says, then start the connections again by themselves. */
  markThrottled(retryAfterS: number) {
    const until = Date.now() + Math.max(1, retryAfterS) * 1000;
    if (throttledUntil !== null && throttledUntil >= until) return;
    throttledUntil = until;
    clearTimeout(throttleTimer);
    throttleTimer = setTimeout(() => {
      throttledUntil = null;
      generation++;
      emit();
    }, until - Date.now());
    emit();
  },
  subscribe: (listener: Listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

export interface SessionState {
  credential: string | null;
  refused: Refusal | null;
  throttledUntil: number | null;
  generation: number;
}

let snapshot: SessionState = { credential, refused, throttledUntil, generation };
function getSnapshot(): SessionState {
  if (snapshot.credential !== credential || snapshot.refused !== refused || snapshot.throttledUntil !== throttledUntil || snapshot.generation !== generation) {
    snapshot = { credential, refused, throttledUntil, generation };
  }
  return snapshot;
}

export function useSession(): SessionState {
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
