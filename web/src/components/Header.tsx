import type { AppConfig } from "../config";
import type { SocketSnapshot } from "../socket";
import { Avatar } from "./Avatar";
import { useServerNow } from "./hooks";

function connectionText(snap: SocketSnapshot, browserNow: number): string {
  switch (snap.status) {
    case "open":
      return "Connected";
    case "connecting":
      return "Connecting…";
    case "reconnecting":
      if (snap.retryAt === null) return "Reconnecting…";
      return `Reconnecting in ${Math.max(0, Math.ceil((snap.retryAt - browserNow) / 1000))}s`;
    case "stopped":
      return "Offline";
  }
}

export function Header({
  config,
  username,
  snap,
  onSignOut,
}: {
  config: AppConfig;
  username: string | null;
  snap: SocketSnapshot | null;
  onSignOut?: () => void;
}) {
  useServerNow(500); // keeps "Reconnecting in Ns" moving
  return (
    <header className="topbar">
      <div className="brand">
        <img src="./favicon.svg" alt="" width={28} height={28} />
        <span className="brand-name">duelctl</span>
        <span
          className={`pill ${config.local_auth ? "pill-local" : "pill-stage"}`}
          title={config.websocket_url}
        >
          {config.local_auth ? "local" : `stage ${config.stage}`}
        </span>
      </div>
      {username && snap && (
        <div className="topbar-right">
          <span
            className={`conn conn-${snap.status}`}
            data-testid="connection-status"
            data-status={snap.status}
            data-opens={snap.opens}
            data-expire-at={snap.expireAt ?? ""}
          >
            <span className="conn-dot" aria-hidden="true" />
            <span className="conn-text">{connectionText(snap, Date.now())}</span>
          </span>
          <span className="me">
            <Avatar name={username} size={28} />
            <span className="me-name" data-testid="current-user" title={username}>
              {username}
            </span>
          </span>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={onSignOut}
            data-testid="signout-button"
          >
            Sign out
          </button>
        </div>
      )}
    </header>
  );
}
