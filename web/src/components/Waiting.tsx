import { Avatar } from "./Avatar";
import { Countdown } from "./Countdown";

export function Waiting({
  peer,
  expiresAt,
  withdrawing,
  onWithdraw,
}: {
  peer: string;
  expiresAt: number;
  withdrawing: boolean;
  onWithdraw: () => void;
}) {
  return (
    <section className="card center-card" data-testid="waiting" aria-live="polite">
      <div className="pulse">
        <Avatar name={peer} size={72} />
      </div>
      <h2>
        Waiting for <span data-testid="waiting-peer">{peer}</span>…
      </h2>
      <p className="muted">Your invite is on their screen. The duel starts when they accept.</p>
      <Countdown
        deadline={expiresAt}
        testId="waiting-countdown"
        label={(left) => `The invite expires in ${left}s`}
      />
      <button
        type="button"
        className="btn btn-secondary"
        disabled={withdrawing}
        onClick={onWithdraw}
        data-testid="withdraw-button"
      >
        {withdrawing ? "Withdrawing…" : "Withdraw invite"}
      </button>
    </section>
  );
}
