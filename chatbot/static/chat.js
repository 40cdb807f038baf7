// Small comforts on top of htmx. The page works without this file.
"use strict";

// Enter sends, Shift+Enter starts a new line.
document.addEventListener("keydown", (event) => {
  const box = event.target;
  if (box.id !== "content" || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  box.form.requestSubmit();
});

// Keep the newest text in view while a reply streams in, unless the reader scrolled up.
function followMessages() {
  const list = document.getElementById("messages");
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

document.addEventListener("DOMContentLoaded", () => {
  followMessages();
  document.getElementById("content")?.focus();
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
