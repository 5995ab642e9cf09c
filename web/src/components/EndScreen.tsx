import { useEffect, useState } from "react";
import { serverClock } from "../clock";
import type { Ended } from "../duel";
import { formatClock } from "../messages";
import { secondsLeft, useServerNow } from "./hooks";
import { Icon, type IconName } from "./Icon";

export const AUTO_RETURN_MS = 15_000;

interface Text {
  icon: IconName;
  tone: "good" | "neutral" | "bad";
  title: string;
  detail: string;
}

export function endText(ended: Ended, peer: string): Text {
  const byMe = ended.by === "me";
  switch (ended.reason) {
    case "stopped": {
      const left =
        ended.remainingMs !== undefined
          ? ended.startedEarly
            ? "before the clock started"
            : `with ${formatClock(Math.ceil(ended.remainingMs / 1000))} left`
          : "";
      return {
        icon: "stop",
        tone: "neutral",
        title: byMe ? "You stopped the duel" : `${peer} stopped the duel`,
        detail: `The duel with ${peer} ended ${left}.`.replace(" .", "."),
      };
    }
    case "timeout":
      return {
        icon: "alarm",
        tone: "good",
        title: "Time is up!",
        detail: `The full ${formatClock(ended.durationSeconds ?? 0)} with ${peer} ran out.`,
      };
    case "rejected":
      return byMe
        ? {
            icon: "cross",
            tone: "neutral",
            title: "Invite declined",
            detail: `You declined ${peer}'s invite.`,
          }
        : {
            icon: "cross",
            tone: "bad",
            title: `${peer} declined`,
            detail: `${peer} rejected your invite.`,
          };
    case "no_response":
      return ended.inviter
        ? {
            icon: "hourglass",
            tone: "bad",
            title: "No response",
            detail: `${peer} didn't answer your invite in time.`,
          }
        : {
            icon: "hourglass",
            tone: "bad",
            title: "Invite expired",
            detail: `You didn't answer ${peer}'s invite in time.`,
          };
    case "withdrawn":
      return byMe
        ? {
            icon: "undo",
            tone: "neutral",
            title: "Invite withdrawn",
            detail: `You withdrew your invite to ${peer}.`,
          }
        : {
            icon: "undo",
            tone: "neutral",
            title: "Invite withdrawn",
            detail: `${peer} withdrew the invite.`,
          };
    case "gone":
      return {
        icon: "bolt",
        tone: "neutral",
        title: ended.wasActive ? "The duel is over" : "The invite is over",
        detail: `It ended while you were disconnected from the server.`,
      };
  }
}

export function EndScreen({
  ended,
  peer,
  onBack,
}: {
  ended: Ended;
  peer: string;
  onBack: () => void;
}) {
  const now = useServerNow(250);
  // Fixed when the card first shows; the parent keys this component by session.
  const [deadline] = useState(() => serverClock.now() + AUTO_RETURN_MS);
  useEffect(() => {
    if (now >= deadline) onBack();
  }, [now, deadline, onBack]);
  const text = endText(ended, peer);
  return (
    <section
      className={`card center-card end end-${text.tone}`}
      data-testid="end-state"
      data-reason={ended.reason}
      data-by={ended.by ?? ""}
      role="status"
    >
      <div className="end-icon">
        <Icon name={text.icon} size={34} />
      </div>
      <h2 data-testid="end-title">{text.title}</h2>
      <p data-testid="end-detail">{text.detail}</p>
      <button
        type="button"
        className="btn btn-primary"
        onClick={onBack}
        data-testid="back-to-lobby"
        autoFocus
      >
        Back to lobby
      </button>
      <p className="muted small">Returning to the lobby in {secondsLeft(deadline, now)}s</p>
    </section>
  );
}
