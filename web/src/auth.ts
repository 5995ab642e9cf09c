// Signing in: a Cognito ID token for the stack's user pool.
//
// Local stack (`local_auth: true`): POST {http_url}/_local/token {"username"} — the local
// origin creates the user in its Cognito on first use and signs it in; no password.
// Deployed stage: Cognito InitiateAuth USER_PASSWORD_AUTH, called directly from the
// browser (an unsigned API, docs/aws-behaviour.md §11), and REFRESH_TOKEN_AUTH to renew.

import { cognitoUrl, type AppConfig } from "./config";

export interface Identity {
  username: string;
  userId: string; // the token's `sub`
  idToken: string;
  refreshToken?: string;
  expiresAt: number; // epoch ms, from the token's `exp`
}

export class AuthError extends Error {
  /** true when the service could not be reached (try again later, keep the sign-in). */
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

interface Claims {
  sub?: string;
  exp?: number;
  "cognito:username"?: string;
  username?: string;
}

/** Read a JWT's claims without verifying it (the server verifies; we only need whose). */
export function decodeJwt(token: string): Claims {
  const part = token.split(".")[1];
  if (!part) throw new AuthError("the server sent something that is not a token");
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Claims;
}

function identityFrom(idToken: string, refreshToken?: string): Identity {
  const claims = decodeJwt(idToken);
  const username = claims["cognito:username"] ?? claims.username;
  if (!claims.sub || !username) throw new AuthError("the token names no user");
  return {
    username,
    userId: claims.sub,
    idToken,
    refreshToken,
    expiresAt: (claims.exp ?? 0) * 1000,
  };
}

async function readMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { message?: unknown; __type?: unknown };
    if (typeof body.message === "string" && body.message) return body.message;
  } catch {
    /* not JSON: fall through */
  }
  return `HTTP ${response.status} ${response.statusText}`.trim();
}

export async function localSignIn(config: AppConfig, username: string): Promise<Identity> {
  let response: Response;
  try {
    response = await fetch(`${config.http_url}/_local/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username }),
    });
  } catch {
    throw new AuthError(`cannot reach the local stack at ${config.http_url}`, true);
  }
  if (response.status === 404 || response.status === 405) {
    throw new AuthError(`${config.http_url} offers no local sign-in (POST /_local/token)`);
  }
  if (!response.ok) throw new AuthError(await readMessage(response), response.status >= 500);
  const body = (await response.json()) as { idToken?: unknown };
  if (typeof body.idToken !== "string") throw new AuthError("the local stack sent no token");
  return identityFrom(body.idToken);
}

// AWS: Cognito's JSON API answers errors as {"__type": "NotAuthorizedException",
// "message": "..."} (Cognito API reference, "Common errors").
const COGNITO_ERRORS: Record<string, string> = {
  NotAuthorizedException: "Wrong username or password.",
  UserNotFoundException: "Wrong username or password.",
  UserNotConfirmedException: "This account is not confirmed yet: ask an admin to confirm it.",
  PasswordResetRequiredException: "This account needs a password reset first.",
  TooManyRequestsException: "Too many attempts: wait a moment and try again.",
  InvalidParameterException: "Cognito refused the request",
};

async function cognito(config: AppConfig, body: object): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(cognitoUrl(config), {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
      },
      body: JSON.stringify(body),
    });
  } catch {
    throw new AuthError(`cannot reach Cognito in ${config.region}`, true);
  }
  const data = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    const type =
      String(data.__type ?? "")
        .split("#")
        .pop() ?? "";
    const known = COGNITO_ERRORS[type];
    const detail = typeof data.message === "string" ? data.message : `HTTP ${response.status}`;
    if (type === "InvalidParameterException") throw new AuthError(`${known}: ${detail}`);
    throw new AuthError(known ?? `${type || "Cognito error"}: ${detail}`);
  }
  return data;
}

function tokensOf(data: Record<string, unknown>): { IdToken?: string; RefreshToken?: string } {
  if (typeof data.ChallengeName === "string") {
    const hint =
      data.ChallengeName === "NEW_PASSWORD_REQUIRED"
        ? " (the account still has a temporary password: set a permanent one first)"
        : "";
    throw new AuthError(
      `Cognito asks for ${data.ChallengeName}, which this page cannot answer${hint}`,
    );
  }
  return (data.AuthenticationResult ?? {}) as { IdToken?: string; RefreshToken?: string };
}

export async function passwordSignIn(
  config: AppConfig,
  username: string,
  password: string,
): Promise<Identity> {
  const data = await cognito(config, {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: config.user_pool_client_id,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  const tokens = tokensOf(data);
  if (!tokens.IdToken) throw new AuthError("Cognito issued no token");
  return identityFrom(tokens.IdToken, tokens.RefreshToken);
}

/** A new ID token for the same user: local re-issue, or Cognito's refresh flow. */
export async function renew(config: AppConfig, identity: Identity): Promise<Identity> {
  if (config.local_auth) return localSignIn(config, identity.username);
  if (!identity.refreshToken) throw new AuthError("your sign-in expired");
  const data = await cognito(config, {
    AuthFlow: "REFRESH_TOKEN_AUTH",
    ClientId: config.user_pool_client_id,
    AuthParameters: { REFRESH_TOKEN: identity.refreshToken },
  });
  const tokens = tokensOf(data);
  if (!tokens.IdToken) throw new AuthError("Cognito issued no token");
  // AWS: REFRESH_TOKEN_AUTH returns no new refresh token; the old one stays valid.
  return identityFrom(tokens.IdToken, tokens.RefreshToken ?? identity.refreshToken);
}

// One sign-in per tab (sessionStorage), so a reload keeps you in and two tabs can be two
// different players.
function storageKey(config: AppConfig): string {
  return `duelctl.identity.${config.target}.${config.user_pool_client_id ?? "local"}`;
}

export function loadIdentity(config: AppConfig): Identity | null {
  try {
    const raw = sessionStorage.getItem(storageKey(config));
    if (!raw) return null;
    const identity = JSON.parse(raw) as Identity;
    return typeof identity.idToken === "string" ? identity : null;
  } catch {
    return null;
  }
}

export function saveIdentity(config: AppConfig, identity: Identity | null): void {
  try {
    if (identity) sessionStorage.setItem(storageKey(config), JSON.stringify(identity));
    else sessionStorage.removeItem(storageKey(config));
  } catch {
    /* storage disabled: the sign-in just does not survive a reload */
  }
}
