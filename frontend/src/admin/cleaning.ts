// Cleaning a groups build with this project's threshold (POST /api/insights/groups/<id>/clean/):
// the server answers 202 with the run record and queues the work on the `cpu` queue; this
// panel polls the record's poll_url until the run has succeeded or failed, then shows the
// kept counts per modality and the cleaned files to download.

import { api, getAll } from "../api";
import { fmtNumber, fmtPercent, h, mount } from "../dom";
import type { CleaningRun, GroupsBuild, Project } from "../types";
import { Poller } from "./common";

export function cleaningSection(project: Project, target: () => number, label: () => string): HTMLElement {
  const status = h("div", { class: "cleaning-status", "aria-live": "polite" });
  const select = h("select", { id: "cleaning-build" }) as HTMLSelectElement;
  const button = h("button", { type: "submit", disabled: true }, "Clean the build") as HTMLButtonElement;
  let poller: Poller | null = null;

  const follow = (url: string) => {
    poller?.stop();
    poller = new Poller(async () => {
      if (!status.isConnected) return false; // the dashboard was left
      const run = await api.get<CleaningRun>(url);
      show(status, run, Number(select.value));
      button.disabled = run.state === "pending" || run.state === "running";
      return button.disabled;
    }, 1000).start();
  };
  const showLast = async () => {
    mount(status);
    if (!select.value) return;
    try {
      const url = `/api/insights/groups/${select.value}/clean/`;
      show(status, await api.get<CleaningRun>(url), Number(select.value));
      follow(url);
    } catch {
      mount(status, h("p", { class: "muted" }, "Not cleaned yet."));
    }
  };
  select.addEventListener("change", () => void showLast());

  void getAll<GroupsBuild>("/api/groups/").then((builds) => {
    const usable = builds.filter((b) => b.state === "succeeded" && (b.modalities as string[]).includes(project.target_modality));
    if (!usable.length) {
      mount(status, h("p", { class: "muted" }, `No finished groups build has ${project.target_modality} groups.`));
      return;
    }
    mount(select, ...usable.map((b) => h("option", { value: String(b.id) }, `${b.id}: ${b.name || "groups"} (k=${b.k}, ${(b.modalities as string[]).join(", ")})`)));
    button.disabled = false;
    void showLast();
  }).catch((error) => mount(status, h("p", { class: "error" }, `Could not list the groups builds: ${(error as Error).message}`)));

  const start = async () => {
    button.disabled = true;
    try {
      const run = await api.post<CleaningRun>(`/api/insights/groups/${select.value}/clean/`,
        { projects: [project.id], target: target(), label: label() });
      show(status, run, Number(select.value));
      follow(run.poll_url);
    } catch (error) {
      button.disabled = false;
      mount(status, h("p", { class: "error" }, `Could not clean: ${(error as Error).message}`));
    }
  };
  return h("div", { class: "cleaning" },
    h("h3", {}, "Clean a groups build with this threshold"),
    h("p", { class: "muted" }, "Keeps the build's pairs at or above the recommended threshold (the target and counting above) and writes them with their predicted P(good) in the groups export's layouts."),
    h("form", { class: "toolbar", onsubmit: (e: Event) => { e.preventDefault(); void start(); } },
      h("label", { for: "cleaning-build" }, "Groups build "), select, button),
    status);
}

function show(root: HTMLElement, run: CleaningRun, buildId: number): void {
  const manifest = run.manifest;
  const current = run.state === "succeeded"
    ? `Cleaned ${run.finished_at ? new Date(run.finished_at).toLocaleString() : ""} (target ${fmtPercent(run.request.target)} ${run.request.label.replace(/_/g, " ")}).`
    : run.state === "failed" ? `The cleaning failed: ${run.error}`
    : `Cleaning: ${run.state}, ${fmtPercent(run.progress)} of the captions written…`;
  mount(root,
    h("p", { class: run.state === "failed" ? "error" : "cleaning-state", "data-state": run.state }, current),
    manifest ? h("div", {},
      h("ul", { class: "cleaning-kept" }, Object.entries(manifest.modalities).map(([modality, m]) => h("li", {},
        `${modality}: ${m.threshold === null ? "no threshold meets the target" : `similarity ≥ ${fmtNumber(m.threshold, 3)}`}, ` +
        `kept ${m.pairs_kept} of ${m.pairs_total} pairs, ${m.captions_kept} of ${m.captions_total} captions (project ${m.project_name})`))),
      manifest.left_out.length ? h("p", { class: "muted" }, `Left out (no rated project): ${manifest.left_out.join(", ")}.`) : null,
      h("p", {}, "Files: ", Object.keys(manifest.files).flatMap((name) => [
        h("a", { href: `/api/insights/groups/${buildId}/cleaned/${name}`, download: "" }, name), " "]))) : null);
}
