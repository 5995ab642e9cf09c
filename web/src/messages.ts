// Server errors as sentences a player understands (codes: docs/protocol.md, "Error codes").

export interface Attempt {
  action: "invite" | "accept" | "reject" | "stop" | "withdraw";
  peer?: string; // the other player's name, when known
}

const DOING: Record<Attempt["action"], string> = {
  invite: "Couldn't send the invite",
  accept: "Couldn't accept the invite",
  reject: "Couldn't decline the invite",
  stop: "Couldn't stop the duel",
  withdraw: "Couldn't withdraw the invite",
};

export function errorText(code: string, serverMessage: string, attempt?: Attempt): string {
  const peer = attempt?.peer ?? "That player";
  let reason: string;
  switch (code) {
    case "user_offline":
      reason = `${peer} is no longer online.`;
      break;
    case "user_busy":
      reason = `${peer === "That player" ? "One of you" : `You or ${peer}`} already has an invite or a duel going.`;
      break;
    case "self_invite":
      reason = "You can't invite yourself.";
      break;
    case "not_found":
      reason = "That duel no longer exists.";
      break;
    case "forbidden":
      reason = "That's not your move here.";
      break;
    case "invalid_state":
      reason = "Too late: it has already ended or been answered.";
      break;
    case "bad_request":
      reason = `The server did not understand the request (${serverMessage}).`;
      break;
    case "unknown_action":
      reason = "The server does not know that action; is the page older than the server?";
      break;
    case "gateway":
      reason = `The server failed to handle the request: ${serverMessage}.`;
      break;
    default:
      reason = serverMessage || code;
  }
  return attempt ? `${DOING[attempt.action]}: ${reason}` : reason;
}

export function formatClock(totalSeconds: number): string {
  const s = Math.max(0, totalSeconds);
  const minutes = Math.floor(s / 60);
  const seconds = s % 60;
  return `${minutes}:${seconds.toString().padStart(2, "0")}`;
}
