// GET {http_url}/online, refreshed while signed in (docs/protocol.md, "HTTP").
//
// Every response also feeds the server clock (clock.ts).

import { useCallback, useEffect, useRef, useState } from "react";
import { timedFetch } from "./clock";
import type { OnlineUser } from "./protocol";

export const REFRESH_MS = 3000;

export class UnauthorizedError extends Error {}

export async function fetchOnline(httpUrl: string, token: string): Promise<OnlineUser[]> {
  let response: Response;
  try {
    response = await timedFetch(`${httpUrl}/online`, {
      headers: { Authorization: `Bearer ${token}` },
    });
  } catch {
    throw new Error(
      `Can't reach ${httpUrl}/online (server down, or a stage whose HTTP API does not allow this page's origin in CORS).`,
    );
  }
  if (response.status === 401) throw new UnauthorizedError("the server refused the sign-in token");
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = (await response.json()) as { message?: string };
      detail = body.message ?? detail;
    } catch {
      /* keep statusText */
    }
    throw new Error(`Loading online players failed: HTTP ${response.status} ${detail}`.trim());
  }
  const body = (await response.json()) as { users?: OnlineUser[] };
  return Array.isArray(body.users) ? body.users : [];
}

export interface OnlineState {
  users: OnlineUser[] | null; // null until the first answer
  error: string | null;
  refresh: () => void;
}

/** Poll /online; `token(renew)` gives the bearer token (renewed once after a 401). */
export function useOnline(
  httpUrl: string,
  token: (renew: boolean) => Promise<string>,
  onUsers: (users: OnlineUser[]) => void,
  onAuthLost: (message: string) => void,
): OnlineState {
  const [users, setUsers] = useState<OnlineUser[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const timer = useRef<number | undefined>(undefined);
  const kick = useRef<() => void>(() => undefined);
  const callbacks = useRef({ token, onUsers, onAuthLost });
  callbacks.current = { token, onUsers, onAuthLost };

  useEffect(() => {
    let alive = true;
    let inFlight = false;
    let again = false; // a refresh was asked for while one was in flight

    const schedule = () => {
      window.clearTimeout(timer.current);
      timer.current = window.setTimeout(run, REFRESH_MS);
    };

    const load = async (renew: boolean): Promise<OnlineUser[]> =>
      fetchOnline(httpUrl, await callbacks.current.token(renew));

    async function run(): Promise<void> {
      if (!alive) return;
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      again = false;
      try {
        let list: OnlineUser[];
        try {
          list = await load(false);
        } catch (err) {
          if (!(err instanceof UnauthorizedError)) throw err;
          list = await load(true); // an expired token: renew once
        }
        if (!alive) return;
        setUsers(list);
        setError(null);
        callbacks.current.onUsers(list);
      } catch (err) {
        if (!alive) return;
        const message = err instanceof Error ? err.message : String(err);
        const authLost =
          err instanceof UnauthorizedError ||
          (err instanceof Error && "retryable" in err && err.retryable === false);
        if (authLost) {
          callbacks.current.onAuthLost(`Signed out: ${message}`);
          return;
        }
        setError(message);
      } finally {
        inFlight = false;
        if (alive && again) void run();
        else if (alive) schedule();
      }
    }

    kick.current = () => {
      window.clearTimeout(timer.current);
      void run();
    };
    void run();
    return () => {
      alive = false;
      window.clearTimeout(timer.current);
    };
  }, [httpUrl]);

  const refresh = useCallback(() => kick.current(), []);
  return { users, error, refresh };
}
