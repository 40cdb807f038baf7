// Small comforts on top of htmx. The page works without this file.
"use strict";

const composer = () => document.getElementById("composer");
const streamingReply = () => document.querySelector("#messages .message.status-streaming");

// Keys: Enter sends (Shift+Enter: a new line); Escape stops a reply being written;
// Ctrl+Shift+O starts a new chat; Shift+Escape focuses the message box; Ctrl+/ lists them.
document.addEventListener("keydown", (event) => {
  const box = event.target;
  if (box.id === "content" && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    box.form.requestSubmit();
  } else if (event.key === "Escape" && event.shiftKey) {
    event.preventDefault();
    document.getElementById("content")?.focus();
  } else if (event.key === "Escape" && streamingReply() && !somethingOpen()) {
    stopReply();
  } else if ((event.ctrlKey || event.metaKey) && event.shiftKey && event.key.toLowerCase() === "o") {
    event.preventDefault();
    document.querySelector("a.new-chat")?.click();
  } else if ((event.ctrlKey || event.metaKey) && event.key === "/") {
    event.preventDefault();
    document.getElementById("shortcuts")?.togglePopover();
  }
});

function somethingOpen() {  // Escape closes it first
  try {
    return Boolean(document.querySelector("details[open], [popover]:popover-open"));
  } catch {
    return Boolean(document.querySelector("details[open]"));
  }
}

// Send becomes Stop while a reply is being written. A message sent meanwhile waits in the
// box and goes when the reply is done (the server takes one reply at a time per chat).
let queued = false;
function stopReply() {
  streamingReply()?.querySelector("form[data-live=stop]")?.requestSubmit();
}
function note(text) {
  const line = composer()?.querySelector(".composer-note");
  if (line) line.textContent = text;
}
document.addEventListener("submit", (event) => {
  if (event.target.id !== "composer" || !streamingReply()) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  queued = true;
  note("Sends when the reply is done.");
}, true);
document.addEventListener("click", (event) => {
  if (event.target.closest(".stop-button")) stopReply();
});
function syncComposer() {
  const form = composer();
  if (!form) return;
  const streaming = Boolean(streamingReply());
  form.querySelector(".send-button").hidden = streaming;
  form.querySelector(".stop-button").hidden = !streaming;
  if (!streaming && queued) {
    queued = false;
    note("");
    form.requestSubmit();
  }
}

// A reply that finishes is read out once, whole (not token by token).
function announce(article) {
  const announcer = document.getElementById("announcer");
  const text = article.querySelector(".message-text")?.innerText.trim();
  if (announcer && text) announcer.textContent = "Reply: " + text.slice(0, 600);
}

// Copy: a message, or one code block.
async function copy(button, text) {
  try {
    await navigator.clipboard.writeText(text);
    button.classList.add("copied");
    setTimeout(() => button.classList.remove("copied"), 1500);
  } catch {
    button.title = "Copying is not allowed here: select the text instead";
  }
}
document.addEventListener("click", (event) => {
  const button = event.target.closest(".copy-button, .code-copy");
  if (!button) return;
  const source = button.classList.contains("code-copy")
    ? button.closest(".code-block").querySelector("code, pre")
    : button.closest(".message").querySelector(".message-text");
  copy(button, source.innerText);
});

// New content (the page, a swap, a socket frame): what this file adds to it.
// An icon of the sprite, cloned from one the page shows already (its address carries the
// sprite's version, which this file does not know); null if the page has none of it.
function icon(name) {
  return document.querySelector(`use[href$="#${name}"]`)?.closest("svg").cloneNode(true) ?? null;
}
function enhance(root) {
  for (const button of root.querySelectorAll(".copy-button[hidden]")) button.hidden = false;
  // (A block finished while the reply streams arrives as the added node itself.)
  const blocks = root.matches?.(".message-text.markdown pre") ? [root] : root.querySelectorAll(".message-text.markdown pre");
  for (const pre of blocks) {
    if (pre.parentElement.classList.contains("code-block")) continue;
    const block = document.createElement("div");
    block.className = "code-block";
    pre.replaceWith(block);
    block.append(pre);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "icon-button code-copy";
    button.setAttribute("aria-label", "Copy code");
    button.title = "Copy code";
    const glyph = icon("copy");
    if (glyph) button.append(glyph);
    block.append(button);
  }
  for (const time of root.querySelectorAll("time[datetime]:not([title])")) {
    const when = new Date(time.dateTime);
    time.title = when.toLocaleString();
    time.textContent = when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }
}
let wasStreaming = new Set();
function watchPage() {
  const messages = document.getElementById("messages");
  if (!messages || messages.dataset.watched) return;
  messages.dataset.watched = "yes";
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) if (node.nodeType === 1 && !node.closest(".tail")) enhance(node);
    }
    const streaming = new Set([...messages.querySelectorAll(".message.status-streaming")].map((m) => m.id));
    for (const id of wasStreaming) {
      const article = document.getElementById(id);
      if (!streaming.has(id) && article) announce(article);
    }
    wasStreaming = streaming;
    syncComposer();
  }).observe(messages, { childList: true, subtree: true });
  wasStreaming = new Set([...messages.querySelectorAll(".message.status-streaming")].map((m) => m.id));
}

// Keep the newest text in view while a reply streams in, unless the reader scrolled up.
function followMessages() {
  const list = document.querySelector(".messages");  // the scroller around #messages
  if (!list || list.dataset.following) return;
  list.dataset.following = "yes";
  let atBottom = true;
  list.addEventListener("scroll", () => {
    atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  });
  new MutationObserver(() => {
    if (atBottom) list.scrollTop = list.scrollHeight;
  }).observe(list, { childList: true, subtree: true, characterData: true });
  list.scrollTop = list.scrollHeight;
}

// Files: chosen with the attach button, dropped on the composer or pasted into it; shown as
// chips (a thumbnail for an image) that can be removed before sending.
function filesInput() {
  return composer()?.querySelector("input[type=file]");
}
function addFiles(files) {
  const input = filesInput();
  if (!input || !files.length) return;
  const all = new DataTransfer();
  for (const file of [...input.files, ...files]) all.items.add(file);
  input.files = all.files;
  showChips();
}
function removeFile(index) {
  const input = filesInput();
  const kept = new DataTransfer();
  [...input.files].forEach((file, i) => i !== index && kept.items.add(file));
  input.files = kept.files;
  showChips();
}
function showChips() {
  const form = composer();
  const chips = form?.querySelector(".chips");
  if (!chips) return;
  for (const img of chips.querySelectorAll("img")) URL.revokeObjectURL(img.src);
  chips.replaceChildren();
  [...filesInput().files].forEach((file, index) => {
    const chip = document.createElement("li");
    chip.className = "chip";
    if (file.type.startsWith("image/")) {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = "";
      chip.append(img);
    } else {
      const glyph = icon("file") ?? icon("attach");
      if (glyph) chip.append(glyph);
    }
    const name = document.createElement("span");
    name.textContent = file.name;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "icon-button";
    remove.setAttribute("aria-label", `Remove ${file.name}`);
    remove.title = "Remove";
    remove.append(icon("close") ?? "×");
    remove.addEventListener("click", () => removeFile(index));
    chip.append(name, remove);
    chips.append(chip);
  });
  chips.hidden = chips.children.length === 0;
}
document.addEventListener("change", (event) => {
  if (event.target.matches("#composer input[type=file]")) showChips();
});
document.addEventListener("paste", (event) => {
  if (!event.target.closest("#composer") || !event.clipboardData.files.length) return;
  event.preventDefault();
  addFiles(event.clipboardData.files);
});
for (const type of ["dragenter", "dragover"]) {
  document.addEventListener(type, (event) => {
    if (!composer() || !event.dataTransfer.types.includes("Files")) return;
    event.preventDefault();
    composer().classList.add("dragging");
  });
}
document.addEventListener("dragleave", (event) => {
  if (!event.relatedTarget) composer()?.classList.remove("dragging");
});
document.addEventListener("drop", (event) => {
  if (!composer() || !event.dataTransfer.files.length) return;
  event.preventDefault();
  composer().classList.remove("dragging");
  addFiles(event.dataTransfer.files);
});

document.addEventListener("DOMContentLoaded", () => {
  enhance(document);
  watchPage();
  followMessages();
  syncComposer();
  if (!window.matchMedia("(max-width: 760px)").matches) document.getElementById("content")?.focus();
});

// While the page's socket is open, forms marked data-live (send, stop) go over it instead
// of an HTTP request; the answer comes back as fragments on the socket. Closed or never
// connected (a proxy without WebSocket support), they stay ordinary htmx requests.
let liveSocket = null;
function showLiveStatus(paused) {
  const status = document.getElementById("live-status");
  if (status) status.hidden = !paused;
}
document.addEventListener("htmx:ws:after:connection", (event) => {
  liveSocket = event.detail.connection.socket;
  document.body.dataset.live = "open";  // for tests and styles: the page is live
  showLiveStatus(false);
});
document.addEventListener("htmx:ws:close", (event) => {
  liveSocket = null;
  delete document.body.dataset.live;
  // 4401: this session was ended (logged out here or elsewhere): reloading shows the log-in page.
  if (event.detail.code === 4401) window.location.reload();
  // Refused (the server full, 503; or away) or dropped: say so while it reconnects.
  else if (event.detail.reason === "closed" && event.detail.code !== 1000) showLiveStatus(true);
});
document.addEventListener("htmx:before:request", (event) => {
  const form = event.target.closest && event.target.closest("form[data-live]");
  if (!form || !liveSocket || liveSocket.readyState !== WebSocket.OPEN) return;
  // Files do not travel over the socket: a send with attachments stays an HTTP upload.
  if ([...form.querySelectorAll("input[type=file]")].some((input) => input.files.length)) return;
  event.preventDefault();
  liveSocket.send(JSON.stringify({ type: form.dataset.live, ...Object.fromEntries(new FormData(form)) }));
});
