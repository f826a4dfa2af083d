// Project dashboard: progress, labels per modality pair, agreement, annotators, then the
// insights (precision, calibration, drift, throughput: insights.ts).
// Refreshes every 10 s while open.

import { api } from "../api";
import { fmtNumber, fmtPercent, h, mount } from "../dom";
import type { Agreement, Project, Stats } from "../types";
import { LABEL_COLORS, stackedBars } from "./charts";
import { Poller, progressBar, table } from "./common";
import { insightsSection } from "./insights";

export async function dashboardTab(root: HTMLElement, project: Project) {
  // The counts refresh every 10 s; the insights below them are computed once per visit.
  const counts = h("div", { class: "dashboard-counts" });
  mount(root, counts, insightsSection(project));
  const refresh = async () => {
    const stats = await api.get<Stats>(`/api/projects/${project.id}/stats/`);
    render(counts, stats);
    return true;
  };
  await refresh();
  const poller = new Poller(refresh, 10_000);
  window.setTimeout(() => poller.start(), 10_000);
  return { dispose: () => poller.stop() };
}

function render(root: HTMLElement, stats: Stats): void {
  const p = stats.progress;
  const assignments = p.assignments ?? {};
  const labelRows = Object.entries(stats.labels).map(([name, v]) => ({ name, values: v.ratings }));
  const resultKeys = [...new Set(Object.values(stats.labels).flatMap((v) => Object.keys(v.results)))].sort();
  mount(root,
    h("section", { "aria-labelledby": "progress-h" },
      h("h2", { id: "progress-h" }, "Progress"),
      h("div", { class: "cards" },
        stat("Tasks complete", `${p.complete} / ${p.tasks}`, progressBar(p.tasks ? p.complete / p.tasks : 0, "tasks complete")),
        stat("Tasks started", String(p.started)),
        stat("Gold tasks", String(p.gold_tasks)),
        stat("Assignments submitted", String(assignments.submitted ?? 0),
          h("div", { class: "muted" }, Object.entries(assignments).filter(([k]) => k !== "submitted").map(([k, v]) => `${k} ${v}`).join(" · "))))),
    h("section", { "aria-labelledby": "labels-h" },
      h("h2", { id: "labels-h" }, "Labels per modality pair"),
      labelRows.length
        ? h("div", { class: "chart" },
            h("div", { class: "legend" }, ["good", "partial", "bad"].map((k) => h("span", {}, h("span", { class: "swatch", style: `background:${LABEL_COLORS[k]}` }), k))),
            stackedBars("Ratings per modality pair", labelRows, ["good", "partial", "bad"], LABEL_COLORS))
        : h("p", { class: "muted" }, "No ratings yet."),
      resultKeys.length
        ? table("Pair results per modality pair", ["Modality pair", ...resultKeys],
            Object.entries(stats.labels).map(([name, v]) => [name, ...resultKeys.map((k) => String(v.results[k] ?? 0))]),
            resultKeys.map((_, i) => i + 1))
        : null),
    h("section", { "aria-labelledby": "agreement-h" },
      h("h2", { id: "agreement-h" }, "Agreement"),
      table("Agreement", ["Scope", "Units", "Raw agreement", "Fleiss' κ", "Krippendorff's α (ordinal)"],
        [agreementRow("all pairs", stats.agreement.overall),
          ...Object.entries(stats.agreement.by_modality_pair ?? {}).map(([name, a]) => agreementRow(name, a))], [1, 2, 3, 4]),
      h("p", { class: "muted" }, "Over pairs rated by at least two annotators; gold tasks excluded.")),
    h("section", { "aria-labelledby": "annotators-h" },
      h("h2", { id: "annotators-h" }, "Annotators"),
      stats.annotators.length
        ? table("Annotators", ["Annotator", "Tasks", "Median seconds", "Gold answered", "Gold accuracy", "Agreement with consensus", "Status"],
            stats.annotators.map((a) => [a.username, String(a.tasks_submitted), fmtNumber(a.median_seconds, 1), String(a.gold_answered),
              fmtPercent(a.gold_accuracy), fmtPercent(a.agreement_with_consensus), a.paused ? `paused${a.paused_reason ? ` (${a.paused_reason})` : ""}` : "active"]),
            [1, 2, 3, 4, 5])
        : h("p", { class: "muted" }, "No annotator has submitted yet.")));
}

function stat(label: string, value: string, extra?: Node): HTMLElement {
  return h("div", { class: "stat" }, h("div", { class: "muted" }, label), h("div", { class: "value" }, value), extra);
}

function agreementRow(name: string, a: Agreement): string[] {
  return [name, String(a?.units ?? 0), fmtNumber(a?.raw_agreement), fmtNumber(a?.fleiss_kappa), fmtNumber(a?.krippendorff_alpha)];
}
