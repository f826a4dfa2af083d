// Media screening on the datasets screen: per dataset, items ok / failed / skipped /
// pending, the latest run's progress, a re-screen button, and the failed items with
// the reason each failed (GET/POST /api/datasets/{id}/screening/).

import { ApiError, request } from "../api";
import { h, toast } from "../dom";
import type { Dataset, Screening } from "../types";
import { pill, progressBar, table, when } from "./common";

/** The "Media screening" panels; resolves true while a screening run is in progress. */
export async function screeningPanels(datasets: Dataset[], onRescreen: () => void): Promise<[HTMLElement[], boolean]> {
  const results = await Promise.all(datasets.map((d) => request<Screening>("GET", `/api/datasets/${d.id}/screening/`)));
  const panels = datasets.map((d, i) => screeningPanel(d, results[i], onRescreen));
  const running = results.some((r) => r.run !== null && (r.run.state === "pending" || r.run.state === "running"));
  return [panels, running];
}

function screeningPanel(dataset: Dataset, screening: Screening, onRescreen: () => void): HTMLElement {
  const { counts, run, failed } = screening;
  const busy = run !== null && (run.state === "pending" || run.state === "running");
  const button = h("button", { type: "button", disabled: busy, "aria-label": `Re-screen ${dataset.name}` }, "Re-screen");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await request<Screening>("POST", `/api/datasets/${dataset.id}/screening/`);
      toast(`Screening of ${dataset.name} started.`);
      onRescreen();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      toast(e.message, "error");
      button.disabled = false;
    }
  });
  return h("div", { class: "panel screening", dataset: { dataset: dataset.name } },
    h("p", {},
      h("strong", {}, dataset.name), " ",
      h("span", { class: "screen-ok" }, `ok ${counts.ok ?? 0}`), " · ",
      h("span", { class: "screen-failed" }, `failed ${counts.failed ?? 0}`), " · ",
      `skipped (remote) ${counts.skipped ?? 0} · not screened ${counts.pending ?? 0} `,
      run ? [pill(run.state), " ", h("span", { class: "muted" }, `last run ${when(run.finished_at ?? run.created_at)}`)] : null,
      " ", button),
    busy && run ? progressBar(run.progress, `screening of ${dataset.name}`) : null,
    failed.length
      ? table(`Items of ${dataset.name} that failed screening`, ["Item", "Modality", "Media", "Reason"],
          failed.map((f) => [f.external_id, f.modality.replace("_", " "), f.media || "–", f.screen_reason]))
      : null,
    failed.length && failed.length < (counts.failed ?? 0)
      ? h("p", { class: "muted" }, `first ${failed.length} of ${counts.failed} failed items`)
      : null);
}
