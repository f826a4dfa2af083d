// What the ratings say about the retrieval (GET /api/projects/<id>/insights/): precision
// by rank with interval bars, calibration and the recommended threshold, reliability,
// annotator drift lines and throughput. Computed on request (a cluster bootstrap), so it
// loads once when the dashboard opens and again on "Update", never on the 10 s poll.
// Below it, cleaning a groups build with the threshold (a background job: cleaning.ts polls it).

import { api } from "../api";
import { fmtNumber, fmtPercent, h, mount, toast } from "../dom";
import type { Insights, InsightsPrecisionRow, Project } from "../types";
import { SERIES_COLORS, XYSeries, xyChart } from "./charts";
import { cleaningSection } from "./cleaning";
import { table } from "./common";

const TABLES = ["precision", "calibration", "reliability", "thresholds", "drift_flags", "drift_windows", "position_bias", "throughput"];

export function insightsSection(project: Project): HTMLElement {
  const body = h("div", { class: "insights-body" }, h("p", { class: "muted" }, "Computing…"));
  const target = h("input", { id: "insights-target", type: "number", min: "0.5", max: "0.99", step: "0.01", value: "0.8" });
  const label = h("select", { id: "insights-label" },
    h("option", { value: "good" }, "good"), h("option", { value: "good_or_partial" }, "good or partial"));
  const query = () => `target=${encodeURIComponent(target.value)}&label=${label.value}`;
  const load = async () => {
    mount(body, h("p", { class: "muted" }, "Computing…"));
    try {
      const data = await api.get<Insights>(`/api/projects/${project.id}/insights/?${query()}`);
      render(body, data, project, query());
    } catch (error) {
      mount(body, h("p", { class: "error" }, `Could not compute the insights: ${(error as Error).message}`));
    }
  };
  void load();
  return h("section", { "aria-labelledby": "insights-h", class: "insights" },
    h("h2", { id: "insights-h" }, "What the ratings say about the retrieval"),
    h("form", { class: "toolbar", onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
      h("label", { for: "insights-target" }, "Target precision "), target,
      h("label", { for: "insights-label" }, " counting "), label,
      h("button", { type: "submit" }, "Update")),
    body,
    cleaningSection(project, () => Number(target.value), () => label.value));
}

function interval(row: InsightsPrecisionRow | undefined): string {
  if (!row || row.estimate === null) return "–";
  return `${fmtPercent(row.estimate)} (${fmtPercent(row.low)}–${fmtPercent(row.high)}), n=${row.pairs}`;
}

function render(root: HTMLElement, data: Insights, project: Project, query: string): void {
  if (!data.pairs) {
    mount(root, h("p", { class: "muted" }, "No rated pairs yet: precision, calibration and drift appear once pairs have a final label."));
    return;
  }
  const rows = data.precision;
  const find = (sample: string, scope: string, group: string, label = "good") =>
    rows.find((r) => r.sample === sample && r.scope === scope && r.group === group && r.label === label);
  const rankSample = rows.some((r) => r.sample === "audit" && r.scope === "rank") ? "audit" : "rated";
  const rankSeries: XYSeries[] = ["audit", "rated"].filter((s) => rows.some((r) => r.sample === s && r.scope === "rank"))
    .map((sample, i) => ({
      name: sample === "audit" ? "audit sample (uniform from top-k)" : "rated (dedup-chosen)", color: SERIES_COLORS[i], kind: "points",
      points: rows.filter((r) => r.sample === sample && r.scope === "rank" && r.label === "good")
        .map((r) => ({ x: Number(r.group) + (i ? 0.12 : 0), y: r.estimate, low: r.low, high: r.high,
          tip: `rank ${r.group}, ${sample}: ${fmtPercent(r.estimate)} good (${fmtPercent(r.low)}–${fmtPercent(r.high)}), ${r.pairs} pairs` })),
    }));
  const pairs = [...new Set(rows.filter((r) => r.scope === "modality_pair").map((r) => r.group))];
  mount(root,
    h("div", { class: "cards" },
      stat("Pairs with a final label", String(data.pairs), `${data.audit_pairs} from audit tasks (audit share ${fmtPercent(data.audit_share)})`),
      stat("Precision of the rated pairs", interval(find("rated", "overall", "all")), "share good, 95 % interval over captions"),
      stat("Precision of the retrieval (audit)", interval(find("audit", "overall", "all")),
        data.audit_pairs ? "unbiased for the top-k" : "no audit tasks: set an audit share"),
      ...data.calibration.map((c) => stat(`Threshold ${c.modality_pair}`,
        c.threshold.recommended === null ? "none meets the target" : `similarity ≥ ${fmtNumber(c.threshold.recommended, 3)}`,
        `lower bound ≥ ${fmtPercent(c.threshold.target)} ${c.label.replace(/_/g, " ")} · ${c.threshold.sample} pairs`))),
    h("h3", {}, "Precision by retrieval rank"),
    h("div", { class: "chart" },
      legend(rankSeries.map((s) => [s.name, s.color])),
      xyChart({ id: "precision-by-rank", title: "Share good by retrieval rank with 95 % intervals", xLabel: "retrieval rank (0 = best)",
        yLabel: "share good", yDomain: [0, 1], series: rankSeries })),
    h("p", { class: "muted" }, rankSample === "audit"
      ? "Per-rank figures from audit tasks are unbiased for the retrieval; rated-sample ranks are those de-duplication kept."
      : "Without audit tasks, per-rank figures describe the de-duplicated choice, not the top-k as retrieved."),
    table("Precision per modality pair", ["Modality pair", "Sample", "Good", "Good or partial"],
      pairs.flatMap((pair) => ["rated", "audit"].filter((s) => find(s, "modality_pair", pair))
        .map((s) => [pair, s, interval(find(s, "modality_pair", pair)), interval(find(s, "modality_pair", pair, "good_or_partial"))]))),
    ...data.calibration.map((c) => calibrationCharts(c)),
    driftSection(data, project.id),
    throughputSection(data),
    positionSection(data),
    h("p", {}, "Downloads: ", TABLES.flatMap((t) => [
      h("a", { href: `/api/projects/${project.id}/insights/${t}.csv?${query}`, download: "" }, `${t}.csv`), " "])));
}

function calibrationCharts(c: Insights["calibration"][number]): HTMLElement {
  const ranks = [...new Set(c.curve.map((p) => p.rank))];
  const series: XYSeries[] = ranks.map((rank, i) => ({
    name: `P(${c.label.replace(/_/g, " ")} | similarity, rank ${rank})`, color: SERIES_COLORS[i], kind: "line",
    points: c.curve.filter((p) => p.rank === rank).map((p) => ({ x: p.similarity, y: p.predicted, tip: `similarity ${p.similarity}, rank ${rank}: ${fmtPercent(p.predicted)}` })),
  }));
  series.push({ name: "precision at or above t (lower bound)", color: "#cf222e", kind: "line", dash: true,
    points: c.threshold.curve.map((p) => ({ x: p.threshold, y: p.lower, tip: `t=${p.threshold}: precision ${fmtPercent(p.precision)}, lower ${fmtPercent(p.lower)}, ${p.pairs} pairs` })) });
  const markers = c.threshold.recommended === null ? [] : [{ x: c.threshold.recommended, label: `t = ${fmtNumber(c.threshold.recommended, 3)}`, color: "#1a7f37" }];
  const reliability: XYSeries[] = [{ name: "observed (cross-fitted)", color: SERIES_COLORS[0], kind: "points",
    points: c.reliability.map((b) => ({ x: b.predicted ?? 0, y: b.observed, low: b.low, high: b.high,
      tip: `predicted ${fmtPercent(b.predicted)}: observed ${fmtPercent(b.observed)} (${fmtPercent(b.low)}–${fmtPercent(b.high)}), ${b.pairs} pairs` })) }];
  return h("div", { class: "calibration" },
    h("h3", {}, `Calibration ${c.modality_pair}`),
    h("div", { class: "chart" },
      legend(series.map((s) => [s.name, s.color])),
      xyChart({ id: `calibration-${c.modality_pair}`, title: `Calibration curve ${c.modality_pair}`, xLabel: "similarity",
        yLabel: "probability", yDomain: [0, 1], series, markers,
        hLines: [{ y: c.threshold.target, label: `target ${fmtPercent(c.threshold.target)}`, color: "#57606a" }] })),
    h("div", { class: "chart" },
      xyChart({ id: `reliability-${c.modality_pair}`, title: `Reliability diagram ${c.modality_pair}`, xLabel: "predicted probability",
        yLabel: "observed share", xDomain: [0, 1], yDomain: [0, 1], diagonal: true, series: reliability })),
    h("p", { class: "muted" }, `${c.pairs} pairs, model: ${c.model.method}; the threshold rests on ${c.threshold.sample} pairs` +
      (c.threshold.rests_on_audit ? " (audit)." : " (fewer than 100 audit pairs: the de-duplicated choice).")));
}

function driftSection(data: Insights, projectId: number): HTMLElement {
  const d = data.drift;
  const metric = d.windows.some((w) => w.agreement_with_consensus !== null && w.agreement_with_consensus !== undefined)
    ? "agreement_with_consensus" : "gold_accuracy";
  const start = Math.min(...d.windows.map((w) => w.start));
  const users = [...new Set(d.windows.map((w) => w.username))];
  const series: XYSeries[] = users.map((user, i): XYSeries => ({
    name: user, color: SERIES_COLORS[i % SERIES_COLORS.length], kind: "line",
    points: d.windows.filter((w) => w.username === user && w[metric] !== null && w[metric] !== undefined)
      .map((w) => ({ x: (w.start - start) / 3600, y: w[metric] as number, tip: `${user}, window ${w.window}: ${fmtPercent(w[metric] as number)} of ${w[`${metric}_n`]}` })),
  })).filter((s) => s.points.length);
  const flagged = d.annotators.filter((a) => a.suggest_pause);
  return h("div", { class: "drift" },
    h("h3", {}, "Annotator drift"),
    series.length
      ? h("div", { class: "chart" }, legend(series.map((s) => [s.name, s.color])),
          xyChart({ id: "drift", title: `${metric.replace(/_/g, " ")} per annotator and time window`, xLabel: "hours since the first rating",
            yLabel: metric.replace(/_/g, " "), yDomain: [0, 1], series }))
      : h("p", { class: "muted" }, "No gold answers or multi-annotator consensus yet: nothing to test drift on."),
    flagged.length
      ? h("div", {},
          h("p", { class: "flagged" }, "Suggested pauses (an admin decides): ",
            flagged.map((a) => `${a.username} (${Object.entries(a.flags).filter(([, f]) => f.flag_at !== null).map(([m, f]) => `${m.replace(/_/g, " ")} from rating ${f.flag_at}`).join(", ")})`).join("; ")),
          h("p", {}, flagged.map((a) => h("button", { type: "button", class: "pause-suggested", onclick: async (e: Event) => {
            const button = e.currentTarget as HTMLButtonElement;
            try {
              await api.post(`/api/projects/${projectId}/members/pause/`, { usernames: [a.username] });
              button.disabled = true;
              button.textContent = `${a.username} paused`;
              toast(`${a.username} is paused; unpause them on the Members tab.`);
            } catch (error) {
              toast(`Could not pause ${a.username}: ${(error as Error).message}`, "error");
            }
          } }, `Pause ${a.username}`))))
      : h("p", { class: "muted" }, "No annotator falls significantly below their own earlier level or the crowd."),
    table("Median seconds per task", ["Annotator", "Windows", "Ratings", "Median seconds (last window)"],
      users.map((user) => {
        const mine = d.windows.filter((w) => w.username === user);
        return [user, String(mine.length), String(mine.reduce((s, w) => s + w.ratings, 0)), fmtNumber(mine[mine.length - 1]?.median_seconds, 1)];
      }), [1, 2, 3]));
}

function throughputSection(data: Insights): HTMLElement {
  const t = data.throughput;
  const first = t.buckets[0]?.start ?? 0;
  return h("div", { class: "throughput" },
    h("h3", {}, "Throughput"),
    h("div", { class: "cards" },
      stat("Ratings per hour (recent)", fmtNumber(t.rate_per_hour, 1), "submitted tasks"),
      stat("Remaining", String(t.remaining), "submissions still needed"),
      stat("ETA", t.eta_hours === null ? "–" : `${fmtNumber(t.eta_hours, 1)} h`, "at the recent rate")),
    t.buckets.length
      ? h("div", { class: "chart" }, xyChart({ id: "throughput", title: "Submitted tasks per hour", xLabel: "hours since the first rating",
          yLabel: "per hour", series: [{ name: "per hour", color: SERIES_COLORS[0], kind: "bars",
            points: t.buckets.map((b) => ({ x: (b.start - first) / 3600, y: b.per_hour, tip: `${new Date(b.start * 1000).toLocaleString()}: ${b.count}` })) }] }))
      : null);
}

function positionSection(data: Insights): HTMLElement {
  const p = data.position_bias;
  return h("div", { class: "position" },
    h("h3", {}, "Position bias"),
    table("Share good by candidate slot", ["Slot", "Pairs", "Share good", "At equal rank (standardised)"],
      p.slots.map((s) => [String(s.slot), String(s.pairs), fmtPercent(s.share_good), fmtPercent(s.standardised_share_good)]), [0, 1, 2, 3]),
    h("p", { class: "muted" }, p.p_value === null ? "Not enough slots at equal rank to test."
      : `Stratified χ² = ${fmtNumber(p.chi2)} on ${p.dof} df, p = ${fmtNumber(p.p_value, 3)} (small p: annotators favour some slots).`));
}

function legend(items: [string, string][]): HTMLElement {
  return h("div", { class: "legend" }, items.map(([name, color]) => h("span", {}, h("span", { class: "swatch", style: `background:${color}` }), name)));
}

function stat(label: string, value: string, note: string): HTMLElement {
  return h("div", { class: "stat" }, h("div", { class: "muted" }, label), h("div", { class: "value" }, value), h("div", { class: "muted" }, note));
}
