import { useEffect, useRef } from "react";
import { Avatar } from "./Avatar";
import { Countdown } from "./Countdown";

export function InviteModal({
  from,
  expiresAt,
  answering,
  onAnswer,
}: {
  from: string;
  expiresAt: number;
  answering: boolean;
  onAnswer: (accept: boolean) => void;
}) {
  const accept = useRef<HTMLButtonElement>(null);
  useEffect(() => accept.current?.focus(), []);
  return (
    <div className="modal-backdrop">
      <div
        className="card modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="invite-title"
        data-testid="invite-modal"
      >
        <div className="modal-avatar">
          <Avatar name={from} size={64} />
        </div>
        <h2 id="invite-title">
          <span data-testid="invite-from">{from}</span> challenges you to a duel
        </h2>
        <p className="muted">Accept to start the clock for both of you.</p>
        <Countdown
          deadline={expiresAt}
          testId="invite-countdown"
          label={(left) => `${left}s left to answer`}
        />
        <div className="modal-actions">
          <button
            type="button"
            className="btn btn-secondary"
            disabled={answering}
            onClick={() => onAnswer(false)}
            data-testid="reject-button"
          >
            Decline
          </button>
          <button
            ref={accept}
            type="button"
            className="btn btn-primary"
            disabled={answering}
            onClick={() => onAnswer(true)}
            data-testid="accept-button"
          >
            {answering ? "Answering…" : "Accept"}
          </button>
        </div>
      </div>
    </div>
  );
}
