// Where the page finds its stack: `config.json` next to index.html.
//
// On a local stack `duelctl up` serves it from the same origin as the page, built from
// the endpoints file plus `local_auth: true`. For a deployed stage, copy the built page
// (duelctl/web/) to any static host and put a config.json beside it (README.md).

import { serverClock } from "./clock";

export interface AppConfig {
  target: string; // "local" or the stage name
  stage: string;
  region: string;
  websocket_url: string; // ws://127.0.0.1:PORT/local or wss://{api}.execute-api.../{stage}
  http_url: string; // base of GET /online
  user_pool_client_id: string | null;
  local_auth: boolean; // true: POST {http_url}/_local/token {"username"} signs in
  cognito_url?: string; // optional override of https://cognito-idp.{region}.amazonaws.com/
  // "virtual": `duelctl up --clock virtual`, whose time jumps ahead whenever the stack is
  // quiet; the page's countdowns follow the browser's clock, so it does not serve one.
  clock: "real" | "virtual";
}

export class ConfigError extends Error {}

function requireString(data: Record<string, unknown>, key: string): string {
  const value = data[key];
  if (typeof value !== "string" || !value) {
    throw new ConfigError(`config.json lacks "${key}"`);
  }
  return value;
}

export function cognitoUrl(config: AppConfig): string {
  return config.cognito_url ?? `https://cognito-idp.${config.region}.amazonaws.com/`;
}

export async function loadConfig(): Promise<AppConfig> {
  const url = new URL("config.json", document.baseURI);
  const sentAt = Date.now();
  let response: Response;
  try {
    response = await fetch(url, { cache: "no-store" });
  } catch {
    throw new ConfigError(`cannot reach ${url.origin}: is \`duelctl up\` still running?`);
  }
  if (!response.ok) {
    throw new ConfigError(
      `${url.pathname} answered HTTP ${response.status}. Serve this page with \`duelctl up\`, ` +
        "or put a config.json for your stage next to index.html.",
    );
  }
  let data: unknown;
  try {
    data = await response.json();
  } catch {
    throw new ConfigError("config.json is not valid JSON");
  }
  if (typeof data !== "object" || data === null)
    throw new ConfigError("config.json is not an object");
  const raw = data as Record<string, unknown>;
  const config: AppConfig = {
    target: requireString(raw, "target"),
    stage: requireString(raw, "stage"),
    region: requireString(raw, "region"),
    websocket_url: requireString(raw, "websocket_url"),
    http_url: requireString(raw, "http_url").replace(/\/+$/, ""),
    user_pool_client_id:
      typeof raw.user_pool_client_id === "string" ? raw.user_pool_client_id : null,
    local_auth: raw.local_auth === true,
    cognito_url: typeof raw.cognito_url === "string" ? raw.cognito_url : undefined,
    clock: raw.clock === "virtual" ? "virtual" : "real",
  };
  if (import.meta.env.DEV) {
    // `npm run dev` proxies /online and /_local to the stack: stay same-origin.
    config.http_url = location.origin;
  }
  // A static host (a CDN) may replay a cached Date header; only trust the stack's own.
  if (new URL(config.http_url).origin === location.origin) {
    serverClock.observe(sentAt, Date.now(), response.headers.get("Date"));
  }
  if (!config.local_auth && !config.user_pool_client_id) {
    throw new ConfigError('config.json needs "user_pool_client_id" to sign in on a stage');
  }
  return config;
}
