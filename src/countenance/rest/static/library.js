// The photo-library sections of the review page: the review queue (suggestions and merge
// suggestions, keyboard accept/reject), people (paged) and a person's page (a paged, lazily
// loaded grid of every face, several selected at once), and undo.
"use strict";
(() => {
  let ctx = null;
  const $ = (selector) => document.querySelector(selector);
  const PEOPLE_PAGE = 50;
  const FACES_PAGE = 60;

  // ---------------------------------------------------------------- face crops
  // Crops load when they scroll into view, at most CROP_WORKERS at a time; the server gives
  // them their own rate budget, and a refusal (429) is retried after its Retry-After.
  const CROP_WORKERS = 4;
  const waiting = [];
  let running = 0;
  const stats = { loaded: 0, retried: 0, failed: 0 };

  function pump() {
    while (running < CROP_WORKERS && waiting.length) {
      const img = waiting.shift();
      running += 1;
      fetchCrop(img).finally(() => { running -= 1; pump(); });
    }
  }

  async function fetchCrop(img, attempt = 0) {
    try {
      const blob = await (await ctx.api("GET", `/v1/library/faces/${img.dataset.crop}/crop`)).blob();
      img.src = URL.createObjectURL(blob);
      img.dataset.loaded = "1";
      stats.loaded += 1;
    } catch (error) {
      if (error.status === 429 && attempt < 5) {
        stats.retried += 1;
        await new Promise((resolve) => setTimeout(resolve, 1000 * (error.retryAfter || 1)));
        return fetchCrop(img, attempt + 1);
      }
      img.alt = "no crop";
      img.dataset.loaded = "error";
      stats.failed += 1;
    }
  }

  function enqueue(img) {
    if (img.dataset.queued) return;
    img.dataset.queued = "1";
    visible.unobserve(img);
    waiting.push(img);
  }

  const visible = new IntersectionObserver((entries) => {
    for (const entry of entries) if (entry.isIntersecting) enqueue(entry.target);
    pump();
  }, { rootMargin: "300px" });

  // A fast scroll can carry a crop past the view between two observations: after each
  // scroll settles, whatever is in view (with a margin) and not loaded is queued too.
  let settle = null;
  window.addEventListener("scroll", () => {
    clearTimeout(settle);
    settle = setTimeout(() => {
      const top = -300, bottom = window.innerHeight + 300;
      for (const img of document.querySelectorAll("img[data-crop]:not([data-queued])")) {
        const rect = img.getBoundingClientRect();
        if (rect.bottom >= top && rect.top <= bottom && rect.width > 0) enqueue(img);
      }
      pump();
    }, 100);
  }, { passive: true });

  function crop(faceId) {
    const img = ctx.el("img", null, { alt: `face ${faceId}`, "data-crop": faceId, width: "96", height: "96" });
    visible.observe(img);
    return img;
  }

  const label = (p) => (p.name ? `${p.name} (person ${p.id})` : `unnamed person ${p.id}`);

  async function act(method, path, body, done) {
    try {
      const result = await ctx.json(method, path, body);
      await reload();  // the lists are redrawn before the result is announced
      ctx.status(done(result));
      return result;
    } catch (error) { ctx.status(error.message, true); return null; }
  }

  // ---------------------------------------------------------------- review queue
  let current = 0;

  function queueCards() { return [...document.querySelectorAll(".queue .card")]; }

  function markCurrent(index) {
    const cards = queueCards();
    if (!cards.length) return null;
    current = Math.max(0, Math.min(index, cards.length - 1));
    cards.forEach((card, i) => card.classList.toggle("current", i === current));
    return cards[current];
  }

  function focusCard(index) {
    const card = markCurrent(index);
    if (card) card.focus();
  }

  async function loadSuggestions() {
    const out = $("#suggestion-list");
    const { suggestions } = await ctx.json("GET", "/v1/library/suggestions?limit=200");
    out.replaceChildren();
    if (suggestions.length === 0) out.append(ctx.el("p", "No open suggestions.", { "data-testid": "no-suggestions" }));
    for (const s of suggestions) {
      const card = ctx.el("div", null, { class: "card", tabindex: "0", "data-testid": "suggestion", "data-face": s.face_id, "data-subject": s.subject });
      card.append(crop(s.face_id));
      card.append(ctx.el("div", s.subject, { class: "decision" }));
      const rate = s.expected_false_match_rate === null ? "-" : s.expected_false_match_rate.toExponential(2);
      card.append(ctx.el("div", `face ${s.face_id}: distance ${s.distance.toFixed(3)}, false-match rate ${rate}`, { class: "explain" }));
      for (const [text, verb] of [["Accept", "accept"], ["Reject", "reject"]]) {
        const button = ctx.el("button", text, { type: "button", "data-action": verb });
        card[verb] = () => act("POST", `/v1/library/suggestions/${s.face_id}/${verb}`, { subject: s.subject },
          () => `${verb === "accept" ? "Accepted" : "Rejected"} ${s.subject} for face ${s.face_id}.`);
        button.addEventListener("click", card[verb]);
        card.append(button);
      }
      out.append(card);
    }
  }

  async function loadMerges() {
    const out = $("#merge-list");
    const { merge_suggestions: pairs } = await ctx.json("GET", "/v1/library/merge-suggestions?limit=50");
    out.replaceChildren();
    if (pairs.length === 0) out.append(ctx.el("p", "No two people look alike enough to ask.", { "data-testid": "no-merges" }));
    for (const m of pairs) {
      const card = ctx.el("div", null, { class: "card", tabindex: "0", "data-testid": "merge-suggestion", "data-a": m.person_a, "data-b": m.person_b });
      card.append(crop(m.face_a), crop(m.face_b));
      const a = label({ id: m.person_a, name: m.name_a }), b = label({ id: m.person_b, name: m.name_b });
      card.append(ctx.el("div", `${a} (${m.faces_a} faces) and ${b} (${m.faces_b} faces)`, { class: "decision" }));
      card.append(ctx.el("div", `distance ${m.distance.toFixed(3)}; closest faces ${m.closest.toFixed(3)}`, { class: "explain" }));
      const pair = { person_a: m.person_a, person_b: m.person_b };
      card.accept = () => act("POST", "/v1/library/merge-suggestions/accept", pair, (r) => r.message);
      card.reject = () => act("POST", "/v1/library/merge-suggestions/reject", pair, (r) => r.message);
      for (const [text, verb] of [["Same person: merge", "accept"], ["Not the same", "reject"]]) {
        const button = ctx.el("button", text, { type: "button", "data-action": verb });
        button.addEventListener("click", card[verb]);
        card.append(button);
      }
      out.append(card);
    }
  }

  document.addEventListener("keydown", (event) => {
    if (!ctx || $("#suggestions-section").hidden || event.target.closest("input, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const cards = queueCards();
    if (!cards.length) return;
    if (event.key === "j" || event.key === "ArrowDown") { event.preventDefault(); focusCard(current + 1); }
    else if (event.key === "k" || event.key === "ArrowUp") { event.preventDefault(); focusCard(current - 1); }
    else if ((event.key === "a" || event.key === "r") && cards[current]) {
      event.preventDefault();
      const keep = current;
      const card = cards[current];
      Promise.resolve(event.key === "a" ? card.accept() : card.reject()).then(() => focusCard(keep));
    }
  });

  // ---------------------------------------------------------------- people
  let peopleShown = 0;

  async function loadPeople(more = false) {
    const out = $("#people-list");
    const offset = more ? peopleShown : 0;
    const limit = more ? PEOPLE_PAGE : Math.max(PEOPLE_PAGE, peopleShown);
    const page = await ctx.json("GET", `/v1/library/people?limit=${limit}&offset=${offset}`);
    if (!more) out.replaceChildren();
    if (page.total === 0) out.append(ctx.el("p", "Nobody found yet."));
    for (const p of page.people) out.append(personCard(p));
    peopleShown = offset + page.people.length;
    $("#more-people").hidden = page.next_offset === null;
  }

  function personCard(p) {
    const card = ctx.el("div", null, { class: "card", "data-testid": "person", "data-person": p.id });
    if (p.representative_face !== null) card.append(crop(p.representative_face));
    card.append(ctx.el("div", p.name || `unnamed person ${p.id}`, { class: "decision", "data-testid": "person-name" }));
    card.append(ctx.el("div", `${p.faces} face(s), ${p.confirmed} confirmed`, { class: "explain" }));
    const open = ctx.el("button", "Open", { type: "button", "data-action": "open" });
    open.addEventListener("click", () => openPerson(p.id));
    const nameInput = ctx.el("input", null, { placeholder: "name", "data-field": "name", size: "14" });
    const consentInput = ctx.el("input", null, { placeholder: "consent statement (to enrol)", "data-field": "consent", size: "22" });
    const nameButton = ctx.el("button", "Name", { type: "button", "data-action": "name" });
    nameButton.addEventListener("click", () => {
      const name = nameInput.value.trim();
      if (!name) return;
      const body = { name, enrol: consentInput.value.trim() !== "" };
      if (body.enrol) body.consent = { text: consentInput.value.trim(), purpose: "photo tagging" };
      act("POST", `/v1/library/people/${p.id}/name`, body,
        (r) => `Named person ${p.id} ${r.name}` + (body.enrol ? ` (${r.enrolled_templates} template(s) enrolled).` : "."));
    });
    const mergeInput = ctx.el("input", null, { placeholder: "merge person id", "data-field": "merge", size: "8" });
    const mergeButton = ctx.el("button", "Merge into this", { type: "button", "data-action": "merge" });
    mergeButton.addEventListener("click", () => {
      const other = parseInt(mergeInput.value, 10);
      if (!Number.isInteger(other)) return;
      act("POST", `/v1/library/people/${p.id}/merge`, { sources: [other] }, (r) => `Merged ${other} into ${label(r)}.`);
    });
    const splitButton = ctx.el("button", "Split", { type: "button", "data-action": "split" });
    splitButton.addEventListener("click", () => {
      if (!window.confirm(`Split ${label(p)}? The most separable group of its faces becomes one new person (nothing is confirmed; Undo reverses it).`)) return;
      act("POST", `/v1/library/people/${p.id}/split`, {},
        (r) => (r.new_people.length ? `Split person ${p.id}: new person ${r.new_people[0]}.` : `Person ${p.id} is one group: nothing split off.`));
    });
    card.append(open, ctx.el("div"), nameInput, consentInput, nameButton, ctx.el("div"), mergeInput, mergeButton, splitButton);
    return card;
  }

  // ---------------------------------------------------------------- a person's page
  let person = null;
  let facesShown = 0;
  const selected = new Set();

  function showSelected() {
    $("#selected-count").textContent = `${selected.size} selected`;
    for (const tile of document.querySelectorAll("#person-faces .tile")) tile.classList.toggle("selected", selected.has(Number(tile.dataset.face)));
  }

  async function openPerson(id) {
    person = id;
    facesShown = 0;
    selected.clear();
    $("#person-faces").replaceChildren();
    $("#person-page").hidden = false;
    await loadFaces();
    $("#person-page").scrollIntoView();
  }

  async function loadFaces(more = false) {
    if (person === null) return;
    const offset = more ? facesShown : 0;
    const limit = more ? FACES_PAGE : Math.max(FACES_PAGE, facesShown);
    let page;
    try { page = await ctx.json("GET", `/v1/library/people/${person}/faces?limit=${limit}&offset=${offset}`); }
    catch (error) { $("#person-page").hidden = true; person = null; return; }  // merged or undone away
    const p = page.person;
    $("#person-title").textContent = label(p);
    $("#person-summary").textContent = `${p.faces} face(s) in ${page.photos} photo(s), ${p.confirmed} confirmed; the faces farthest from the person come first.`;
    const grid = $("#person-faces");
    if (!more) grid.replaceChildren();
    for (const f of page.faces) {
      const tile = ctx.el("div", null, { class: "tile" + (f.confirmed ? " confirmed" : ""), "data-testid": "face-tile", "data-face": f.face_id });
      const box = ctx.el("input", null, { type: "checkbox", "aria-label": `select face ${f.face_id}` });
      box.checked = selected.has(f.face_id);
      const photoButton = ctx.el("button", "photo", { type: "button", "data-action": "show-photo", "data-photo": f.photo_id });
      photoButton.addEventListener("click", (event) => { event.stopPropagation(); showPhoto(f.photo_id); });
      tile.append(crop(f.face_id), box, ctx.el("span", `face ${f.face_id}`), photoButton,
        ctx.el("div", `${f.confirmed ? "confirmed" : "automatic"}, ${f.distance.toFixed(2)}`, { class: "state" }));
      tile.addEventListener("click", (event) => {
        if (selected.has(f.face_id)) selected.delete(f.face_id); else selected.add(f.face_id);
        if (event.target !== box) box.checked = selected.has(f.face_id);
        showSelected();
      });
      grid.append(tile);
    }
    facesShown = offset + page.faces.length;
    $("#more-faces").hidden = page.next_offset === null;
    showSelected();
  }

  function picked() {
    if (selected.size === 0) { ctx.status("Select faces first (click them).", true); return null; }
    return [...selected];
  }

  $("#person-page").addEventListener("click", (event) => {
    const action = event.target.dataset && event.target.dataset.action;
    if (!action || person === null) return;
    if (action === "close-person") { $("#person-page").hidden = true; person = null; return; }
    if (action === "more-faces") { loadFaces(true); return; }
    const faces = picked();
    if (faces === null) return;
    selected.clear();
    if (action === "not-this-person") act("POST", "/v1/library/faces/not-this-person", { face_ids: faces }, (r) => r.message + ".");
    if (action === "confirm") act("POST", `/v1/library/people/${person}/confirm`, { face_ids: faces }, (r) => r.message + ".");
    if (action === "split-off") {
      act("POST", `/v1/library/people/${person}/split`, { face_ids: faces },
        (r) => `Split ${faces.length} face(s) off person ${person} into person ${r.new_people[0]}.`);
    }
  });

  // ---------------------------------------------------------------- a photo, to draw a missed face
  let shownPhoto = null;
  let drawn = null;

  function placeBox(node, [left, top, right, bottom]) {
    node.style.left = `${(100 * left) / shownPhoto.width_px}%`;
    node.style.top = `${(100 * top) / shownPhoto.height_px}%`;
    node.style.width = `${(100 * (right - left)) / shownPhoto.width_px}%`;
    node.style.height = `${(100 * (bottom - top)) / shownPhoto.height_px}%`;
  }

  async function showPhoto(photoId) {
    try {
      shownPhoto = await ctx.json("GET", `/v1/library/photos/${photoId}`);
      const blob = await (await ctx.api("GET", `/v1/library/photos/${photoId}/image`)).blob();
      const canvas = $("#photo-canvas");
      const img = ctx.el("img", null, { alt: `photo ${photoId}`, draggable: "false" });
      img.src = URL.createObjectURL(blob);
      await img.decode().catch(() => {});
      canvas.replaceChildren(img);
      for (const face of shownPhoto.faces) {
        const mark = ctx.el("div", null, { class: "face-box", "data-testid": "photo-face", "data-face": face.face_id });
        placeBox(mark, face.box);
        mark.append(ctx.el("span", face.name || `face ${face.face_id}`, { class: "badge" }));
        canvas.append(mark);
      }
      drawn = null;
      $("#add-face").disabled = true;
      $("#photo-number").textContent = String(photoId);
      $("#photo-view").hidden = false;
      $("#photo-view").scrollIntoView();
    } catch (error) { ctx.status("Photo: " + error.message, true); }
  }

  // Drag to draw: the box is kept in pixels of the upright photo, whatever size it is shown at.
  (() => {
    const canvas = $("#photo-canvas");
    let start = null;
    let mark = null;
    const point = (event) => {
      const rect = canvas.getBoundingClientRect();
      const x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
      const y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
      return [(x / rect.width) * shownPhoto.width_px, (y / rect.height) * shownPhoto.height_px];
    };
    canvas.addEventListener("mousedown", (event) => {
      if (!shownPhoto) return;
      event.preventDefault();
      start = point(event);
      if (mark) mark.remove();
      mark = ctx.el("div", null, { class: "face-box drawn", "data-testid": "drawn-box" });
      canvas.append(mark);
    });
    canvas.addEventListener("mousemove", (event) => {
      if (!start) return;
      const [x, y] = point(event);
      drawn = [Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)].map(Math.round);
      placeBox(mark, drawn);
    });
    window.addEventListener("mouseup", () => {
      if (!start) return;
      start = null;
      $("#add-face").disabled = !drawn;
    });
  })();

  $("#add-face").addEventListener("click", async () => {
    if (!drawn || !shownPhoto) return;
    const name = $("#new-face-name").value.trim();
    const body = { photo_id: shownPhoto.photo_id, box: drawn };
    if (name) body.name = name;
    const photoId = shownPhoto.photo_id;
    const added = await act("POST", "/v1/library/faces", body,
      (r) => `Added face ${r.face_id}` + (r.name ? ` as ${r.name} (person ${r.person_id}).` : "."));
    if (added) await showPhoto(photoId);
  });
  $("#close-photo").addEventListener("click", () => { $("#photo-view").hidden = true; shownPhoto = null; });

  $("#more-people").addEventListener("click", () => loadPeople(true));
  $("#undo").addEventListener("click", async () => {
    try {
      const { undone } = await ctx.json("POST", "/v1/library/undo", { count: 1 });
      await reload();
      ctx.status(undone.length ? `Undone: ${undone[0].summary || undone[0].kind}.` : "Nothing to undo.");
    } catch (error) { ctx.status("Undo failed: " + error.message, true); }
  });

  async function reload() {
    await loadSuggestions();
    await loadMerges();
    await loadPeople();
    await loadFaces();
    markCurrent(current);
  }

  window.CountenanceLibrary = {
    stats,
    async load(context) { ctx = context; try { await reload(); } catch (error) { ctx.status("Library: " + error.message, true); } },
  };
})();
