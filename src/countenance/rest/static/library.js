// The photo-library sections of the review page: the suggestions queue and people.
"use strict";
(() => {
  let ctx = null;

  async function crop(faceId) {
    const img = ctx.el("img", null, { alt: `face ${faceId}` });
    try {
      const blob = await (await ctx.api("GET", `/v1/library/faces/${faceId}/crop`)).blob();
      img.src = URL.createObjectURL(blob);
    } catch (e) { img.alt = "no crop"; }
    return img;
  }

  async function loadSuggestions() {
    const out = document.querySelector("#suggestion-list");
    const { suggestions } = await ctx.json("GET", "/v1/library/suggestions");
    out.replaceChildren();
    if (suggestions.length === 0) out.append(ctx.el("p", "No open suggestions.", { "data-testid": "no-suggestions" }));
    for (const s of suggestions) {
      const card = ctx.el("div", null, { class: "card", "data-testid": "suggestion", "data-face": s.face_id, "data-subject": s.subject });
      card.append(await crop(s.face_id));
      card.append(ctx.el("div", s.subject, { class: "decision" }));
      const rate = s.expected_false_match_rate === null ? "-" : s.expected_false_match_rate.toExponential(2);
      card.append(ctx.el("div", `distance ${s.distance.toFixed(3)}, false-match rate ${rate}`, { class: "explain" }));
      for (const [label, verb] of [["Accept", "accept"], ["Reject", "reject"]]) {
        const button = ctx.el("button", label, { type: "button", "data-action": verb });
        button.addEventListener("click", async () => {
          try {
            await ctx.json("POST", `/v1/library/suggestions/${s.face_id}/${verb}`, { subject: s.subject });
            await reload();  // the queue is redrawn before the result is announced
            ctx.status(`${verb === "accept" ? "Accepted" : "Rejected"} ${s.subject} for face ${s.face_id}.`);
          } catch (error) { ctx.status(`${label} failed: ${error.message}`, true); }
        });
        card.append(button);
      }
      out.append(card);
    }
  }

  async function loadPeople() {
    const out = document.querySelector("#people-list");
    const { people } = await ctx.json("GET", "/v1/library/people");
    out.replaceChildren();
    if (people.length === 0) out.append(ctx.el("p", "Nobody found yet."));
    for (const p of people) {
      const card = ctx.el("div", null, { class: "card", "data-testid": "person", "data-person": p.id });
      if (p.representative_face !== null) card.append(await crop(p.representative_face));
      card.append(ctx.el("div", p.name || `unnamed person ${p.id}`, { class: "decision", "data-testid": "person-name" }));
      card.append(ctx.el("div", `${p.faces} face(s), ${p.confirmed} confirmed`, { class: "explain" }));
      const nameInput = ctx.el("input", null, { placeholder: "name", "data-field": "name", size: "14" });
      const consentInput = ctx.el("input", null, { placeholder: "consent statement (to enrol)", "data-field": "consent", size: "22" });
      const nameButton = ctx.el("button", "Name", { type: "button", "data-action": "name" });
      nameButton.addEventListener("click", async () => {
        const name = nameInput.value.trim();
        if (!name) return;
        const body = { name, enrol: consentInput.value.trim() !== "" };
        if (body.enrol) body.consent = { text: consentInput.value.trim(), purpose: "photo tagging" };
        try {
          const result = await ctx.json("POST", `/v1/library/people/${p.id}/name`, body);
          await reload();
          ctx.status(`Named person ${p.id} ${result.name}` + (body.enrol ? ` (${result.enrolled_templates} template(s) enrolled).` : "."));
        } catch (error) { ctx.status("Naming failed: " + error.message, true); }
      });
      const mergeInput = ctx.el("input", null, { placeholder: "merge person id", "data-field": "merge", size: "8" });
      const mergeButton = ctx.el("button", "Merge into this", { type: "button", "data-action": "merge" });
      mergeButton.addEventListener("click", async () => {
        const other = parseInt(mergeInput.value, 10);
        if (!Number.isInteger(other)) return;
        try { await ctx.json("POST", `/v1/library/people/${p.id}/merge`, { sources: [other] }); await reload(); ctx.status(`Merged ${other} into ${p.id}.`); }
        catch (error) { ctx.status("Merge failed: " + error.message, true); }
      });
      const splitButton = ctx.el("button", "Split", { type: "button", "data-action": "split" });
      splitButton.addEventListener("click", async () => {
        try { const r = await ctx.json("POST", `/v1/library/people/${p.id}/split`, {}); await reload(); ctx.status(`Split person ${p.id}: ${r.new_people.length} new.`); }
        catch (error) { ctx.status("Split failed: " + error.message, true); }
      });
      card.append(ctx.el("div"), nameInput, consentInput, nameButton, ctx.el("div"), mergeInput, mergeButton, splitButton);
      out.append(card);
    }
  }

  async function reload() { await loadSuggestions(); await loadPeople(); }

  window.CountenanceLibrary = {
    async load(context) { ctx = context; try { await reload(); } catch (error) { ctx.status("Library: " + error.message, true); } },
  };
})();
