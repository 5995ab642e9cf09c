// The page's view of the duel lifecycle (docs/protocol.md, "Session lifecycle"), driven only
// by server frames: the server is the referee, so nothing here changes on a click alone.
//
// At most one session is current, because the server allows a user one pending or active
// session at a time (`user_busy`). When it ends, `ended` holds the result card until the
// user goes back to the lobby or a new session starts.

import { parseTime, type OnlineUser, type ServerFrame, type SessionView } from "./protocol";

export type Current =
  | { phase: "outgoing"; sessionId: string; peerId: string; expiresAt: number }
  | { phase: "incoming"; sessionId: string; peerId: string; expiresAt: number }
  | {
      phase: "active";
      sessionId: string;
      peerId: string;
      inviter: boolean;
      startAt: number;
      endsAt: number;
      durationSeconds: number;
    };

export type EndReason = "stopped" | "timeout" | "rejected" | "no_response" | "withdrawn" | "gone";

export interface Ended {
  sessionId: string;
  reason: EndReason;
  by: "me" | "peer" | null; // who ended it, where a user did
  peerId: string;
  inviter: boolean;
  wasActive: boolean;
  durationSeconds?: number;
  remainingMs?: number; // time left when a running duel was stopped
  startedEarly?: boolean; // stopped during the start lead
}

export interface DuelState {
  me: string; // my userId
  current: Current | null;
  ended: Ended | null;
  names: Record<string, string>; // userId -> username, from /online and frames
  // Sessions seen ending. Frames caused by different requests may arrive in either order
  // (docs/protocol.md), e.g. a withdraw's `stop` before the `start` of the accept that won the
  // race: a `start` for a session already over must not open a timer nobody will end.
  over: string[];
}

const REMEMBER_OVER = 50;

export type DuelAction =
  | { kind: "frame"; frame: ServerFrame; serverNow: number }
  | { kind: "online"; users: OnlineUser[] }
  | { kind: "dismiss" };

export function initialDuel(me: string, myName: string): DuelState {
  return { me, current: null, ended: null, names: { [me]: myName }, over: [] };
}

function isInviter(current: Current): boolean {
  return current.phase === "active" ? current.inviter : current.phase === "outgoing";
}

function endOf(
  state: DuelState,
  current: Current,
  reason: EndReason,
  by: string | undefined,
  serverNow: number,
): Ended {
  const ended: Ended = {
    sessionId: current.sessionId,
    reason,
    by: by === undefined ? null : by === state.me ? "me" : "peer",
    peerId: current.peerId,
    inviter: isInviter(current),
    wasActive: current.phase === "active",
  };
  if (current.phase === "active") {
    ended.durationSeconds = current.durationSeconds;
    ended.remainingMs = Math.max(0, current.endsAt - Math.max(serverNow, current.startAt));
    ended.startedEarly = serverNow < current.startAt;
  }
  return ended;
}

function fromView(view: SessionView, me: string): Current | null {
  const inviter = view.userA === me;
  const peerId = inviter ? view.userB : view.userA;
  if (view.status === "active") {
    const startAt = parseTime(view.startAt);
    const endsAt = parseTime(view.endsAt);
    if (!Number.isFinite(startAt) || !Number.isFinite(endsAt)) return null;
    return {
      phase: "active",
      sessionId: view.sessionId,
      peerId,
      inviter,
      startAt,
      endsAt,
      durationSeconds: Math.round((endsAt - startAt) / 1000),
    };
  }
  if (view.status === "pending") {
    const expiresAt = parseTime(view.expiresAt);
    return {
      phase: inviter ? "outgoing" : "incoming",
      sessionId: view.sessionId,
      peerId,
      expiresAt,
    };
  }
  return null;
}

export function duelReducer(state: DuelState, action: DuelAction): DuelState {
  switch (action.kind) {
    case "dismiss":
      return { ...state, ended: null };
    case "online": {
      const names = { ...state.names };
      for (const user of action.users) names[user.userId] = user.username;
      return { ...state, names };
    }
    case "frame":
      return onFrame(state, action.frame, action.serverNow);
  }
}

function finish(state: DuelState, ended: Ended): DuelState {
  return {
    ...state,
    current: null,
    ended,
    over: [...state.over.slice(1 - REMEMBER_OVER), ended.sessionId],
  };
}

function onFrame(state: DuelState, frame: ServerFrame, serverNow: number): DuelState {
  const current = state.current;
  if ("sessionId" in frame && state.over.includes(frame.sessionId)) return state; // late news
  switch (frame.type) {
    case "invite_sent":
      return {
        ...state,
        names: { ...state.names, [frame.to]: frame.toUsername },
        ended: null,
        current: {
          phase: "outgoing",
          sessionId: frame.sessionId,
          peerId: frame.to,
          expiresAt: parseTime(frame.expiresAt),
        },
      };
    case "invite":
      return {
        ...state,
        names: { ...state.names, [frame.from]: frame.fromUsername },
        ended: null,
        current: {
          phase: "incoming",
          sessionId: frame.sessionId,
          peerId: frame.from,
          expiresAt: parseTime(frame.expiresAt),
        },
      };
    case "start": {
      const inviter = frame.userA === state.me;
      return {
        ...state,
        ended: null,
        current: {
          phase: "active",
          sessionId: frame.sessionId,
          peerId: inviter ? frame.userB : frame.userA,
          inviter,
          startAt: parseTime(frame.startAt),
          endsAt: parseTime(frame.endsAt),
          durationSeconds: frame.durationSeconds,
        },
      };
    }
    case "rejected":
    case "no_response":
    case "stop":
    case "timeout": {
      // A frame for another session is late news about something already over.
      if (!current || current.sessionId !== frame.sessionId) return state;
      let reason: EndReason;
      let by: string | undefined;
      if (frame.type === "stop") {
        reason = current.phase === "active" ? "stopped" : "withdrawn";
        by = frame.by;
      } else if (frame.type === "rejected") {
        reason = "rejected";
        by = frame.by;
      } else {
        reason = frame.type;
      }
      return finish(state, endOf(state, current, reason, by, serverNow));
    }
    case "state": {
      const views = frame.sessions.filter((s) => s.status === "active" || s.status === "pending");
      const view = views.find((s) => s.status === "active") ?? views[0];
      const next = view ? fromView(view, state.me) : null;
      if (next) {
        if (current && current.sessionId === next.sessionId && current.phase === next.phase) {
          return state;
        }
        return { ...state, current: next, ended: null };
      }
      if (current) {
        // It ended while this tab was not connected; the server keeps no "ended" news.
        return finish(state, endOf(state, current, "gone", undefined, serverNow));
      }
      return state;
    }
    default:
      return state;
  }
}

export function peerName(state: DuelState, peerId: string): string {
  return state.names[peerId] ?? "your opponent";
}
