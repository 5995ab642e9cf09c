// The server's clock, as seen from the browser.
//
// Both players' timers count down to the same `endsAt`, a server time. A browser clock
// that is off by a few seconds would show a different remaining time, so the page
// converts with `offset = server - browser`.
//
// How the offset is measured: every HTTP response from the stack carries a `Date`
// header, the server's time at second resolution (RFC 9110 §6.6.1). A response that
// arrived at browser time t1 for a request sent at t0 and dated D says that at some
// moment in [t0, t1] the server's clock read between D and D + 1 s, so
//     D - t1  <=  offset  <  D + 1 s - t0.
// Each sample is such an interval; their intersection narrows quickly because the page
// times a few early requests so that the server's second boundary falls inside them
// (a bisection, `probeDelay`). A sample that does not overlap means a clock jumped:
// start again from it. Why not the frames: no frame carries "server now" (`pong` only
// tells the connection's expiry, in whole seconds and after an unknown TTL), and
// `startAt - StartLeadSeconds` would need a setting the page does not know.
//
// Against a deployed stage the HTTP API must expose `Date` to the page's origin (CORS
// ExposeHeaders); without samples the offset is 0, i.e. the browser's clock is trusted.

const GOOD_ENOUGH_MS = 25; // half-width at which probing stops
const MAX_PROBES = 12; // per measurement (a clock jump starts a new one)
const IDLE_CHECK_MS = 5_000; // how often a satisfied prober looks again

type Listener = () => void;

export class ServerClock {
  private lo = -Infinity; // bounds of offset, ms
  private hi = Infinity;
  private rttMs = 50;
  private probes = 0;
  private listeners = new Set<Listener>();

  /** Record one HTTP exchange: browser send/receive times and the response's Date. */
  observe(sentAt: number, receivedAt: number, dateHeader: string | null): void {
    if (!dateHeader) return;
    const date = Date.parse(dateHeader);
    if (!Number.isFinite(date) || receivedAt < sentAt) return;
    this.rttMs = 0.7 * this.rttMs + 0.3 * (receivedAt - sentAt);
    const lo = date - receivedAt;
    const hi = date + 1000 - sentAt;
    if (lo > this.hi || hi < this.lo) {
      this.lo = lo; // a clock moved: the old samples describe another offset
      this.hi = hi;
      this.probes = 0;
    } else {
      this.lo = Math.max(this.lo, lo);
      this.hi = Math.min(this.hi, hi);
    }
    this.listeners.forEach((fn) => fn());
  }

  get synced(): boolean {
    return Number.isFinite(this.lo) && Number.isFinite(this.hi);
  }

  /** Best estimate of server time minus browser time, in ms (0 before any sample). */
  get offsetMs(): number {
    return this.synced ? (this.lo + this.hi) / 2 : 0;
  }

  /** Half-width of the interval the true offset is in, ms (Infinity before any sample). */
  get uncertaintyMs(): number {
    return this.synced ? (this.hi - this.lo) / 2 : Infinity;
  }

  /** The server's current time, epoch ms. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /**
   * When to send the next probe request: ms from now, or null when no probe is needed.
   *
   * Aims the moment the server stamps the response (about one round trip after sending)
   * at a second boundary of the server clock under the current best offset, so whichever
   * second the Date names, half of the interval is ruled out.
   */
  probeDelay(): number | null {
    if (!this.synced) return 0;
    if (this.uncertaintyMs <= GOOD_ENOUGH_MS || this.probes >= MAX_PROBES) return null;
    const stampedAt = Date.now() + this.rttMs + this.offsetMs; // server time if sent now
    const wait = (1000 - (((stampedAt % 1000) + 1000) % 1000)) % 1000;
    return wait < 100 ? wait + 1000 : wait; // never a burst of back-to-back requests
  }

  /** Count a probe the caller is about to send. */
  probeSent(): void {
    this.probes += 1;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The one clock of the page: every timer reads it. */
export const serverClock = new ServerClock();

/**
 * Keep sending `probe` (an HTTP request through `timedFetch`) when the clock asks for one,
 * until `signal` aborts. Errors are ignored: the next regular request may succeed.
 */
export async function runProbes(probe: () => Promise<unknown>, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const delay = serverClock.probeDelay();
    await new Promise((resolve) => window.setTimeout(resolve, delay ?? IDLE_CHECK_MS));
    if (signal.aborted || delay === null) continue;
    serverClock.probeSent();
    try {
      await probe();
    } catch {
      /* unreachable for now: the socket and /online report that to the user */
    }
  }
}

/** `fetch` that feeds the response's Date header to the server clock. */
export async function timedFetch(input: string, init?: RequestInit): Promise<Response> {
  const sentAt = Date.now();
  const response = await fetch(input, { cache: "no-store", ...init });
  serverClock.observe(sentAt, Date.now(), response.headers.get("Date"));
  return response;
}
