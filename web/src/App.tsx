import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import { loadIdentity, renew, saveIdentity, type Identity } from "./auth";
import { runProbes, serverClock, timedFetch } from "./clock";
import { loadConfig, type AppConfig } from "./config";
import { duelReducer, initialDuel, peerName } from "./duel";
import { errorText, type Attempt } from "./messages";
import { useOnline } from "./online";
import type { ClientMessage, OnlineUser } from "./protocol";
import { newRequestId, useDuelSocket, type TokenSource } from "./socket";
import { EndScreen } from "./components/EndScreen";
import { Header } from "./components/Header";
import { InviteModal } from "./components/InviteModal";
import { Lobby } from "./components/Lobby";
import { SessionScreen } from "./components/SessionScreen";
import { SignIn } from "./components/SignIn";
import { Toasts, type Toast } from "./components/Toasts";
import { Waiting } from "./components/Waiting";
import { useServerNow } from "./components/hooks";

const RENEW_BEFORE_MS = 60_000; // renew a token this long before it expires
const BUSY_TIMEOUT_MS = 10_000; // an action the server never answered
const OVERDUE_MS = 5_000; // past a deadline with no end frame: re-read the state

export function App() {
  const [config, setConfig] = useState<AppConfig | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  const [identity, setIdentity] = useState<Identity | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    loadConfig().then(
      (loaded) => {
        setConfig(loaded);
        setIdentity(loadIdentity(loaded));
      },
      (err: unknown) => setFatal(err instanceof Error ? err.message : String(err)),
    );
  }, []);

  const onIdentity = useCallback(
    (next: Identity) => {
      if (config) saveIdentity(config, next);
      setIdentity(next);
    },
    [config],
  );

  const signOut = useCallback(
    (message: string | null) => {
      if (config) saveIdentity(config, null);
      setIdentity(null);
      setNotice(message);
    },
    [config],
  );

  if (fatal) {
    return (
      <main className="signin-page">
        <div className="card signin-card" role="alert" data-testid="fatal">
          <h1>Can't start</h1>
          <p>{fatal}</p>
          <button type="button" className="btn btn-primary" onClick={() => location.reload()}>
            Retry
          </button>
        </div>
      </main>
    );
  }
  if (!config) {
    return <main className="signin-page muted">Loading…</main>;
  }
  if (config.clock === "virtual") {
    return (
      <main className="signin-page">
        <div className="card signin-card" role="alert" data-testid="virtual-clock">
          <h1>Not for a virtual clock</h1>
          <p>
            This stack runs on a virtual clock (<code>duelctl up --clock virtual</code>): its time
            jumps ahead whenever it is quiet, so invites and duels would end long before the
            countdowns here, which follow your computer's clock.
          </p>
          <p>
            Play against a stack on the real clock (<code>duelctl up</code>), or drive this one with{" "}
            <code>duelctl connect</code> and <code>duelctl clock advance</code>.
          </p>
        </div>
      </main>
    );
  }
  if (!identity) {
    return (
      <>
        <Header config={config} username={null} snap={null} />
        <SignIn
          config={config}
          notice={notice}
          onSignedIn={(id) => {
            setNotice(null);
            onIdentity(id);
          }}
        />
      </>
    );
  }
  return (
    <Playing
      key={identity.userId}
      config={config}
      identity={identity}
      onIdentity={onIdentity}
      onSignOut={signOut}
    />
  );
}

interface Busy {
  action: Attempt["action"];
  target?: string; // userId for invite
  requestId: string;
}

function Playing({
  config,
  identity,
  onIdentity,
  onSignOut,
}: {
  config: AppConfig;
  identity: Identity;
  onIdentity: (identity: Identity) => void;
  onSignOut: (message: string | null) => void;
}) {
  // Token source shared by the socket and /online; one renewal at a time.
  const live = useRef({ identity, onIdentity, onSignOut });
  live.current = { identity, onIdentity, onSignOut };
  const tokens = useMemo<TokenSource>(() => {
    let renewing: Promise<Identity> | null = null;
    return {
      async token(force: boolean): Promise<string> {
        const current = live.current.identity;
        if (!force && current.expiresAt - Date.now() > RENEW_BEFORE_MS) return current.idToken;
        renewing ??= renew(config, current).finally(() => {
          renewing = null;
        });
        const next = await renewing;
        live.current.identity = next;
        live.current.onIdentity(next);
        return next.idToken;
      },
    };
  }, [config]);
  const fatal = useCallback(
    (message: string) => live.current.onSignOut(`Signed out: ${message}`),
    [],
  );

  const [socket, snap] = useDuelSocket(config.websocket_url, tokens, fatal);
  const [duel, dispatch] = useReducer(duelReducer, undefined, () =>
    initialDuel(identity.userId, identity.username),
  );
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [busy, setBusy] = useState<Busy | null>(null);
  const attempts = useRef(new Map<string, Attempt>());
  const toastId = useRef(0);

  const pushToast = useCallback((text: string, tone: Toast["tone"] = "error") => {
    toastId.current += 1;
    const id = toastId.current;
    setToasts((list) => [...list.slice(-3), { id, text, tone }]);
    window.setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), 8000);
  }, []);

  const online = useOnline(
    config.http_url,
    tokens.token,
    (users: OnlineUser[]) => dispatch({ kind: "online", users }),
    (message: string) => live.current.onSignOut(message),
  );
  const refreshOnline = online.refresh;

  // Clock probes (clock.ts): the stack's own config.json when it is same-origin (no
  // Lambda behind it), else GET /online on the HTTP API.
  useEffect(() => {
    const stop = new AbortController();
    const configUrl = new URL("config.json", document.baseURI);
    const probe =
      configUrl.origin === new URL(config.http_url).origin
        ? () => timedFetch(configUrl.href)
        : async () =>
            timedFetch(`${config.http_url}/online`, {
              headers: { Authorization: `Bearer ${await tokens.token(false)}` },
            });
    void runProbes(probe, stop.signal);
    return () => stop.abort();
  }, [config, tokens]);

  useEffect(() => {
    if (!socket) return undefined;
    return socket.onFrame((frame) => {
      if (frame.type === "pong") return;
      if (frame.type === "error") {
        const attempt = frame.requestId ? attempts.current.get(frame.requestId) : undefined;
        pushToast(errorText(frame.code, frame.message, attempt));
        setBusy((b) => (b && (!frame.requestId || b.requestId === frame.requestId) ? null : b));
        refreshOnline();
        return;
      }
      dispatch({ kind: "frame", frame, serverNow: serverClock.now() });
      if (frame.type !== "state") refreshOnline(); // statuses just changed
    });
  }, [socket, pushToast, refreshOnline]);

  // Whatever the server said about the session answers the pending click.
  const current = duel.current;
  useEffect(() => setBusy(null), [current?.sessionId, current?.phase, duel.ended, snap.status]);
  useEffect(() => {
    if (!busy) return undefined;
    const id = window.setTimeout(() => {
      setBusy(null);
      pushToast("The server did not answer in time; try again.");
    }, BUSY_TIMEOUT_MS);
    return () => window.clearTimeout(id);
  }, [busy, pushToast]);

  const send = (message: ClientMessage, attempt: Attempt, target?: string): void => {
    const requestId = newRequestId();
    if (!socket?.send({ ...message, requestId })) {
      pushToast("Not connected to the server yet: reconnecting, try again in a moment.");
      return;
    }
    attempts.current.set(requestId, attempt);
    setBusy({ action: attempt.action, target, requestId });
  };

  // Safety net: if the end of an invite or duel is overdue (a frame lost with a dropped
  // connection that has not been noticed yet), ask the server where things stand.
  const deadline = current
    ? current.phase === "active"
      ? current.endsAt
      : current.expiresAt
    : null;
  useEffect(() => {
    if (!socket || deadline === null || !Number.isFinite(deadline)) return undefined;
    const wait = Math.max(0, deadline - serverClock.now()) + OVERDUE_MS;
    const id = window.setTimeout(
      () => socket.send({ action: "state", requestId: newRequestId() }),
      wait,
    );
    return () => window.clearTimeout(id);
  }, [socket, current?.sessionId, deadline]);

  const peer = current ? peerName(duel, current.peerId) : "";
  useEffect(() => {
    document.title =
      current?.phase === "incoming"
        ? `⚔ ${peer} challenges you — duelctl`
        : current?.phase === "active"
          ? `Duel with ${peer} — duelctl`
          : "duelctl — coding duels";
  }, [current?.phase, peer]);

  let screen;
  if (current?.phase === "active") {
    screen = (
      <SessionScreen
        me={identity.username}
        peer={peer}
        startAt={current.startAt}
        endsAt={current.endsAt}
        durationSeconds={current.durationSeconds}
        stopping={busy?.action === "stop"}
        onStop={() =>
          send({ action: "stop", sessionId: current.sessionId }, { action: "stop", peer })
        }
      />
    );
  } else if (current?.phase === "outgoing") {
    screen = (
      <Waiting
        peer={peer}
        expiresAt={current.expiresAt}
        withdrawing={busy?.action === "withdraw"}
        onWithdraw={() =>
          send({ action: "stop", sessionId: current.sessionId }, { action: "withdraw", peer })
        }
      />
    );
  } else if (duel.ended) {
    screen = (
      <EndScreen
        key={duel.ended.sessionId}
        ended={duel.ended}
        peer={peerName(duel, duel.ended.peerId)}
        onBack={() => dispatch({ kind: "dismiss" })}
      />
    );
  } else {
    screen = (
      <Lobby
        users={online.users}
        error={online.error}
        connected={snap.status === "open"}
        invitingId={busy?.action === "invite" ? (busy.target ?? null) : null}
        onInvite={(user) =>
          send(
            { action: "invite", to: user.userId },
            { action: "invite", peer: user.username },
            user.userId,
          )
        }
      />
    );
  }

  return (
    <>
      <Header
        config={config}
        username={identity.username}
        snap={snap}
        onSignOut={() => onSignOut(null)}
      />
      {snap.status !== "open" && (
        <div
          className="banner banner-warn page-banner"
          role="status"
          data-testid="connection-banner"
        >
          {snap.status === "connecting"
            ? "Connecting to the duel server…"
            : "Lost the connection to the duel server. Reconnecting; your invite or duel keeps going."}
        </div>
      )}
      <main className="page">{screen}</main>
      {current?.phase === "incoming" && (
        <InviteModal
          key={current.sessionId}
          from={peer}
          expiresAt={current.expiresAt}
          answering={busy?.action === "accept" || busy?.action === "reject"}
          onAnswer={(accept) =>
            send(
              { action: "response", sessionId: current.sessionId, accept },
              { action: accept ? "accept" : "reject", peer },
            )
          }
        />
      )}
      <Toasts
        toasts={toasts}
        onDismiss={(id) => setToasts((list) => list.filter((t) => t.id !== id))}
      />
      <ClockFooter />
    </>
  );
}

function ClockFooter() {
  useServerNow(1000);
  const synced = serverClock.synced;
  const offset = serverClock.offsetMs / 1000;
  const spread = serverClock.uncertaintyMs / 1000;
  return (
    <footer
      className="footer muted small"
      data-testid="clock-offset"
      data-synced={synced}
      data-offset-ms={Math.round(serverClock.offsetMs)}
      data-uncertainty-ms={synced ? Math.round(serverClock.uncertaintyMs) : ""}
    >
      {!synced
        ? "Server clock not measured yet: timers use your clock"
        : Math.abs(offset) < 0.5
          ? `Your clock is in sync with the server's (${offset >= 0 ? "+" : "−"}${Math.abs(offset).toFixed(2)} s ±${spread.toFixed(2)} s)`
          : `Your clock is ${Math.abs(offset).toFixed(1)} s ${offset < 0 ? "ahead of" : "behind"} the server's (±${spread.toFixed(2)} s): timers follow the server`}
    </footer>
  );
}
