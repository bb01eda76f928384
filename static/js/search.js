"use strict";

// The search page (templates/searchapp/search.html). Its state is its URL: the form's requests
// push (or, typing, replace) it, and back or forward load it again (base.html's htmx-config).

const FILE_SEARCH_KEEPS = ["modality", "tag", "min_score", "semantic", "sort"];

function searchForm() {
  return document.getElementById("search-form");
}

// An image searched with from this page, which words typed next refine (composed queries).
let refinable = null;
// While a file is being searched with, the words typed with it are part of that search.
let fileSearchRunning = false;

function refinesImage(form) {
  return Boolean(refinable && form.elements.q.value.trim() && form.elements.qf.value === refinable.key);
}

// Typing starts a search by words: a file or "more like this" in the form no longer applies;
// while an image searched with from this page is shown, words refine it instead, on Enter.
// Empty fields stay out of the URL.
document.addEventListener("htmx:configRequest", (event) => {
  const form = searchForm();
  const source = event.detail.elt;
  if (!form || !(source === form || source.form === form)) return;
  // An emptied box leaves a file search as it is (a late keystroke's search too).
  const typedNothing = source.id === "id_q" && !form.elements.q.value.trim() && form.elements.qf.value;
  if (typedNothing || (fileSearchRunning && source.id === "id_q")) {
    event.preventDefault();
    return;
  }
  if (refinesImage(form)) {
    event.preventDefault();
    const trigger = event.detail.triggeringEvent;
    if (trigger && (trigger.type === "search" || trigger.type === "submit")) {
      form.dispatchEvent(new CustomEvent("refine-image"));
    } else {
      document.getElementById("search-status").textContent = "Press Enter to search this image with your words.";
    }
    return;
  }
  const data = event.detail.formData;
  if (source.id === "id_q") {
    for (const name of ["qf", "item", "exclude", "page"]) {
      data.delete(name);
      if (form.elements[name]) form.elements[name].value = "";
    }
  }
  for (const [name, value] of [...data.entries()]) {
    if (value === "") data.delete(name);
  }
});

// Filters apply as soon as they change, wherever they are (the results' sort and uploader
// controls belong to the form through their form attribute).
document.addEventListener("change", (event) => {
  const field = event.target;
  const form = searchForm();
  if (form && field.classList && field.classList.contains("filter") && field.form === form) {
    form.elements.page && (form.elements.page.value = "");
    form.requestSubmit();
  }
});

// A busy search says so; its outcome replaces the words (the results' out-of-band status).
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.target && event.detail.target.id === "results") searchBusy("Searching…");
});
document.addEventListener("htmx:afterRequest", (event) => {
  const results = document.getElementById("results");
  if (!results || event.detail.target !== results) return;
  results.removeAttribute("aria-busy");
  if (!event.detail.successful) document.getElementById("search-status").textContent = "";
  // Paging moves to the new page's heading, not back to the top of the document.
  const pager = event.detail.requestConfig.elt.closest(".pager");
  const heading = document.getElementById("results-heading");
  if (pager && heading) heading.focus();
});

function searchBusy(text) {
  const results = document.getElementById("results");
  const status = document.getElementById("search-status");
  if (results) results.setAttribute("aria-busy", "true");
  if (status) status.textContent = text;
}

// Search by a dropped, pasted, picked or recorded image or sound: the file is sent once, kept
// by the server under a key, and its search is then a URL like any other (?qf=key).
function setUpFileSearch() {
  const form = searchForm();
  if (!form) return;
  const zone = form.closest(".search-panel");
  const results = document.getElementById("results");
  const picker = document.getElementById("query-file");
  let running = null;

  function showInResults(text, {error = false} = {}) {
    results.replaceChildren(notice(text, {error}));
    results.removeAttribute("aria-busy");
  }

  async function searchWith(files) {
    fileSearchRunning = true;
    try {
      await searchWithFirst(files);
    } finally {
      fileSearchRunning = false;
    }
  }

  async function searchWithFirst(files) {
    const file = files[0];
    const name = file.name || "your recording";
    const image = file.type.startsWith("image/");
    const words = image ? form.elements.q.value.trim() : "";
    if (running) running.abort();
    running = new AbortController();
    const data = new FormData();
    const current = new FormData(form);
    for (const field of FILE_SEARCH_KEEPS) {
      if (current.get(field)) data.append(field, current.get(field));
    }
    data.append("query_file", file, file.name || "recording.webm");
    if (words) data.append("q", words);
    const searching = words ? `Searching with ${name} and “${words}”…` : `Searching with ${name}…`;
    searchBusy(searching);
    results.replaceChildren(notice(searching));
    let response;
    try {
      response = await fetch(form.dataset.fileUrl, {
        method: "POST",
        body: data,
        headers: {"X-CSRFToken": csrfToken(), "HX-Request": "true"},
        signal: running.signal,
      });
    } catch (error) {
      if (error.name !== "AbortError") showInResults(failureText(`The search with ${name}`), {error: true});
      return;
    }
    const url = response.status === 201 && response.headers.get("Location");
    if (!url) {
      const body = await response.text().catch(() => "");
      showInResults(failureText(`The search with ${name}`, {status: response.status, body}), {error: true});
      return;
    }
    showSearch(url);
    refinable = image ? {file, key: form.elements.qf.value} : null;
    form.elements.q.placeholder = image ? "Add words to this image, then press Enter" : form.elements.q.dataset.placeholder;
    await window.htmx.ajax("GET", url, {source: results, target: results});
    if (files.length > 1) {
      results.prepend(notice(`Searched with ${name}, the first of the ${files.length} files: one file is searched at a time.`));
    }
  }

  // The form and the address now say what is searched: this file, with the same filters.
  function showSearch(url) {
    const key = new URL(url, location.href).searchParams.get("qf");
    form.elements.q.value = "";
    form.elements.item.value = "";
    form.elements.qf.value = key;
    // An entry htmx knows, so that back to it loads it again (no history cache).
    history.replaceState({htmx: true}, "", location.href);
    history.pushState({htmx: true}, "", url);
  }

  form.addEventListener("refine-image", () => searchWith([refinable.file]));

  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", (event) => { if (!zone.contains(event.relatedTarget)) zone.classList.remove("over"); });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) searchWith([...event.dataTransfer.files]);
  });
  picker.addEventListener("change", () => {
    if (picker.files.length) searchWith([...picker.files]);
    picker.value = "";
  });
  document.addEventListener("paste", (event) => {
    const images = [...event.clipboardData.files].filter((f) => f.type.startsWith("image/"));
    if (images.length) { event.preventDefault(); searchWith(images); }
  });

  const record = document.getElementById("record");
  const label = record.querySelector(".record-label");
  let recorder = null;
  record.addEventListener("click", async () => {
    if (recorder) { recorder.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      showInResults("This browser cannot record sound.", {error: true});
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({audio: true});
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
      recorder.addEventListener("stop", () => {
        stream.getTracks().forEach((track) => track.stop());
        label.textContent = "Record";
        record.setAttribute("aria-pressed", "false");
        recorder = null;
        const type = chunks[0] ? chunks[0].type : "audio/webm";
        searchWith([new File(chunks, "recording.webm", {type})]);
      });
      recorder.start();
      label.textContent = "Stop and search";
      record.setAttribute("aria-pressed", "true");
      searchBusy("Recording. Press “Stop and search” when done.");
    } catch (error) {
      showInResults(`The microphone is not available: ${error.message}`, {error: true});
    }
  });
}

document.addEventListener("DOMContentLoaded", setUpFileSearch);
