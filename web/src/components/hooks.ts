import { useEffect, useRef, useState } from "react";
import { serverClock } from "../clock";

/** The server's time, re-rendering every `periodMs` (timers read this, never Date.now). */
export function useServerNow(periodMs = 100): number {
  const [now, setNow] = useState(() => serverClock.now());
  useEffect(() => {
    const id = window.setInterval(() => setNow(serverClock.now()), periodMs);
    const unsubscribe = serverClock.subscribe(() => setNow(serverClock.now()));
    return () => {
      window.clearInterval(id);
      unsubscribe();
    };
  }, [periodMs]);
  return now;
}

/** Whole seconds left until `deadline` (server ms), never negative. */
export function secondsLeft(deadline: number, now: number): number {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}

/** The span from first render to `deadline`, fixed at mount (for progress bars). */
export function useInitialSpan(deadline: number, now: number): number {
  const span = useRef<number | null>(null);
  if (span.current === null) span.current = Math.max(1, deadline - now);
  return span.current;
}
