import { useState, type KeyboardEvent, type SyntheticEvent } from 'react';
import { useModal } from '../../components/useModal';
import { session, type Refusal } from '../../lib/session';

const WHY: Record<Refusal, string> = {
  rejected: 'The server did not accept this key or token. Check it and try again.',
  'no-longer-accepted': 'The server no longer accepts your credential (it may have been revoked). Sign in again to go on where you were.',
  expired: 'Your token has expired. Sign in again to go on where you were.',
};

/**
 * Paste an API key or a JWT. Shown over the page, so a 401 never loses where you were; a refused
 * credential stays in the field, to be corrected. Enter signs in (Shift+Enter is a new line). A modal
 * dialog: focus stays in it, and Escape does nothing (the app cannot go on without a credential).
 */
export function SignIn({ refused, credential }: { refused: Refusal | null; credential: string | null }) {
  const [value, setValue] = useState(refused ? (credential ?? '') : '');
  const dialog = useModal<HTMLDivElement>();
  const submit = (e: SyntheticEvent | KeyboardEvent) => {
    e.preventDefault();
    if (value.trim()) session.signIn(value);
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && !e.shiftKey) submit(e);
  };
  return (
    <div className="overlay">
      <div ref={dialog} className="dialog" role="dialog" aria-modal="true" aria-labelledby="signin-title" tabIndex={-1}>
        <form className="card signin" onSubmit={submit}>
          <h2 id="signin-title">Sign in</h2>
          {refused && (
            <p role="alert" className="error">
              {WHY[refused]}
            </p>
          )}
          <label htmlFor="credential">API key or JWT</label>
          <textarea
            id="credential"
            name="credential"
            rows={3}
            autoFocus
            spellCheck={false}
            autoComplete="off"
            placeholder="osr_… or eyJ…"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            onKeyDown={onKeyDown}
          />
          <p className="hint">
            The first start of the server prints an admin key; an admin can make more with <code>POST /api-keys</code> or <code>npm run apikey</code>.
          </p>
          <div className="actions">
            <button type="submit" className="primary" disabled={!value.trim()}>
              Sign in
            </button>
            {refused && (
              <button type="button" onClick={() => session.signOut()}>
                Sign out
              </button>
            )}
          </div>
        </form>
      </div>
    </div>
  );
}
