// The adjudication queue: contested pairs with their votes; an admin settles each with a label.

import { ApiError, api, type Page } from "../api";
import { h, mount, toast } from "../dom";
import { mediaView } from "../annotator/media";
import type { Label, PairResult, Project } from "../types";

export async function contestedTab(root: HTMLElement, project: Project) {
  const load = async () => {
    const page = await api.get<Page<PairResult>>(`/api/projects/${project.id}/contested/?limit=20`);
    mount(root,
      h("p", { class: "muted" }, `${page.count} contested pair(s)`,
        project.contested_route !== "adjudicate" ? ` · route: ${project.contested_route.replace("_", " ")}` : ""),
      page.results.length
        ? h("ul", { class: "contested-list" }, page.results.map((pair) => row(pair)))
        : h("p", {}, "Nothing to adjudicate."));
  };

  const row = (pair: PairResult) => {
    const note = h("input", { id: `note-${pair.id}`, placeholder: "note (optional)", size: 24 });
    const error = h("span", { class: "field-error", "aria-live": "polite" });
    const settle = async (label: Label) => {
      try {
        await api.post(`/api/projects/${project.id}/contested/${pair.id}/adjudicate/`, { label, note: note.value });
        toast(`Pair ${pair.id} settled as ${label}.`);
        const index = [...root.querySelectorAll(".contested-list > li")].indexOf(item);
        await load();
        // The settled row is gone with the focus it had: keyboard users go on with the pair now in its place.
        const rows = root.querySelectorAll(".contested-list > li");
        rows[Math.min(index, rows.length - 1)]?.querySelector<HTMLElement>(".inline-form button")?.focus();
      } catch (e) {
        error.textContent = e instanceof ApiError ? e.message : String(e);
      }
    };
    const votes = Array.isArray(pair.votes) ? pair.votes.join(", ") : voteSummary(pair.votes);
    const item = h("li", { class: "panel contested" },
      h("div", { class: "contested-media" }, mediaView(pair.media ?? { modality: pair.item_modality, media_url: pair.media_url }, `candidate of pair ${pair.id}`, () => {}, true).element),
      h("div", {},
        h("p", { class: "caption-text" }, pair.caption),
        h("p", { class: "muted" }, `${pair.caption_modality}→${pair.item_modality} · votes: ${votes}`),
        h("div", { class: "inline-form", role: "group", "aria-label": `Adjudicate pair ${pair.id}` },
          (["good", "partial", "bad"] as Label[]).map((label) => h("button", { type: "button", class: `label-${label}`, onclick: () => settle(label) }, label)),
          h("label", { class: "visually-hidden", for: `note-${pair.id}` }, "Note"), note, error)));
    return item;
  };

  await load();
  return {};
}

const LABEL_ORDER = ["good", "partial", "bad"];

/** "good 1 · partial 1 · bad 1": labels best first, whatever order the JSON keys came in. */
function voteSummary(votes: Record<string, number>): string {
  const rank = (label: string) => (LABEL_ORDER.indexOf(label) + LABEL_ORDER.length + 1) % (LABEL_ORDER.length + 1);
  return Object.entries(votes).sort(([a], [b]) => rank(a) - rank(b)).map(([k, v]) => `${k} ${v}`).join(" · ");
}
