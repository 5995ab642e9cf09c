// The wire contract (docs/protocol.md): frames the page sends and
// receives. Times are ISO-8601 UTC strings with milliseconds.

export type ClientMessage =
  | { action: "invite"; to: string; requestId?: string }
  | { action: "response"; sessionId: string; accept: boolean; requestId?: string }
  | { action: "stop"; sessionId: string; requestId?: string }
  | { action: "ping"; requestId?: string }
  | { action: "state"; requestId?: string };

export interface SessionView {
  sessionId: string;
  userA: string; // inviter
  userB: string; // invitee
  status: "pending" | "active" | "stopped";
  startAt?: string;
  endsAt?: string;
  expiresAt?: string;
}

export type ServerFrame =
  | {
      type: "invite_sent";
      sessionId: string;
      to: string;
      toUsername: string;
      expiresAt: string;
      requestId?: string;
    }
  | { type: "invite"; sessionId: string; from: string; fromUsername: string; expiresAt: string }
  | {
      type: "start";
      sessionId: string;
      userA: string;
      userB: string;
      startAt: string;
      endsAt: string;
      durationSeconds: number;
    }
  | { type: "rejected"; sessionId: string; by: string }
  | { type: "no_response"; sessionId: string }
  | { type: "stop"; sessionId: string; by: string }
  | { type: "timeout"; sessionId: string }
  | { type: "pong"; expireAt: string; requestId?: string }
  | { type: "state"; sessions: SessionView[]; requestId?: string }
  | { type: "error"; code: string; message: string; requestId?: string };

export type UserStatus = "idle" | "invited" | "in_duel";

export interface OnlineUser {
  userId: string;
  username: string;
  status: UserStatus;
}

/** Parse one text frame; API Gateway's own frames (no `type`) become `error` frames. */
export function parseFrame(text: string): ServerFrame | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const obj = data as Record<string, unknown>;
  if (typeof obj.type === "string") return obj as unknown as ServerFrame;
  // AWS: a route without integration answers {"message": "Forbidden", ...} and a failed
  // Lambda {"message": "Internal server error", ...} (docs/aws-behaviour.md §2). Their requestId
  // is the gateway's, not ours, so it is dropped.
  if (typeof obj.message === "string") {
    return { type: "error", code: "gateway", message: obj.message };
  }
  return null;
}

export function parseTime(iso: string | undefined): number {
  const ms = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(ms) ? ms : NaN;
}
