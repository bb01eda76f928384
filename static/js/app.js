"use strict";

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// Only for the server's own responses: its templates escape what users wrote.
function insertServerHtml(target, html, position) {
  if (position) {
    target.insertAdjacentHTML(position, html);
  } else {
    target.innerHTML = html;
  }
  if (window.htmx) window.htmx.process(target);
}

// Anything a user or the browser chose (a file name, an error) goes in as text, never as HTML.
function notice(text, {error = false} = {}) {
  const paragraph = document.createElement("p");
  paragraph.className = error ? "notice notice-error" : "notice";
  paragraph.setAttribute("role", error ? "alert" : "status");
  paragraph.textContent = text;
  return paragraph;
}

// Upload many files at once, each with its own progress bar.
function setUpUploads() {
  const zone = document.getElementById("upload-drop");
  if (!zone) return;
  const picker = document.getElementById("upload-files");
  const list = document.getElementById("upload-progress");
  const recent = document.getElementById("recent");

  function upload(file) {
    const row = document.createElement("li");
    row.className = "upload-row uploading";
    const name = document.createElement("span");
    name.className = "row-title";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Uploading " + file.name);
    row.append(name, bar);
    list.prepend(row);

    const data = new FormData();
    data.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", zone.dataset.uploadUrl);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => {
      row.remove();
      insertServerHtml(request.status < 300 ? recent : list, request.responseText, "afterbegin");
    });
    request.addEventListener("error", () => {
      row.classList.add("status-failed");
      bar.replaceWith(Object.assign(document.createElement("span"), {className: "error-text", textContent: "Upload failed"}));
    });
    request.send(data);
  }

  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    [...event.dataTransfer.files].forEach(upload);
  });
  picker.addEventListener("change", () => { [...picker.files].forEach(upload); picker.value = ""; });
}

// In a script file rather than an hx-on attribute, which would need 'unsafe-eval'.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (event.detail.successful && form.matches("form.reset-after-request")) form.reset();
  const slot = form.dataset && form.dataset.errorTarget && document.querySelector(form.dataset.errorTarget);
  if (slot && event.detail.successful) slot.replaceChildren();
});

// A form's refusal (its data-error-target) shows beside the form, not where its results go.
document.addEventListener("htmx:beforeSwap", (event) => {
  const form = event.detail.requestConfig.elt;
  const slot = event.detail.isError && form.dataset && form.dataset.errorTarget && document.querySelector(form.dataset.errorTarget);
  if (!slot) return;
  event.detail.target = slot;
  event.detail.swapOverride = "innerHTML";
});

// What a failed request says in place, in words: the server's own message when it wrote one
// (a refusal fragment, or a page holding one), else what happened.
function failureText(what, {status = 0, body = ""} = {}) {
  const written = body && new DOMParser().parseFromString(body, "text/html").querySelector(".notice");
  if (written && written.textContent.trim()) return written.textContent.trim();
  if (!status) return `${what} did not reach the server. Check the connection and try again.`;
  if (status === 404) return `${what} found nothing there: it may have been hidden or deleted.`;
  if (status >= 500) return `${what} failed on the server (error ${status}). Try again in a moment.`;
  return `${what} was refused (error ${status}).`;
}

function requestName(element) {
  const named = element && element.closest && element.closest("[data-request-name]");
  return named ? named.dataset.requestName : "The request";
}

// The answers base.html's responseHandling swaps are already in place; every other failure
// (a server error, a network failure, a timeout) is put where the answer would have gone.
function swapsItself(status) {
  const rule = window.htmx.config.responseHandling.find((candidate) => new RegExp(`^${candidate.code}$`).test(String(status)));
  return Boolean(rule && rule.swap);
}

function showFailure(event, status) {
  const detail = event.detail;
  const target = detail.target || detail.elt;
  if (!target || (status && swapsItself(status))) return;
  const form = detail.requestConfig && detail.requestConfig.elt;
  const slot = (form && form.dataset && form.dataset.errorTarget && document.querySelector(form.dataset.errorTarget)) || target;
  const body = detail.xhr ? detail.xhr.responseText : "";
  slot.replaceChildren(notice(failureText(requestName(detail.elt || target), {status, body}), {error: true}));
}

document.addEventListener("htmx:responseError", (event) => showFailure(event, event.detail.xhr.status));
document.addEventListener("htmx:sendError", (event) => showFailure(event, 0));
document.addEventListener("htmx:timeout", (event) => showFailure(event, 0));

// The header's menu folds on narrow screens (static/css/app.css); without scripts it stays open.
function setUpMenu() {
  const button = document.getElementById("menu-button");
  const nav = document.getElementById("site-nav");
  if (!button || !nav) return;
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
}

document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  setUpMenu();
  setUpUploads();
});

// ---- Library items (issue 11, "library" part) ----
// htmx carries a swapped element's style attribute over when it settles (setAttribute), which
// the Content-Security-Policy refuses; tools that touch form fields leave style="" on them.
if (window.htmx) window.htmx.config.attributesToSettle = ["class", "width", "height"];

// A waveform above its player (item page, viewer) plays from where it is clicked and shades
// what has played.
function setUpWaveformPlayers(root) {
  for (const box of root.querySelectorAll(".waveform-player[data-player]:not([data-ready])")) {
    box.dataset.ready = "true";
    const audio = document.getElementById(box.dataset.player);
    const svg = box.querySelector("svg.waveform");
    if (!audio || !svg) continue;
    const width = svg.viewBox.baseVal.width;
    const played = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    played.setAttribute("class", "waveform-played");
    played.setAttribute("height", "100");
    played.setAttribute("width", "0");
    svg.append(played);
    audio.addEventListener("timeupdate", () => {
      if (audio.duration) played.setAttribute("width", String((width * audio.currentTime) / audio.duration));
    });
    svg.addEventListener("click", (event) => {
      const box = svg.getBoundingClientRect();
      if (!audio.duration || !box.width) return;
      audio.currentTime = (audio.duration * (event.clientX - box.left)) / box.width;
      audio.play();
    });
  }
}

// htmx runs this on the page, then on whatever it adds (the viewer's items).
if (window.htmx) window.htmx.onLoad(setUpWaveformPlayers);

// A video card plays its matching clip, muted, while the pointer rests on it; the file is
// fetched only then (preload="none", the source set on the first hover).
document.addEventListener("pointerover", (event) => {
  const visual = event.target.closest && event.target.closest(".card-video .card-visual");
  const video = visual && visual.querySelector("video.hover-preview");
  if (!video || visual.contains(event.relatedTarget)) return;
  if (!video.src) video.src = video.dataset.src;
  visual.classList.add("previewing");
  video.play().catch(() => visual.classList.remove("previewing"));
});
document.addEventListener("pointerout", (event) => {
  const visual = event.target.closest && event.target.closest(".card-video .card-visual");
  if (!visual || visual.contains(event.relatedTarget)) return;
  const video = visual.querySelector("video.hover-preview");
  if (video) video.pause();
  visual.classList.remove("previewing");
});
