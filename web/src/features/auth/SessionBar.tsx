import type { WhoAmI } from '../../../../shared/src/schemas/auth';
import { useNow } from '../../components/useNow';
import { formatMs } from '../../components/format';
import { session, tokenInfo } from '../../lib/session';

const WARN_MS = 5 * 60_000;

/** Who you are, your role, and when your token expires (with a warning before it does). */
export function SessionBar({ me, credential }: { me: WhoAmI | undefined; credential: string | null }) {
  const info = credential ? tokenInfo(credential) : null;
  const expiresAt = info?.expiresAt ?? null;
  // Every 15 s while the expiry is far; every second once the warning shows.
  const near = expiresAt !== null && expiresAt - Date.now() < WARN_MS + 15_000;
  const now = useNow(expiresAt !== null, near ? 1000 : 15_000);
  if (me?.auth_disabled) return <span className="session">Authentication is off on this server</span>;
  if (!credential) return null;
  const left = expiresAt === null ? null : expiresAt - now;
  return (
    <span className="session">
      <span title={me?.id ?? undefined}>{info?.subject ?? me?.id ?? 'signed in'}</span>
      {me?.role && <span className="role">{me.role}</span>}
      {left !== null && (
        <span className={left < WARN_MS ? 'warning' : 'muted'} role={left < WARN_MS ? 'status' : undefined}>
          {left <= 0 ? 'token expired' : `token expires in ${formatMs(left)}`}
        </span>
      )}
      <button type="button" className="link" onClick={() => session.signOut()}>
        Sign out
      </button>
    </span>
  );
}
