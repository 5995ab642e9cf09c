import { formatClock } from "../messages";
import { Avatar } from "./Avatar";
import { secondsLeft, useServerNow } from "./hooks";

const RADIUS = 88;
const CIRCUMFERENCE = 2 * Math.PI * RADIUS;

/**
 * The synchronized duel timer. Both players count down to the same server times
 * (`startAt`, `endsAt`), read through the server clock, so they show the same seconds
 * whatever their own clocks say. The server decides the end (`timeout`/`stop`): at 0:00
 * the page waits for that frame.
 */
export function SessionScreen({
  me,
  peer,
  startAt,
  endsAt,
  durationSeconds,
  stopping,
  onStop,
}: {
  me: string;
  peer: string;
  startAt: number;
  endsAt: number;
  durationSeconds: number;
  stopping: boolean;
  onStop: () => void;
}) {
  const now = useServerNow();
  const starting = now < startAt;
  const remaining = secondsLeft(endsAt, now);
  const phase = starting ? "starting" : remaining > 0 ? "running" : "finished";
  const totalMs = Math.max(1, endsAt - startAt);
  const fraction = starting ? 1 : Math.min(1, Math.max(0, (endsAt - now) / totalMs));
  const urgent = phase === "running" && remaining <= Math.min(10, Math.ceil(durationSeconds / 4));

  return (
    <section className="card session" data-testid="session" data-phase={phase}>
      <div className="versus">
        <span className="player">
          <Avatar name={me} size={40} />
          <span className="player-name" title={me}>
            {me}
          </span>
          <span className="muted small">you</span>
        </span>
        <span className="vs" aria-hidden="true">
          vs
        </span>
        <span className="player">
          <Avatar name={peer} size={40} />
          <span className="player-name" data-testid="session-peer" title={peer}>
            {peer}
          </span>
          <span className="muted small">opponent</span>
        </span>
      </div>

      <div className={`ring ${urgent ? "ring-urgent" : ""} ring-${phase}`}>
        <svg viewBox="0 0 200 200" aria-hidden="true">
          <circle className="ring-track" cx="100" cy="100" r={RADIUS} />
          <circle
            className="ring-progress"
            cx="100"
            cy="100"
            r={RADIUS}
            strokeDasharray={CIRCUMFERENCE}
            strokeDashoffset={CIRCUMFERENCE * (1 - fraction)}
          />
        </svg>
        <div className="ring-center">
          {starting ? (
            <>
              <span className="ring-label">Starting in</span>
              <span className="ring-time" data-testid="start-countdown">
                {secondsLeft(startAt, now)}
              </span>
            </>
          ) : (
            <>
              <span className="ring-label">{phase === "running" ? "Time left" : "Time's up"}</span>
              <span
                className="ring-time"
                role="timer"
                aria-live="off"
                data-testid="timer"
                data-remaining-seconds={remaining}
              >
                {formatClock(remaining)}
              </span>
            </>
          )}
        </div>
      </div>

      <p className="muted small">
        {formatClock(durationSeconds)} duel ·{" "}
        {phase === "finished"
          ? "waiting for the server to call time…"
          : "the same clock for both of you"}
      </p>
      <button
        type="button"
        className="btn btn-danger"
        disabled={stopping || phase === "finished"}
        onClick={onStop}
        data-testid="stop-button"
      >
        {stopping ? "Stopping…" : "Stop duel"}
      </button>
    </section>
  );
}
