// nestor-catalog UI: the little the server-rendered pages need from a browser.
// - auth: a token entered once, kept in this tab's sessionStorage, sent as a bearer on every
//   request (page content, inputs:validate and the event stream);
// - results as you type on the home page (the URL keeps the state), the copy button, the
//   try-inputs form;
// - live updates: /api/v1/events read through a streaming fetch (EventSource cannot send an
//   Authorization header), resumed with Last-Event-ID, so a reconnect misses nothing; pages
//   refresh their live regions from the server (one renderer: the templates).
// Plain ES2020, no dependencies, no build step.
(() => {
  "use strict";

  const TOKEN_KEY = "nestor-catalog.token";
  const PARTIAL = { "X-Nestor-Partial": "1" };
  const body = document.body;
  const main = document.getElementById("main");
  const authOn = body.dataset.auth === "on";

  // ------------------------------------------------------------------ token and requests

  const token = () => {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  };
  const setToken = (value) => {
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the token lasts for this page only */ }
  };
  const withAuth = (extra) => {
    const headers = Object.assign({}, extra || {});
    const value = token();
    if (value) headers.Authorization = "Bearer " + value;
    return headers;
  };

  class AuthError extends Error {}

  async function fetchPartial(url) {
    const response = await fetch(url, { headers: withAuth(PARTIAL), cache: "no-store", credentials: "same-origin" });
    const html = await response.text();
    const partial = new DOMParser().parseFromString(html, "text/html").getElementById("partial");
    if (response.status === 401) {
      const message = partial ? partial.querySelector("h1") : null;
      throw new AuthError(message ? message.textContent : "the token was refused");
    }
    if (!partial) throw new Error("unexpected answer " + response.status);
    return partial;
  }

  // ----------------------------------------------------------------------- announcements

  const announce = (message) => {
    const region = document.getElementById("announce");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(() => { region.textContent = message; }, 30);
  };

  let toastTimer = 0;
  const toast = (message) => {
    let box = document.getElementById("toast");
    if (!box) {
      box = document.createElement("div");
      box.id = "toast";
      box.className = "toast";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    box.textContent = message;
    box.hidden = false;
    window.clearTimeout(toastTimer);
    toastTimer = window.setTimeout(() => { box.hidden = true; }, 6000);
  };

  // ------------------------------------------------------------------- content and regions

  function adopt(partial) {
    main.innerHTML = partial.innerHTML;
    main.removeAttribute("data-shell");
    main.dataset.revision = partial.dataset.revision;
    main.dataset.live = partial.dataset.live;
    document.title = partial.dataset.title;
  }

  // Replace each live region by its new version, keeping focus on an element with the same id.
  function swapRegions(partial) {
    const focused = document.activeElement && document.activeElement.id;
    partial.querySelectorAll("[data-region]").forEach((fresh) => {
      const current = document.getElementById(fresh.id);
      if (current) current.replaceWith(document.importNode(fresh, true));
    });
    if (partial.dataset.revision) main.dataset.revision = partial.dataset.revision;
    if (focused && document.activeElement === document.body) {
      const again = document.getElementById(focused);
      if (again) again.focus();
    }
  }

  async function loadContent() {
    try {
      const partial = await fetchPartial(window.location.href);
      if (partial.hasAttribute("data-shell")) throw new AuthError("a token is required");
      adopt(partial);
      showSignout();
      start();
      main.focus();
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      setToken("");
      const message = document.getElementById("signin-error");
      if (message) message.textContent = "Not signed in: " + error.message;
      const input = document.getElementById("token");
      if (input) input.focus();
    }
  }

  function showSignout() {
    const button = document.getElementById("signout");
    if (button && token()) button.hidden = false;
  }

  // ---------------------------------------------------------------------------- search

  function setupSearch() {
    const form = document.getElementById("search-form");
    if (!form) return;
    const input = form.querySelector("#q");
    let timer = 0;
    let latest = 0;
    const run = async () => {
      const params = new URLSearchParams();
      for (const [key, value] of new FormData(form)) if (value) params.append(key, String(value));
      const url = "/" + (params.toString() ? "?" + params.toString() : "");
      window.history.replaceState(null, "", url);
      const mine = ++latest;
      try {
        const partial = await fetchPartial(url);
        if (mine !== latest) return;
        swapRegions(partial);
        const count = document.getElementById("result-count");
        if (count) announce(count.textContent);
      } catch (error) {
        if (mine !== latest) return;
        if (error instanceof AuthError) { window.location.reload(); return; }
        announce("Search failed: " + error.message);
      }
    };
    input.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(run, 120);
    });
    const status = form.querySelector("#deprecated");
    if (status) status.addEventListener("change", run);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      window.clearTimeout(timer);
      run();
    });
  }

  // -------------------------------------------------------------------------- copy button

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    const text = source ? source.textContent : "";
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    announce("Definition copied to the clipboard");
    window.setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });

  // ------------------------------------------------------------------------ try-inputs form

  const fieldOf = (path) => String(path || "").split(/[.[]/)[0];

  function clearErrors(form) {
    form.querySelectorAll("[data-kind]").forEach((element) => {
      element.removeAttribute("aria-invalid");
      const error = document.getElementById("err-" + element.name);
      if (error) error.textContent = "";
    });
  }

  function markError(form, name, message) {
    const element = form.elements.namedItem(name);
    const error = document.getElementById("err-" + name);
    if (!element || !error) return false;
    element.setAttribute("aria-invalid", "true");
    error.textContent = error.textContent ? error.textContent + " " + message : message;
    return true;
  }

  function collect(form) {
    const values = {};
    const problems = [];
    form.querySelectorAll("[data-kind]").forEach((element) => {
      const raw = element.value;
      if (raw.trim() === "") return;
      const kind = element.dataset.kind;
      if (kind === "text") {
        values[element.name] = raw;
      } else if (kind === "number") {
        const number = Number(raw.trim());
        values[element.name] = Number.isFinite(number) ? number : raw;
      } else {
        try { values[element.name] = JSON.parse(raw); } catch (error) { problems.push([element.name, "not valid JSON: " + error.message]); }
      }
    });
    return { values, problems };
  }

  function showResult(form, data) {
    const result = document.getElementById("try-result");
    result.innerHTML = "";
    const heading = document.createElement("h2");
    const findings = data.findings || [];
    const unplaced = findings.filter((f) => !markError(form, fieldOf(f.field), f.message + " (" + f.rule + ")"));
    heading.textContent = data.valid ? "Valid" : findings.length + " problem" + (findings.length === 1 ? "" : "s");
    result.appendChild(heading);
    if (unplaced.length) {
      const list = document.createElement("ul");
      unplaced.forEach((f) => {
        const item = document.createElement("li");
        item.textContent = (f.field ? f.field + ": " : "") + f.message + " (" + f.rule + ")";
        list.appendChild(item);
      });
      result.appendChild(list);
    }
    if (data.valid) {
      const note = document.createElement("p");
      note.textContent = "The values with defaults applied:";
      const pre = document.createElement("pre");
      pre.className = "code";
      pre.tabIndex = 0;
      pre.textContent = JSON.stringify(data.values, null, 2);
      result.append(note, pre);
    }
    result.className = "try-result banner " + (data.valid ? "banner-ok" : "banner-error");
    const invalid = form.querySelector("[aria-invalid=true]");
    (invalid || result).focus();
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.id === "signin") {
      event.preventDefault();
      setToken(form.elements.namedItem("token").value.trim());
      await loadContent();
      return;
    }
    if (form.id !== "try-form") return;
    event.preventDefault();
    clearErrors(form);
    const { values, problems } = collect(form);
    if (problems.length) {
      problems.forEach(([name, message]) => markError(form, name, message));
      showResult(form, { valid: false, findings: problems.map(([name, message]) => ({ field: name, message, rule: "JSON" })) });
      return;
    }
    const response = await fetch(form.dataset.validateUrl, {
      method: "POST",
      headers: withAuth({ "Content-Type": "application/json", Accept: "application/json" }),
      body: JSON.stringify(values),
    });
    const data = await response.json();
    if (!response.ok) {
      const error = data.error || {};
      showResult(form, { valid: false, findings: [{ field: "", message: error.message || "HTTP " + response.status, rule: error.code || "ERROR" }] });
      return;
    }
    showResult(form, data);
  });

  // ---------------------------------------------------------------------------- live updates

  // State of the event stream, also read by the UI tests: ``lastId`` (the id a reconnect sends
  // as Last-Event-ID), ``seen`` (the events received), ``disconnect()`` (drop the connection:
  // the stream reconnects after the server's retry delay, as after a network failure).
  const live = {
    lastId: null, retry: 3000, refreshTimer: 0, started: false, controller: null, seen: [],
    disconnect: () => { if (live.controller) live.controller.abort(); },
  };
  window.nestorLive = live;

  const setLive = (state, text) => {
    const badge = document.getElementById("live-status");
    if (!badge) return;
    badge.dataset.state = state;
    badge.textContent = text;
  };

  function parseFrame(frame) {
    const event = { id: null, type: "message", data: [] };
    frame.split("\n").forEach((line) => {
      if (!line || line.startsWith(":")) return;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "id") event.id = value;
      else if (field === "event") event.type = value;
      else if (field === "data") event.data.push(value);
      else if (field === "retry" && /^[0-9]+$/.test(value)) live.retry = Number(value);
    });
    return event;
  }

  function describe(type, data) {
    const meta = (data && data.metadata) || {};
    const what = meta.name ? meta.name + " " + (meta.version || "") : data.name || data.repository || "";
    switch (type) {
      case "resource.created": return "New resource: " + what;
      case "resource.updated": return "New version: " + what;
      case "resource.deprecated": return "Lifecycle changed: " + what;
      case "resource.deleted": return "Withdrawn: " + what;
      case "sync.failed": return "Sync failed: " + what;
      case "validation.failed": return "File refused: " + (data.file || data.path || what);
      default: return "";
    }
  }

  function relevant(type, data) {
    const page = main.dataset.live || "";
    if (!page) return false;
    if (type === "reset") return true;
    if (page === "catalog") return type.startsWith("resource.");
    if (page === "sync") return type.startsWith("sync.") || type.startsWith("validation.") || type.startsWith("resource.");
    if (page.startsWith("resource:")) {
      const meta = (data && data.metadata) || {};
      return type.startsWith("resource.") && (meta.name || data.name) === page.slice("resource:".length);
    }
    return false;
  }

  function refreshSoon() {
    window.clearTimeout(live.refreshTimer);
    live.refreshTimer = window.setTimeout(async () => {
      try { swapRegions(await fetchPartial(window.location.href)); } catch (error) { /* next event retries */ }
    }, 150);
  }

  function dispatch(event) {
    if (event.id !== null) live.lastId = event.id;
    if (!event.data.length) return;
    let data = {};
    try { data = JSON.parse(event.data.join("\n")); } catch (error) { return; }
    const meta = data.metadata || {};
    live.seen.push([event.id, event.type, meta.name || data.name || data.repository || "", meta.version || ""].join(" "));
    const message = describe(event.type, data);
    if (message) toast(message);
    if (relevant(event.type, data)) refreshSoon();
  }

  async function stream() {
    const source = body.dataset.events;
    if (!source) return;
    const url = new URL(source, window.location.origin);
    const headers = withAuth({ Accept: "text/event-stream" });
    if (live.lastId !== null) headers["Last-Event-ID"] = live.lastId;
    else url.searchParams.set("since", main.dataset.revision || "0");
    setLive("connecting", "Connecting…");
    try {
      live.controller = new AbortController();
      const response = await fetch(url, { headers, cache: "no-store", signal: live.controller.signal });
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        setLive("down", response.status === 404 ? "Live updates off" : "Live updates need a valid token");
        return;
      }
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      setLive("live", "Live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(parseFrame(buffer.slice(0, end)));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) { /* reconnect below */ }
    setLive("down", "Reconnecting…");
    window.setTimeout(stream, live.retry);
  }

  // ----------------------------------------------------------------------------------- start

  function start() {
    setupSearch();
    if (!live.started) {
      live.started = true;
      stream();
    }
  }

  const signout = document.getElementById("signout");
  if (signout) {
    signout.addEventListener("click", () => {
      setToken("");
      window.location.reload();
    });
  }

  if (main.hasAttribute("data-shell")) {
    if (authOn && token()) loadContent();
    else {
      const input = document.getElementById("token");
      if (input) input.focus();
    }
  } else {
    showSignout();
    start();
  }
})();
