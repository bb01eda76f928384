"use strict";

// The viewer (the dialog in base.html): a result opened large over the grid it came from.
// ← and → (or a swipe) go through that grid, Esc closes it; focus stays inside while it is
// open and then goes back to the result last shown. Without scripts, results are links to
// their item pages.

const SWIPE_PX = 50;

function setUpViewer() {
  const dialog = document.getElementById("viewer");
  if (!dialog || !window.htmx) return;
  const content = document.getElementById("viewer-content");
  const position = document.getElementById("viewer-position");
  const buttons = {
    previous: dialog.querySelector('[data-viewer="previous"]'),
    next: dialog.querySelector('[data-viewer="next"]'),
    close: dialog.querySelector('[data-viewer="close"]'),
  };
  content.dataset.requestName = "Opening this item";
  let links = [];
  let index = 0;

  function show(at) {
    if (at < 0 || at >= links.length) return;
    index = at;
    position.textContent = `${index + 1} of ${links.length}`;
    buttons.previous.setAttribute("aria-disabled", String(index === 0));
    buttons.next.setAttribute("aria-disabled", String(index === links.length - 1));
    // The item shown stays, dimmed, until the next one arrives (static/css/app.css).
    if (!content.firstElementChild) content.replaceChildren(notice("Loading…"));
    window.htmx.ajax("GET", links[index].dataset.viewerUrl, {source: content, target: content});
  }

  function open(link) {
    links = [...link.closest(".grid").querySelectorAll("a[data-viewer-url]")];
    dialog.showModal();
    show(links.indexOf(link));
    buttons.close.focus();
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-viewer-url]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    open(link);
  });

  buttons.previous.addEventListener("click", () => show(index - 1));
  buttons.next.addEventListener("click", () => show(index + 1));
  buttons.close.addEventListener("click", () => dialog.close());
  // A click on the backdrop (the dialog element itself, outside its box) closes it.
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });

  dialog.addEventListener("keydown", (event) => {
    // A player or a field keeps its own arrow keys.
    const own = event.target.closest("audio, video, input, select, textarea");
    if (event.key === "ArrowLeft" && !own) { event.preventDefault(); show(index - 1); }
    if (event.key === "ArrowRight" && !own) { event.preventDefault(); show(index + 1); }
    if (event.key === "Tab") keepFocusInside(event);
  });

  function keepFocusInside(event) {
    const focusable = [...dialog.querySelectorAll("a[href], button, audio[controls], input, select, textarea, [tabindex]:not([tabindex='-1'])")]
      .filter((element) => !element.disabled && element.getClientRects().length);
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
  }

  let touch = null;
  content.addEventListener("pointerdown", (event) => { touch = {x: event.clientX, y: event.clientY}; });
  content.addEventListener("pointerup", (event) => {
    if (!touch) return;
    const dx = event.clientX - touch.x;
    const dy = event.clientY - touch.y;
    touch = null;
    if (Math.abs(dx) > SWIPE_PX && Math.abs(dx) > 2 * Math.abs(dy)) show(dx < 0 ? index + 1 : index - 1);
  });

  dialog.addEventListener("close", () => {
    // Emptied, so that a playing sound stops with it.
    content.replaceChildren();
    const link = links[index];
    if (link && link.isConnected) link.focus();
  });
}

document.addEventListener("DOMContentLoaded", setUpViewer);
