import { useState, type FormEvent } from "react";
import { localSignIn, passwordSignIn, type Identity } from "../auth";
import type { AppConfig } from "../config";

const QUICK_NAMES = ["alice", "bob", "carol", "dave"];

export function SignIn({
  config,
  notice,
  onSignedIn,
}: {
  config: AppConfig;
  notice: string | null;
  onSignedIn: (identity: Identity) => void;
}) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function signIn(name: string): Promise<void> {
    const trimmed = name.trim();
    if (!trimmed) {
      setError("Type a username.");
      return;
    }
    if (!config.local_auth && !password) {
      setError("Type your password.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const identity = config.local_auth
        ? await localSignIn(config, trimmed)
        : await passwordSignIn(config, trimmed, password);
      onSignedIn(identity);
    } catch (err) {
      setError(`Couldn't sign in: ${err instanceof Error ? err.message : String(err)}`);
      setBusy(false);
    }
  }

  function submit(event: FormEvent): void {
    event.preventDefault();
    void signIn(username);
  }

  return (
    <main className="signin-page">
      <form className="card signin-card" onSubmit={submit} data-testid="signin-form" noValidate>
        <div className="signin-logo" aria-hidden="true">
          <img src="./favicon.svg" alt="" width={48} height={48} />
        </div>
        <h1>Sign in to duel</h1>
        <p className="muted">
          {config.local_auth ? (
            <>
              Local stack <code>{config.stage}</code>: pick any name, no password. New names are
              created in the local user pool.
            </>
          ) : (
            <>
              Stage <code>{config.stage}</code> ({config.region}): sign in with your user pool
              account.
            </>
          )}
        </p>
        {notice && (
          <p className="notice" role="status" data-testid="signin-notice">
            {notice}
          </p>
        )}
        <label className="field">
          <span>Username</span>
          <input
            data-testid="username-input"
            name="username"
            autoComplete="username"
            autoFocus
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            disabled={busy}
            maxLength={128}
            spellCheck={false}
          />
        </label>
        {!config.local_auth && (
          <label className="field">
            <span>Password</span>
            <input
              data-testid="password-input"
              name="password"
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              disabled={busy}
            />
          </label>
        )}
        {error && (
          <p className="form-error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button
          className="btn btn-primary btn-block"
          type="submit"
          disabled={busy}
          data-testid="signin-button"
        >
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {config.local_auth && (
          <div className="quick-picks">
            <span className="muted small">or play as</span>
            {QUICK_NAMES.map((name) => (
              <button
                key={name}
                type="button"
                className="chip"
                disabled={busy}
                data-testid={`quick-user-${name}`}
                onClick={() => {
                  setUsername(name);
                  void signIn(name);
                }}
              >
                {name}
              </button>
            ))}
          </div>
        )}
      </form>
    </main>
  );
}
