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

// Search by a dropped, pasted, picked or recorded image or audio clip.
function setUpSearchDrop() {
  const form = document.getElementById("search-form");
  const zone = document.getElementById("dropzone");
  if (!form || !zone) return;
  const results = document.getElementById("results");
  const picker = document.getElementById("query-file");

  async function searchWith(file) {
    const data = new FormData();
    for (const field of form.querySelectorAll(".filter")) {
      if (field.type === "checkbox") {
        if (field.checked) data.append(field.name, "on");
      } else if (field.value) {
        data.append(field.name, field.value);
      }
    }
    data.append("query_file", file, file.name || "clip");
    results.replaceChildren(notice("Searching with " + (file.name || "your clip") + "…"));
    try {
      const response = await fetch(form.getAttribute("hx-get"), {
        method: "POST", body: data, headers: {"X-CSRFToken": csrfToken()},
      });
      insertServerHtml(results, await response.text());
    } catch (error) {
      results.replaceChildren(notice("The search did not reach the server: " + error.message, {error: true}));
    }
  }

  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) searchWith(event.dataTransfer.files[0]);
  });
  picker.addEventListener("change", () => { if (picker.files.length) searchWith(picker.files[0]); });
  document.addEventListener("paste", (event) => {
    const file = [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
    if (file) { event.preventDefault(); searchWith(file); }
  });

  const record = document.getElementById("record");
  let recorder = null;
  record.addEventListener("click", async () => {
    if (recorder) { recorder.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      results.replaceChildren(notice("This browser cannot record audio.", {error: true}));
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({audio: true});
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
      recorder.addEventListener("stop", () => {
        stream.getTracks().forEach((track) => track.stop());
        record.textContent = "● Record audio";
        record.setAttribute("aria-pressed", "false");
        recorder = null;
        const type = chunks[0] ? chunks[0].type : "audio/webm";
        searchWith(new File(chunks, "recording.webm", {type}));
      });
      recorder.start();
      record.textContent = "■ Stop and search";
      record.setAttribute("aria-pressed", "true");
    } catch (error) {
      results.replaceChildren(notice("Microphone unavailable: " + error.message, {error: true}));
    }
  });
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

document.addEventListener("DOMContentLoaded", () => {
  setUpSearchDrop();
  setUpUploads();
});

// ---- Library items (issue 11, "library" part) ----
// htmx carries a swapped element's style attribute over when it settles (setAttribute), which
// the Content-Security-Policy refuses; tools that touch form fields leave style="" on them.
if (window.htmx) window.htmx.config.attributesToSettle = ["class", "width", "height"];

// An item page's waveform plays from where it is clicked and shades what has played.
function setUpWaveformPlayers() {
  for (const box of document.querySelectorAll(".waveform-player[data-player]")) {
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

document.addEventListener("DOMContentLoaded", setUpWaveformPlayers);
