import { secondsLeft, useInitialSpan, useServerNow } from "./hooks";

/** Seconds left until an invite's `expiresAt`, with a draining bar. */
export function Countdown({
  deadline,
  testId,
  label,
}: {
  deadline: number;
  testId: string;
  label: (secondsLeft: number) => string;
}) {
  const now = useServerNow();
  const span = useInitialSpan(deadline, now);
  const left = secondsLeft(deadline, now);
  const fraction = Math.min(1, Math.max(0, (deadline - now) / span));
  return (
    <div className="countdown" data-testid={testId} data-seconds={left}>
      <div className="countdown-bar" aria-hidden="true">
        <div className="countdown-fill" style={{ transform: `scaleX(${fraction})` }} />
      </div>
      <span className="countdown-text" role="timer" aria-live="off">
        {left > 0 ? label(left) : "Time's up…"}
      </span>
    </div>
  );
}
