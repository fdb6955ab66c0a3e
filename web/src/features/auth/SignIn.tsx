import { useState, type FormEvent } from 'react';
import { session } from '../../lib/session';

/** Paste an API key or a JWT. Shown over the page, so a 401 never loses where you were. */
export function SignIn({ refused }: { refused: boolean }) {
  const [value, setValue] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim()) session.signIn(value);
  };
  return (
    <div className="overlay" role="dialog" aria-modal="true" aria-labelledby="signin-title">
      <form className="card signin" onSubmit={submit}>
        <h2 id="signin-title">Sign in</h2>
        {refused && (
          <p role="alert" className="error">
            The server did not accept your credential (it may have expired or been revoked). Sign in again to go on where you were.
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
  );
}
