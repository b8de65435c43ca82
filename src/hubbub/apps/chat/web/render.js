// Rendering: every piece of text from the network becomes a text node. No innerHTML with
// message data, no eval: a nickname such as <img src=x onerror=alert(1)> shows as text.

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;
const TRAILING = /[.,;:!?)\]]+$/;

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// Text with links made clickable safely: only http(s) URLs become <a>, built as DOM nodes.
export function linkify(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    const trail = url.match(TRAILING);
    if (trail) url = url.slice(0, -trail[0].length);
    let parsed;
    try { parsed = new URL(url); } catch { continue; }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") continue;
    frag.append(text.slice(last, m.index));
    frag.append(el("a", { href: parsed.href, target: "_blank", rel: "noopener noreferrer nofollow" }, url));
    last = m.index + url.length;
  }
  frag.append(text.slice(last));
  return frag;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function timeLabel(ms) {
  const d = new Date(ms);
  return { short: timeFmt.format(d), long: dayFmt.format(d), iso: d.toISOString() };
}

export const REACTIONS = ["👍", "❤️", "😂", "🎉"];

export function reactionBar(msg, counts, onReact) {
  const bar = el("div", { class: "reactions" });
  for (const [emoji, n] of Object.entries(counts || {})) {
    if (n > 0) bar.append(el("span", { class: "reaction", title: `${n} × ${emoji}` }, `${emoji} ${n}`));
  }
  const picker = el("span", { class: "react-picker" });
  for (const emoji of REACTIONS) {
    const b = el("button", { type: "button", class: "react", "aria-label": `React ${emoji}` }, emoji);
    b.addEventListener("click", () => onReact(msg, emoji));
    picker.append(b);
  }
  bar.append(picker);
  return bar;
}
