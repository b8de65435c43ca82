// The hubbub chat client. It gets credentials, talks MQTT over WebSocket, and follows the
// typed instructions the backend sends on chat/in/{clientId} (docs/chat-protocol.md).
import mqttModule from "./vendor/mqtt-5.16.0.esm.js";
import { el, linkify, timeLabel, reactionBar } from "./render.js";
import { siteProvider } from "./aws.js";

const mqtt = mqttModule.connect ? mqttModule : mqttModule.default;
const ROOM_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const GROUP_MS = 5 * 60 * 1000;
const TYPING_EVERY_MS = 3000;
const TYPING_STALE_MS = 6000;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), messages: $("messages"), presence: $("presence"), count: $("count"),
  composer: $("composer"), name: $("name"), text: $("text"), typing: $("typing"),
  notice: $("notice"), older: $("older"), olderButton: $("older-button"),
  roomForm: $("room-form"), roomInput: $("room-input"),
};

// ---- room from the URL path ----
let room = decodeURIComponent(location.pathname.slice(1).split("/")[0] || "");
if (!room) {
  room = "lobby";
  history.replaceState(null, "", "/lobby");
}
const roomValid = ROOM_RE.test(room);
document.title = `#${room} · hubbub`;
ui.roomInput.value = room;
ui.roomForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const next = ui.roomInput.value.trim();
  if (ROOM_RE.test(next)) location.assign("/" + encodeURIComponent(next));
  else showNotice("A room name is 1-64 letters, digits, '.', '-' or '_'.");
});

// ---- nickname, remembered per browser ----
const NICK_KEY = "hubbub.nick";
ui.name.value = localStorage.getItem(NICK_KEY) || `guest-${Math.random().toString(36).slice(2, 6)}`;
ui.name.addEventListener("change", () => {
  const v = ui.name.value.trim();
  if (!v) return;
  localStorage.setItem(NICK_KEY, v);
  // announce the new name: the backend updates the room's presence list
  publish("chat/out", { type: "join", room, user: v });
});
localStorage.setItem(NICK_KEY, ui.name.value);

// ---- state ----
const state = {
  creds: null, client: null, myId: null, connected: false, attempts: 0,
  messages: new Map(), // id -> message, the room's messages this page shows
  before: undefined,   // cursor for older history (null: nothing older)
  reactions: new Map(), // messageId -> {emoji: n}
  typing: new Map(),    // user -> last seen ms
  spoke: new Map(),     // user -> server timestamp (ms) of their latest live message
  unread: 0, lastTyping: 0, renewTimer: null, reconnectTimer: null, welcomed: false,
};

function setStatus(kind, text) {
  ui.status.dataset.state = kind;
  ui.status.textContent = text;
}

function showNotice(text) {
  ui.notice.hidden = false;
  ui.notice.textContent = text;
  clearTimeout(showNotice.t);
  showNotice.t = setTimeout(() => { ui.notice.hidden = true; }, 8000);
}

// ---- credentials ----
// A tab keeps its own token (sessionStorage: a reload keeps the client id); the browser
// keeps the last token (localStorage) so that a new tab keeps the identity with a new
// client id, instead of taking over another tab's connection.
const TAB_TOKEN = "hubbub.token";
const IDENTITY_TOKEN = "hubbub.identity";
async function getCredentials() {
  const mine = sessionStorage.getItem(TAB_TOKEN);
  const known = localStorage.getItem(IDENTITY_TOKEN);
  const body = mine ? { token: mine } : known ? { token: known, newClientId: true } : {};
  const res = await fetch("/api/credentials", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  if (res.status === 429) {
    const wait = Number(res.headers.get("retry-after") || "5");
    throw Object.assign(new Error("rate limited"), { retryAfter: wait });
  }
  if (!res.ok) throw new Error(`credentials: HTTP ${res.status}`);
  const creds = await res.json();
  sessionStorage.setItem(TAB_TOKEN, creds.token);
  localStorage.setItem(IDENTITY_TOKEN, creds.token);
  return creds;
}

// On AWS (a config.json beside the page, docs/aws.md) credentials come from Cognito and the
// URL is presigned; null when hubbub serves the page.
let aws = null;
const fetchCredentials = () => (aws ? aws.getCredentials() : getCredentials());

function scheduleRenew() {
  clearTimeout(state.renewTimer);
  const ms = Math.max(5000, (state.creds.expiresAt - Date.now()) * 0.8);
  state.renewTimer = setTimeout(async () => {
    try {
      state.creds = await fetchCredentials();
      if (state.client && !aws) state.client.options.password = state.creds.token;
      scheduleRenew();
    } catch {
      state.renewTimer = setTimeout(scheduleRenew, 10000);
    }
  }, ms);
}

// ---- connection, with backoff and jitter ----
function wsUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/mqtt`;
}

function scheduleReconnect() {
  if (state.reconnectTimer) return;
  const base = Math.min(30000, 1000 * 2 ** Math.min(state.attempts, 5));
  const delay = base / 2 + Math.random() * base / 2;
  state.attempts += 1;
  setStatus("reconnecting", `reconnecting in ${Math.round(delay / 1000)}s…`);
  state.reconnectTimer = setTimeout(() => { state.reconnectTimer = null; connect(); }, delay);
}

async function connect() {
  setStatus(state.attempts ? "reconnecting" : "connecting",
            state.attempts ? "reconnecting…" : "connecting…");
  let url;
  try {
    if (!state.creds || state.creds.expiresAt - Date.now() < 60000) {
      state.creds = await fetchCredentials();
      scheduleRenew();
    }
    // On AWS the signed URL carries the credentials (signed now, for this handshake only).
    url = aws ? await aws.mqttUrl(state.creds) : state.creds.mqttUrl || wsUrl();
  } catch (err) {
    scheduleReconnect();
    return;
  }
  state.myId = state.creds.clientId;
  const login = aws ? {} : { username: "guest", password: state.creds.token };
  const client = mqtt.connect(url, {
    clientId: state.creds.clientId, ...login,
    protocolVersion: 5, clean: true, reconnectPeriod: 0, connectTimeout: 10000,
    // native timers: the worker variant needs a blob: worker, which our CSP forbids; a
    // 120 s keep-alive survives the one-minute timer throttling of hidden tabs
    keepalive: 120, timerVariant: "native",
  });
  state.client = client;
  client.on("connect", () => onConnect(client));
  client.on("message", (topic, payload) => onMessage(topic, payload));
  client.on("disconnect", (packet) => {
    // on AWS the client id is the identity: pushed out by a copy of this tab, get another
    if (state.client === client && aws && aws.takenOver(packet?.reasonCode)) state.creds = null;
  });
  client.on("error", () => {});
  client.on("close", () => {
    if (state.client !== client) return;
    state.connected = false;
    state.client = null;
    client.removeAllListeners();
    client.end(true);
    scheduleReconnect();
  });
}

function onConnect(client) {
  state.connected = true;
  state.attempts = 0;
  state.welcomed = false;
  setStatus("online", "online");
  client.subscribe([`chat/in/${state.myId}`, `chat/pub/${room}`], { qos: 1 }, (err) => {
    if (err) { showNotice("Could not join the room."); return; }
    publish("chat/out", { type: "join", room, user: nick() });
  });
}

function nick() {
  return ui.name.value.trim() || "guest";
}

function publish(topic, obj, qos = 1) {
  if (!state.client || !state.connected) return false;
  state.client.publish(topic, JSON.stringify(obj), { qos });
  return true;
}

// ---- instructions from the backend ----
function onMessage(topic, payload) {
  let msg;
  try { msg = JSON.parse(new TextDecoder().decode(payload)); } catch { return; }
  if (!msg || typeof msg !== "object") return;
  switch (msg.type) {
    case "welcome": return onWelcome(msg);
    case "history": return addMessages(msg.messages || [], { older: true, before: msg.before });
    case "message": return addMessages([msg], { live: true });
    case "presence": return renderPresence(msg.members || []);
    case "typing": return onTyping(msg.users || [], msg.at);
    case "reactions": return onReactions(msg.counts || {});
    case "notice": return showNotice(String(msg.text || ""));
    case "error": return showNotice(String(msg.message || "Something went wrong."));
    case "command": return addCommandResult(msg);
    default: return undefined;
  }
}

async function onWelcome(msg) {
  const first = state.messages.size === 0;
  addMessages(msg.history?.messages || [], { older: true, before: msg.history?.before });
  renderPresence(msg.presence || []);
  if (!first) await catchUp();
  state.welcomed = true;
}

// After a reconnect: fetch everything after the newest message we show; ids order the room.
async function catchUp() {
  const ids = [...state.messages.keys()].filter((k) => !k.includes("~")).sort();
  let after = ids[ids.length - 1];
  for (let i = 0; after && i < 20; i++) {
    const res = await fetch(`/api/rooms/${encodeURIComponent(room)}/messages?after=${encodeURIComponent(after)}&limit=100`);
    if (!res.ok) return;
    const page = await res.json();
    addMessages(page.messages || [], {});
    if (!page.more || !page.messages.length) return;
    after = page.messages[page.messages.length - 1].id;
  }
}

async function loadOlder() {
  if (!state.before) return;
  const res = await fetch(`/api/rooms/${encodeURIComponent(room)}/messages?before=${encodeURIComponent(state.before)}&limit=50`);
  if (!res.ok) return;
  const page = await res.json();
  const height = ui.messages.scrollHeight;
  addMessages(page.messages || [], { older: true, before: page.before });
  ui.messages.scrollTop += ui.messages.scrollHeight - height;
}
ui.olderButton.addEventListener("click", loadOlder);
ui.messages.addEventListener("scroll", () => {
  if (ui.messages.scrollTop < 40) loadOlder();
});

// ---- messages ----
function addMessages(list, { older = false, before, live = false } = {}) {
  const nearBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 80;
  const oldestKnown = [...state.messages.keys()].filter((k) => !k.includes("~")).sort()[0] ?? null;
  let added = 0;
  const refreshed = {};
  for (const m of list) {
    if (!m || typeof m.id !== "string") continue;
    if (live && typeof m.user === "string") {
      state.typing.delete(m.user);
      if (typeof m.timestamp === "number") state.spoke.set(m.user, m.timestamp);
    }
    if (state.messages.has(m.id)) {
      // already shown: only newer reaction totals (from history after a reconnect) apply
      if (m.reactions) refreshed[m.id] = m.reactions;
      continue;
    }
    state.messages.set(m.id, m);
    if (m.reactions) state.reactions.set(m.id, m.reactions);
    added++;
  }
  if (Object.keys(refreshed).length) onReactions(refreshed);
  if (live) showTyping();
  // The cursor follows the oldest page loaded; a newer page (a welcome after a reconnect)
  // must not move it forward.
  if (older && before !== undefined) {
    const pageOldest = list.length && list[0] ? list[0].id : null;
    if (state.before === undefined || oldestKnown === null ||
        (pageOldest !== null && pageOldest <= oldestKnown)) state.before = before;
  }
  ui.older.hidden = !state.before;
  if (!added) return;
  render();
  if (live && document.hidden) {
    state.unread += list.filter((m) => m.clientId !== state.myId).length;
    updateTitle();
  }
  if (nearBottom || !older || live) ui.messages.scrollTop = ui.messages.scrollHeight;
}

function render() {
  const sorted = [...state.messages.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const frag = document.createDocumentFragment();
  let prev = null;
  for (const m of sorted) {
    if (m.type === "command") { frag.append(renderCommand(m)); prev = null; continue; }
    const grouped = prev && prev.clientId === m.clientId && prev.user === m.user &&
      m.timestamp - prev.timestamp < GROUP_MS;
    frag.append(renderMessage(m, grouped));
    prev = m;
  }
  ui.messages.replaceChildren(frag);
}

function renderMessage(m, grouped) {
  const mine = m.clientId === state.myId;
  const t = timeLabel(Number(m.timestamp) || 0);
  const li = el("li", { class: `msg${mine ? " mine" : ""}${grouped ? " grouped" : ""}`,
                        dataset: { id: m.id } });
  if (!grouped) {
    li.append(el("div", { class: "meta" },
      el("span", { class: "user" }, String(m.user ?? "")),
      mine ? el("span", { class: "you" }, " (you)") : "",
      el("time", { datetime: t.iso, title: t.long }, t.short)));
  }
  li.append(el("div", { class: "text" }, linkify(String(m.text ?? ""))));
  li.append(reactionBar(m, state.reactions.get(m.id), react));
  return li;
}

// A command's answer is private and not in the room's history: it is kept beside the
// room's messages, sorted just after the newest message shown when it arrived, so that
// re-rendering the list keeps it in place.
let commandSeq = 0;
function addCommandResult(msg) {
  const ids = [...state.messages.keys()].filter((k) => !k.includes("~")).sort();
  const id = `${ids[ids.length - 1] || ""}~${String(++commandSeq).padStart(6, "0")}`;
  state.messages.set(id, { id, type: "command", command: String(msg.command || "command"),
                           text: String(msg.text || ""), timestamp: Date.now() });
  render();
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function renderCommand(m) {
  return el("li", { class: "msg command", role: "note", dataset: { command: m.command } },
    el("div", { class: "meta" }, el("span", { class: "user" }, m.command)),
    el("pre", { class: "text" }, m.text));
}

// ---- presence, typing, reactions ----
function renderPresence(members) {
  const seen = new Set();
  const items = [];
  for (const p of members) {
    if (!p || seen.has(p.clientId)) continue;
    seen.add(p.clientId);
    const me = p.clientId === state.myId;
    items.push(el("li", { class: me ? "me" : "" }, String(p.user || "?"), me ? " (you)" : ""));
  }
  ui.presence.replaceChildren(...items);
  ui.count.textContent = `(${items.length})`;
}

function onTyping(users, at) {
  const now = Date.now();
  for (const u of users) {
    if (typeof u !== "string" || u === nick()) continue;
    // the update trails the typing by a batching window: typing that led to a message
    // already shown is over (both times are the server's clock)
    const typed = at && typeof at === "object" ? at[u] : undefined;
    if (typeof typed === "number" && (state.spoke.get(u) ?? -1) >= typed) continue;
    state.typing.set(u, now);
  }
  showTyping();
}

function showTyping() {
  const now = Date.now();
  for (const [u, at] of state.typing) if (now - at > TYPING_STALE_MS) state.typing.delete(u);
  const names = [...state.typing.keys()];
  ui.typing.textContent = names.length === 0 ? "" :
    names.length === 1 ? `${names[0]} is typing…` :
    names.length <= 3 ? `${names.join(", ")} are typing…` : "several people are typing…";
}
setInterval(showTyping, 1000);

function onReactions(counts) {
  for (const [id, byEmoji] of Object.entries(counts)) {
    state.reactions.set(id, byEmoji);
    const li = ui.messages.querySelector(`li[data-id="${CSS.escape(id)}"]`);
    const m = state.messages.get(id);
    if (li && m) li.querySelector(".reactions").replaceWith(reactionBar(m, byEmoji, react));
  }
}

function react(m, emoji) {
  publish("chat/stream", { type: "reaction", room, messageId: m.id, emoji, user: nick() }, 0);
}

// ---- composing ----
ui.text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.text.addEventListener("input", () => {
  const now = Date.now();
  // commands (/stats …) are private: typing one is not announced to the room
  if (ui.text.value && !ui.text.value.startsWith("/") && now - state.lastTyping > TYPING_EVERY_MS) {
    state.lastTyping = now;
    publish("chat/stream", { type: "typing", room, user: nick() }, 0);
  }
});
ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  if (!ui.name.value.trim()) { ui.name.focus(); showNotice("Pick a name first."); return; }
  localStorage.setItem(NICK_KEY, nick());
  const ok = text.startsWith("/")
    ? publish("chat/out", { type: "command", room, user: nick(), text })
    : publish("chat/out", { room, message: { user: nick(), text } });
  if (ok) {
    ui.text.value = "";
    state.lastTyping = 0;
  } else {
    showNotice("Not connected: your message is still in the box.");
  }
});

// ---- unread count while the tab is hidden ----
function updateTitle() {
  document.title = `${state.unread ? `(${state.unread}) ` : ""}#${room} · hubbub`;
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) { state.unread = 0; updateTitle(); }
});

if (roomValid) {
  siteProvider().then((provider) => { aws = provider; connect(); }, (err) => {
    setStatus("offline", "not configured");
    showNotice(String(err.message || err));
  });
} else {
  setStatus("offline", "invalid room");
  showNotice("This room name is not valid: use 1-64 letters, digits, '.', '-' or '_'.");
}
