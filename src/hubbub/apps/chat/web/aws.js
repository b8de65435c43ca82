// The chat client's AWS path (docs/aws.md, "The web client"): temporary credentials from a
// Cognito identity pool and a SigV4-presigned WebSocket URL for the IoT Core data endpoint.
// Web Crypto and fetch only: no SDK, nothing loaded from elsewhere, nothing evaluated.
// No DOM use outside siteProvider(), so tests run the same module in node.

const enc = new TextEncoder();
// SHA-256 of the empty payload: a WebSocket upgrade (a GET) has no body.
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ALGORITHM = "AWS4-HMAC-SHA256";
// IoT Core's WebSocket endpoint signs for this service name (AWS IoT developer guide,
// "MQTT over WebSocket protocol").
const IOT_SERVICE = "iotdevicegateway";
// The URL is signed right before it is used; it only has to be valid for the handshake.
export const PRESIGN_EXPIRES = 300;
const IDENTITY_KEY = "hubbub.aws.identity";
const SESSION_TAKEN_OVER = 0x8e; // MQTT 5.0 §2.4, DISCONNECT reason code
const REGION_RE = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const POOL_RE = /^([a-z]{2}(?:-[a-z]+)+-\d{1,2}):[0-9a-f-]{36}$/;
// a DNS name (lower case, as the signed Host header must match it), with a port for tests
const HOST_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/;

export class AwsError extends Error {
  // type: Cognito's error type (e.g. ResourceNotFoundException) or "ConfigError";
  // status: the HTTP status (0 when there was none); retryAfter: seconds, when retrying helps.
  constructor(type, message, status = 0, retryAfter = undefined) {
    super(`${type}: ${message}`);
    this.name = "AwsError";
    this.type = type;
    this.status = status;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

// ---- SigV4 (AWS General Reference, "Create a signed AWS API request", query parameters) ----

// RFC 3986 unreserved characters stay, everything else is %XX (what SigV4 and botocore use).
export function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", enc.encode(text)));
}

async function hmac(key, text) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" },
                                          false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(text)));
}

// 20261127T045500Z
export function amzDate(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

// The wss:// URL for IoT Core's MQTT endpoint, signed with temporary credentials.
// The session token is appended after signing, as IoT Core requires (it is not part of
// the canonical query; AWS IoT developer guide, "MQTT over WebSocket protocol").
export async function presignIotUrl({ endpoint, region, credentials, now, expires = PRESIGN_EXPIRES,
                                      path = "/mqtt" }) {
  const host = String(endpoint).toLowerCase();
  if (!HOST_RE.test(host)) throw new AwsError("ConfigError", `not a host name: ${endpoint}`);
  if (!REGION_RE.test(region)) throw new AwsError("ConfigError", `not a region: ${region}`);
  const { accessKeyId, secretAccessKey, sessionToken } = credentials || {};
  if (typeof accessKeyId !== "string" || !accessKeyId || typeof secretAccessKey !== "string" ||
      !secretAccessKey || (sessionToken != null && typeof sessionToken !== "string")) {
    throw new AwsError("ConfigError", "credentials need accessKeyId and secretAccessKey");
  }
  if (!Number.isFinite(now)) throw new AwsError("ConfigError", `not a time: ${now}`);
  if (!Number.isInteger(expires) || expires < 1 || expires > 604800) {
    // SigV4 presigned URLs live at most seven days
    throw new AwsError("ConfigError", `X-Amz-Expires must be 1-604800, not ${expires}`);
  }
  const stamp = amzDate(now);
  const day = stamp.slice(0, 8);
  const scope = `${day}/${region}/${IOT_SERVICE}/aws4_request`;
  // Already in code-point order, as the canonical query string must be.
  const params = [
    ["X-Amz-Algorithm", ALGORITHM],
    ["X-Amz-Credential", `${accessKeyId}/${scope}`],
    ["X-Amz-Date", stamp],
    ["X-Amz-Expires", String(expires)],
    ["X-Amz-SignedHeaders", "host"],
  ];
  const query = params.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join("&");
  const canonical = ["GET", path, query, `host:${host}\n`, "host", EMPTY_SHA256].join("\n");
  const toSign = [ALGORITHM, stamp, scope, await sha256Hex(canonical)].join("\n");
  let key = enc.encode(`AWS4${secretAccessKey}`);
  for (const part of [day, region, IOT_SERVICE, "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  let url = `wss://${host}${path}?${query}&X-Amz-Signature=${signature}`;
  if (sessionToken) url += `&X-Amz-Security-Token=${uriEncode(sessionToken)}`;
  return url;
}

// ---- Cognito identity pool (Amazon Cognito Identity API reference: GetId,
// GetCredentialsForIdentity; both unsigned, JSON 1.1 protocol) ----

export function cognitoUrl(cfg) {
  if (cfg.cognitoEndpoint) return cfg.cognitoEndpoint;
  const suffix = cfg.region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return `https://cognito-identity.${cfg.region}.${suffix}/`;
}

function errorType(raw) {
  // "com.amazonaws.cognito.identity.model#ResourceNotFoundException" or the bare name
  const t = String(raw || "").split("#").pop().split(":")[0];
  return /^[A-Za-z]+$/.test(t) ? t : "UnknownError";
}

const THROTTLED = new Set(["TooManyRequestsException", "LimitExceededException",
                           "ThrottlingException"]);

export async function cognitoCall(cfg, target, body, fetchImpl = globalThis.fetch) {
  let res;
  try {
    res = await fetchImpl(cognitoUrl(cfg), {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1",
                 "x-amz-target": `AWSCognitoIdentityService.${target}` },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new AwsError("NetworkError", `${target}: ${err.message || err}`, 0, 5);
  }
  const text = await res.text();
  let data = null;
  try { data = JSON.parse(text); } catch { /* reported below */ }
  if (!res.ok) {
    const type = errorType(data?.__type || res.headers.get("x-amzn-errortype"));
    const message = String(data?.message || data?.Message || `HTTP ${res.status}`);
    const retry = THROTTLED.has(type) || res.status >= 500 ? 5 : undefined;
    throw new AwsError(type, `${target}: ${message}`, res.status, retry);
  }
  if (!data || typeof data !== "object") {
    throw new AwsError("BadResponse", `${target}: not a JSON object`, res.status);
  }
  return data;
}

function str(value, what) {
  if (typeof value !== "string" || !value) throw new AwsError("BadResponse", `no ${what}`);
  return value;
}

// Temporary credentials for `identityId` (a new identity when it is null or Cognito no
// longer knows it). expiresAt is in ms since the epoch, like the local credentials'.
export async function getIdentityCredentials(cfg, identityId = null, fetchImpl = globalThis.fetch) {
  let id = identityId;
  for (;;) {
    const known = Boolean(id);
    if (!known) {
      id = str((await cognitoCall(cfg, "GetId", { IdentityPoolId: cfg.identityPoolId },
                                  fetchImpl)).IdentityId, "IdentityId");
    }
    let out;
    try {
      out = await cognitoCall(cfg, "GetCredentialsForIdentity", { IdentityId: id }, fetchImpl);
    } catch (err) {
      // A remembered identity that was deleted, or belongs to another pool: start afresh.
      if (known && (err.type === "ResourceNotFoundException" ||
                    err.type === "NotAuthorizedException")) { id = null; continue; }
      throw err;
    }
    if (out.IdentityId !== undefined && out.IdentityId !== id) {
      throw new AwsError("BadResponse", "credentials for another identity");
    }
    const c = out.Credentials || {};
    const expiration = Number(c.Expiration);
    if (!Number.isFinite(expiration)) throw new AwsError("BadResponse", "no Expiration");
    return {
      identityId: id,
      accessKeyId: str(c.AccessKeyId, "AccessKeyId"),
      secretAccessKey: str(c.SecretKey, "SecretKey"),
      sessionToken: str(c.SessionToken, "SessionToken"),
      expiresAt: Math.round(expiration * 1000),
    };
  }
}

// ---- the site's config.json: {"provider": "hubbub"} as shipped (credentials from
// POST /api/credentials); `hubbub export` replaces it with {"provider": "aws", ...} ----

export function parseSiteConfig(raw) {
  if (!raw || typeof raw !== "object" || raw.provider !== "aws") return null;
  const { region, identityPoolId, iotEndpoint, cognitoEndpoint } = raw;
  if (!region && !identityPoolId && !iotEndpoint) {
    throw new AwsError("ConfigError",
      "config.json is not filled in yet (hubbub export site-config, docs/aws.md)");
  }
  if (typeof region !== "string" || !REGION_RE.test(region)) {
    throw new AwsError("ConfigError", `config.json: region ${JSON.stringify(region)} is not a region`);
  }
  const pool = typeof identityPoolId === "string" ? POOL_RE.exec(identityPoolId) : null;
  if (!pool || pool[1] !== region) {
    throw new AwsError("ConfigError",
      `config.json: identityPoolId must be "${region}:<uuid>"`);
  }
  if (typeof iotEndpoint !== "string" || !HOST_RE.test(iotEndpoint)) {
    throw new AwsError("ConfigError", "config.json: iotEndpoint must be a host name");
  }
  const cfg = { provider: "aws", region, identityPoolId, iotEndpoint };
  if (cognitoEndpoint !== undefined) {
    // Another endpoint (FIPS, a proxy, a test's fake): https only, except on this machine.
    let u = null;
    try { u = new URL(cognitoEndpoint); } catch { /* refused below */ }
    const local = u && u.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
    if (!u || !(u.protocol === "https:" || local)) {
      throw new AwsError("ConfigError", "config.json: cognitoEndpoint must be an https URL");
    }
    cfg.cognitoEndpoint = u.href;
  }
  return cfg;
}

export async function loadSiteConfig(url = "/config.json", fetchImpl = globalThis.fetch) {
  let res;
  try { res = await fetchImpl(url, { cache: "no-cache" }); } catch { return null; }
  // No config.json (an application that ships none: 404, or CloudFront's fallback, which
  // answers an unknown path with the page itself, text/html) means "not on AWS".
  if (!res.ok || !(res.headers.get("content-type") || "").includes("json")) return null;
  let raw;
  try { raw = await res.json(); } catch {
    throw new AwsError("ConfigError", "config.json is not valid JSON");
  }
  return parseSiteConfig(raw);
}

// What app.js needs from a credentials source on AWS. One Cognito identity per tab
// (sessionStorage): the identity id is the MQTT client id, and IoT Core disconnects the
// older of two connections with the same client id.
export function awsProvider(cfg, storage, fetchImpl = globalThis.fetch) {
  return {
    kind: "aws",
    async getCredentials() {
      const c = await getIdentityCredentials(cfg, storage.getItem(IDENTITY_KEY), fetchImpl);
      storage.setItem(IDENTITY_KEY, c.identityId);
      return { clientId: c.identityId, expiresAt: c.expiresAt, aws: c };
    },
    // Another connection took this client id (IoT Core: DISCONNECT 0x8E, "Session taken
    // over"): a duplicated tab copies sessionStorage, so both tabs hold one identity. The
    // tab that was pushed out takes a new identity instead of pushing back.
    takenOver(reasonCode) {
      if (reasonCode !== SESSION_TAKEN_OVER) return false;
      storage.removeItem(IDENTITY_KEY);
      return true;
    },
    mqttUrl(creds, now = Date.now()) {
      return presignIotUrl({ endpoint: cfg.iotEndpoint, region: cfg.region,
                             credentials: creds.aws, now });
    },
  };
}

// The provider for this page: null when hubbub serves it (POST /api/credentials).
export async function siteProvider() {
  const cfg = await loadSiteConfig();
  return cfg ? awsProvider(cfg, sessionStorage) : null;
}
