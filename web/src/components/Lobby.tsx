import type { OnlineUser, UserStatus } from "../protocol";
import { Avatar } from "./Avatar";
import { Icon } from "./Icon";

const STATUS_TEXT: Record<UserStatus, string> = {
  idle: "Available",
  invited: "Invited",
  in_duel: "In a duel",
};

export function Lobby({
  users,
  error,
  connected,
  invitingId,
  onInvite,
}: {
  users: OnlineUser[] | null;
  error: string | null;
  connected: boolean;
  invitingId: string | null;
  onInvite: (user: OnlineUser) => void;
}) {
  const available = users?.filter((u) => u.status === "idle").length ?? 0;
  return (
    <section className="card lobby" data-testid="lobby" aria-labelledby="lobby-title">
      <div className="card-head">
        <div>
          <h2 id="lobby-title">Players online</h2>
          <p className="muted small">
            {users === null
              ? "Loading…"
              : `${users.length} online · ${available} available · refreshes every few seconds`}
          </p>
        </div>
      </div>
      {error && (
        <p className="banner banner-error" role="alert" data-testid="online-error">
          {error}
        </p>
      )}
      {users !== null && users.length === 0 && (
        <div className="empty" data-testid="online-empty">
          <div className="empty-icon">
            <Icon name="users" size={40} />
          </div>
          <p>No one else is online yet.</p>
          <p className="muted small">
            Open this page in another browser window and sign in with another name, or run{" "}
            <code>duelctl connect bob</code>.
          </p>
        </div>
      )}
      {users !== null && users.length > 0 && (
        <ul className="user-list" data-testid="online-list">
          {users.map((user) => {
            const inviting = invitingId === user.userId;
            const canInvite = connected && user.status === "idle" && invitingId === null;
            return (
              <li
                key={user.userId}
                className="user-row"
                data-testid="online-user"
                data-username={user.username}
                data-status={user.status}
              >
                <Avatar name={user.username} />
                <span className="user-name">{user.username}</span>
                <span className={`badge badge-${user.status}`} data-testid="user-status">
                  {STATUS_TEXT[user.status] ?? user.status}
                </span>
                <button
                  type="button"
                  className="btn btn-primary btn-small"
                  disabled={!canInvite}
                  onClick={() => onInvite(user)}
                  data-testid="invite-button"
                  aria-label={`Invite ${user.username} to a duel`}
                >
                  {inviting ? "Inviting…" : "Invite"}
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
