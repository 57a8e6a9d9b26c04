// The review page: talks to the REST API with the key kept in sessionStorage (this tab only).
"use strict";
(() => {
  const KEY = "countenance.key";
  const $ = (selector) => document.querySelector(selector);
  const el = (tag, text, attrs = {}) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    return node;
  };
  let scopes = [];
  let hasLibrary = false;

  function status(message, isError = false) {
    const node = $("#status");
    node.textContent = message || "";
    node.className = isError ? "error" : "";
  }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY) };
    const init = { method, headers };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const response = await fetch(path, init);
    if (!response.ok) {
      let detail = response.statusText;
      try { const problem = await response.json(); detail = typeof problem.detail === "string" ? problem.detail : JSON.stringify(problem.detail); } catch (e) { /* not JSON */ }
      const error = new Error(detail);
      error.status = response.status;
      error.retryAfter = Number(response.headers.get("Retry-After") || "1");
      throw error;
    }
    return response;
  }
  const json = async (method, path, body) => (await api(method, path, body)).json();
  const allowed = (scope) => scopes.includes(scope) || scopes.includes("admin");

  async function login(token) {
    sessionStorage.setItem(KEY, token);
    try {
      const me = await json("GET", "/v1/me");
      scopes = me.scopes;
      $("#whoami").textContent = `key ${me.id}${me.name ? " (" + me.name + ")" : ""}: ${me.scopes.join(", ")}`;
    } catch (error) {
      sessionStorage.removeItem(KEY);
      status(error.status === 401 ? "That key is not valid (or was revoked)." : "Log in failed: " + error.message, true);
      return;
    }
    // Each section shows only when the key has its scope: an identify-only key can search.
    hasLibrary = false;
    if (allowed("library")) {
      try { hasLibrary = (await json("GET", "/v1/library/status")).available === true; } catch (e) { hasLibrary = false; }
    }
    for (const node of document.querySelectorAll("[data-scope]")) node.hidden = !allowed(node.dataset.scope);
    $("#login-section").hidden = true;
    $("#nav").hidden = false;
    $("#search-section").hidden = !allowed("identify");
    $("#subjects-section").hidden = !allowed("read");
    for (const node of document.querySelectorAll("[data-library]")) node.hidden = !(hasLibrary && allowed("library"));
    status("Logged in.");
    if (allowed("read")) await loadSubjects();
    if (hasLibrary && allowed("library") && window.CountenanceLibrary) await window.CountenanceLibrary.load({ api, json, el, status });
  }

  $("#login-form").addEventListener("submit", (event) => { event.preventDefault(); login($("#key").value.trim()); });
  $("#logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.reload(); });

  // ---------------------------------------------------------------- search
  $("#search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("#search-file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("image", file);
    const out = $("#search-results");
    out.replaceChildren(el("p", "Searching..."));
    try {
      const result = await json("POST", "/v1/identify", form);
      out.replaceChildren();
      if (result.faces.length === 0) out.append(el("p", "No face found in this photo.", { "data-testid": "no-face" }));
      else out.append(await photoWithBoxes(file, result.faces));
      result.faces.forEach((face, i) => {
        const box = el("div", null, { class: "face" + (face.decision === "unknown" ? " unknown" : ""), "data-testid": "face", "data-face-number": i + 1 });
        box.append(el("div", `Face ${i + 1}: `, {}));
        box.lastChild.prepend(el("span", i + 1, { class: "badge" }));
        box.lastChild.append(el("span", face.decision, { class: "decision", "data-testid": "decision" }));
        if (face.decision === "unknown") box.append(el("p", "Unknown: nobody enrolled is close enough to say who this is.", { class: "explain" }));
        // A face under the model's measured minimum size is searched, and flagged: below it the
        // model misses more often (its false-match rate does not rise).
        if (face.low_confidence) box.append(el("p", `Low confidence: ${face.low_confidence_reason}`, { class: "explain low-confidence", "data-testid": "low-confidence" }));
        const table = el("table");
        table.append(el("tr"));
        for (const head of ["candidate", "distance", "similarity", "expected false-match rate"]) table.lastChild.append(el("th", head));
        for (const c of face.candidates) {
          const row = el("tr", null, { "data-testid": "candidate" });
          row.append(el("td", c.subject), el("td", c.distance.toFixed(3)), el("td", c.similarity.toFixed(3)),
                     el("td", c.expected_false_match_rate === null ? "-" : c.expected_false_match_rate.toExponential(2)));
          table.append(row);
        }
        box.append(table);
        out.append(box);
      });
      out.append(el("p", `Threshold ${result.threshold.toFixed(3)} for a false-positive identification rate of ${result.target_fpir} over ${result.templates} templates.`, { class: "explain" }));
      status("");
    } catch (error) {
      out.replaceChildren();
      status("Search failed: " + error.message, true);
    }
  });

  // The searched photo with a numbered box on each face: number i is "Face i" below. Boxes
  // are in pixels of the upright photo, which the browser shows upright too (EXIF applied).
  async function photoWithBoxes(file, faces) {
    const frame = el("div", null, { class: "photo-frame", "data-testid": "search-photo" });
    const img = el("img", null, { alt: "the photo searched" });
    img.src = URL.createObjectURL(file);
    await img.decode().catch(() => {});
    frame.append(img);
    faces.forEach((face, i) => {
      const [left, top, right, bottom] = face.box;
      const mark = el("div", null, { class: "face-box" + (face.decision === "unknown" ? " unknown" : "") + (face.low_confidence ? " low-confidence" : ""),
                                     "data-testid": "face-box", "data-face-number": i + 1 });
      const width = img.naturalWidth || 1, height = img.naturalHeight || 1;
      mark.style.left = `${(100 * left) / width}%`;
      mark.style.top = `${(100 * top) / height}%`;
      mark.style.width = `${(100 * (right - left)) / width}%`;
      mark.style.height = `${(100 * (bottom - top)) / height}%`;
      mark.append(el("span", i + 1, { class: "badge" }));
      frame.append(mark);
    });
    return frame;
  }

  // ---------------------------------------------------------------- subjects
  async function loadSubjects() {
    const list = $("#subject-list");
    const { subjects } = await json("GET", "/v1/subjects?limit=1000");
    list.replaceChildren();
    for (const s of subjects) {
      const item = el("li", `${s.name} (${s.templates} template${s.templates === 1 ? "" : "s"})`, { "data-subject": s.name });
      item.addEventListener("click", () => showSubject(s.name));
      list.append(item);
    }
    if (subjects.length === 0) list.append(el("li", "Nobody is enrolled."));
  }

  let shown = null;
  async function showSubject(name) {
    try {
      const details = await json("GET", "/v1/subjects/" + encodeURIComponent(name));
      shown = details.subject;
      $("#subject-name").textContent = details.subject;
      $("#subject-summary").textContent = `${details.templates.length} template(s), enrolled since ${details.created_at}.`;
      const body = $("#consents tbody");
      body.replaceChildren();
      for (const c of details.consents) {
        const row = el("tr", null, { "data-testid": "consent" });
        row.append(el("td", c.given_at), el("td", c.consenter), el("td", c.purpose), el("td", c.text), el("td", c.evidence));
        body.append(row);
      }
      $("#export").hidden = $("#forget").hidden = !allowed("admin");
      $("#subject-page").hidden = false;
    } catch (error) {
      status(error.message, true);
    }
  }

  $("#export").addEventListener("click", async () => {
    try {
      const blob = await (await api("GET", `/v1/subjects/${encodeURIComponent(shown)}/export`)).blob();
      const link = el("a", null, { href: URL.createObjectURL(blob), download: shown + ".zip" });
      document.body.append(link);
      link.click();
      link.remove();
      status(`Exported ${shown}.`);
    } catch (error) { status("Export failed: " + error.message, true); }
  });

  $("#forget").addEventListener("click", async () => {
    if (!window.confirm(`Forget ${shown}? Their templates, face crops and consent records are deleted and erased.`)) return;
    try {
      const result = await json("DELETE", "/v1/subjects/" + encodeURIComponent(shown));
      $("#subject-page").hidden = true;
      await loadSubjects();  // the list is redrawn before the result is announced
      status(`Forgot ${result.subject}: ${result.templates_removed} template(s) removed.`);
    } catch (error) { status("Forget failed: " + error.message, true); }
  });

  window.CountenanceApp = { api, json, el, status, allowed };
  const saved = sessionStorage.getItem(KEY);
  if (saved) login(saved);
})();
