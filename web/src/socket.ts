// The page's one WebSocket: connect with ?token=, keep alive, come back after a drop.
//
// - Connects to `<websocket_url>?token=<JWT>` (docs/protocol.md). A refused handshake (401/403)
//   looks like any early close to a browser, so two failures in a row renew the token
//   before the next try.
// - Reconnects with exponential backoff and jitter (0.5 s doubling to 15 s), at once
//   when the browser reports it is back online.
// - Sends `ping` every PING_MS while open (refreshes the connection's expireAt and keeps
//   API Gateway's 10-minute idle timer from closing it, docs/aws-behaviour.md §6); a ping without
//   `pong` within PONG_TIMEOUT_MS means a dead link: close and reconnect.
// - Sends `state` on every open, so a reload or reconnect resumes pending and active
//   sessions (the server ends nothing on disconnect).

import { useEffect, useState, useSyncExternalStore } from "react";
import { parseFrame, type ClientMessage, type ServerFrame } from "./protocol";

export const PING_MS = 60_000;
export const PONG_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;

export type SocketStatus = "connecting" | "open" | "reconnecting" | "stopped";

export interface SocketSnapshot {
  status: SocketStatus;
  retryAt: number | null; // browser ms of the next attempt while reconnecting
  failures: number; // consecutive attempts that did not open
  opens: number; // connections opened so far (2 and up: it reconnected)
  expireAt: string | null; // the connection's expiry from the last pong
}

export interface TokenSource {
  /** A token to connect with; `renew` asks for a fresh one (the last was refused). */
  token(renew: boolean): Promise<string>;
}

type FrameListener = (frame: ServerFrame) => void;

let requestCounter = 0;
export function newRequestId(): string {
  requestCounter += 1;
  return `web-${Date.now().toString(36)}-${requestCounter}`;
}

export class DuelSocket {
  private ws: WebSocket | null = null;
  private snapshot: SocketSnapshot = {
    status: "connecting",
    retryAt: null,
    failures: 0,
    opens: 0,
    expireAt: null,
  };
  private attempt = 0;
  private stopped = false;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private pongTimer: number | undefined;
  private frameListeners = new Set<FrameListener>();
  private statusListeners = new Set<() => void>();

  constructor(
    private readonly url: string,
    private readonly tokens: TokenSource,
    private readonly onFatal: (message: string) => void,
  ) {}

  start(): void {
    this.stopped = false;
    window.addEventListener("online", this.retryNow);
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener("online", this.retryNow);
    window.clearTimeout(this.retryTimer);
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "bye");
    this.setSnapshot({ ...this.snapshot, status: "stopped", retryAt: null, failures: 0 });
  }

  /** Send one message; false when the socket is not open (the caller tells the user). */
  send(message: ClientMessage): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  onFrame(listener: FrameListener): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  subscribe = (listener: () => void): (() => void) => {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  };

  getSnapshot = (): SocketSnapshot => this.snapshot;

  private setSnapshot(next: SocketSnapshot): void {
    this.snapshot = next;
    this.statusListeners.forEach((fn) => fn());
  }

  private retryNow = (): void => {
    if (this.stopped || this.snapshot.retryAt === null) return; // not waiting to retry
    window.clearTimeout(this.retryTimer);
    void this.connect();
  };

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const failures = this.snapshot.failures;
    this.ws = null;
    this.setSnapshot({
      ...this.snapshot,
      status: this.attempt === 0 ? "connecting" : "reconnecting",
      retryAt: null,
      failures,
    });
    let token: string;
    try {
      token = await this.tokens.token(failures >= 2 && failures % 2 === 0);
    } catch (err) {
      if (err instanceof Error && "retryable" in err && err.retryable === true) {
        this.scheduleRetry(false); // the token service is unreachable too: try again later
      } else {
        this.onFatal(err instanceof Error ? err.message : String(err));
        this.stop();
      }
      return;
    }
    if (this.stopped) return;
    const sep = this.url.includes("?") ? "&" : "?";
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${this.url}${sep}token=${encodeURIComponent(token)}`);
    } catch (err) {
      this.onFatal(`bad websocket_url ${this.url}: ${String(err)}`);
      this.stop();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.setSnapshot({
        ...this.snapshot,
        status: "open",
        retryAt: null,
        failures: 0,
        opens: this.snapshot.opens + 1,
      });
      this.send({ action: "state", requestId: newRequestId() }); // resume (docs/protocol.md)
      this.schedulePing();
    };
    ws.onmessage = (event: MessageEvent) => {
      if (typeof event.data !== "string") return;
      const frame = parseFrame(event.data);
      if (!frame) return;
      if (frame.type === "pong") {
        window.clearTimeout(this.pongTimer);
        this.setSnapshot({ ...this.snapshot, expireAt: frame.expireAt });
      }
      this.frameListeners.forEach((fn) => fn(frame));
    };
    ws.onclose = () => {
      if (this.ws !== ws) return; // an old socket we already replaced
      this.ws = null;
      this.clearTimers();
      this.scheduleRetry(opened);
    };
  }

  /** Give up on a socket that stopped answering: a dead link may never report its close. */
  private abandon(): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null; // its onclose, whenever it comes, is ignored
    this.clearTimers();
    ws.close(4000, "no pong");
    this.scheduleRetry(true);
  }

  private scheduleRetry(opened: boolean): void {
    if (this.stopped) return;
    this.attempt += 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.attempt - 1));
    const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
    this.setSnapshot({
      ...this.snapshot,
      status: "reconnecting",
      retryAt: Date.now() + jittered,
      failures: opened ? 0 : this.snapshot.failures + 1,
    });
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => void this.connect(), jittered);
  }

  private schedulePing(): void {
    window.clearTimeout(this.pingTimer);
    this.pingTimer = window.setTimeout(() => {
      if (this.send({ action: "ping" })) {
        window.clearTimeout(this.pongTimer);
        this.pongTimer = window.setTimeout(() => this.abandon(), PONG_TIMEOUT_MS);
      }
      this.schedulePing();
    }, PING_MS);
  }

  private clearTimers(): void {
    window.clearTimeout(this.pingTimer);
    window.clearTimeout(this.pongTimer);
  }
}

/**
 * The page's global WebSocket: one per signed-in user, shared by every component.
 * Returns the socket (null while signed out) and its live status.
 */
export function useDuelSocket(
  url: string,
  tokens: TokenSource,
  onFatal: (message: string) => void,
): [DuelSocket | null, SocketSnapshot] {
  const [socket, setSocket] = useState<DuelSocket | null>(null);
  useEffect(() => {
    const s = new DuelSocket(url, tokens, onFatal);
    setSocket(s);
    s.start();
    return () => {
      s.stop();
      setSocket(null);
    };
    // tokens/onFatal are stable for the signed-in user's lifetime (the caller remounts on
    // a new user); a new url means a new socket.
  }, [url]);
  const snapshot = useSyncExternalStore(
    socket?.subscribe ?? noopSubscribe,
    socket?.getSnapshot ?? stoppedSnapshot,
  );
  return [socket, snapshot];
}

const STOPPED: SocketSnapshot = {
  status: "stopped",
  retryAt: null,
  failures: 0,
  opens: 0,
  expireAt: null,
};
const noopSubscribe = () => () => undefined;
const stoppedSnapshot = () => STOPPED;
