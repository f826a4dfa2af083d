// Hand-drawn SVG charts: a stacked bar per row is all the dashboard needs.

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

export const LABEL_COLORS: Record<string, string> = { good: "#1a7f37", partial: "#bf8700", bad: "#cf222e" };

/** One horizontal stacked bar per row, segments in `keys` order, with counts as tooltips. */
export function stackedBars(title: string, rows: { name: string; values: Record<string, number> }[], keys: string[],
  colors: Record<string, string>): SVGSVGElement {
  const width = 1000, labelWidth = 170, barHeight = 22, gap = 10;
  const height = rows.length * (barHeight + gap) + 4;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  chart.appendChild(svg("title", {}, title));
  rows.forEach((row, index) => {
    const y = index * (barHeight + gap) + 2;
    const total = keys.reduce((sum, key) => sum + (row.values[key] ?? 0), 0);
    chart.appendChild(svg("text", { x: 0, y: y + barHeight * 0.7, "font-size": 13, fill: "#1b1f24" }, row.name));
    let x = labelWidth;
    const span = width - labelWidth - 60;
    for (const key of keys) {
      const count = row.values[key] ?? 0;
      if (!count) continue;
      const w = (count / total) * span;
      const rect = svg("rect", { x, y, width: Math.max(w, 1), height: barHeight, fill: colors[key] ?? "#8c959f" });
      rect.appendChild(svg("title", {}, `${key}: ${count} (${Math.round((count / total) * 100)}%)`));
      chart.appendChild(rect);
      if (w > 34) chart.appendChild(svg("text", { x: x + 4, y: y + barHeight * 0.7, "font-size": 12, fill: "#fff" }, String(count)));
      x += w;
    }
    chart.appendChild(svg("text", { x: width - 55, y: y + barHeight * 0.7, "font-size": 12, fill: "#57606a" }, `n=${total}`));
  });
  return chart;
}

// ---- x/y charts for the insights: points with interval bars, lines, bars, markers ----

export interface XYPoint { x: number; y: number | null; low?: number | null; high?: number | null; tip?: string }
export interface XYSeries { name: string; color: string; points: XYPoint[]; kind: "points" | "line" | "bars"; dash?: boolean }
export interface XYOptions {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: XYSeries[];
  xDomain?: [number, number];
  yDomain?: [number, number];
  markers?: { x: number; label: string; color: string }[];
  hLines?: { y: number; label: string; color: string }[];
  diagonal?: boolean;
  xTick?: (value: number) => string;
}

function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const step = [1, 2, 2.5, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

function extent(values: number[], pad: number): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  const span = hi - lo;
  return [lo - span * pad, hi + span * pad];
}

/** An x/y chart in plain SVG: `points` series get interval bars (low–high), `line`
 *  series a polyline, `bars` series columns from zero. Every mark has a tooltip. */
export function xyChart(o: XYOptions): SVGSVGElement {
  const width = 640, height = 300, left = 56, right = 16, top = 14, bottom = 44;
  const all = o.series.flatMap((s) => s.points);
  const xDomain = o.xDomain ?? extent(all.map((p) => p.x), 0.04);
  const yDomain = o.yDomain ?? extent(all.flatMap((p) => [p.y ?? NaN, p.low ?? NaN, p.high ?? NaN, 0]), 0.05);
  const sx = (x: number) => left + ((x - xDomain[0]) / (xDomain[1] - xDomain[0] || 1)) * (width - left - right);
  const sy = (y: number) => height - bottom - ((y - yDomain[0]) / (yDomain[1] - yDomain[0] || 1)) * (height - top - bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": o.title, "data-chart": o.id });
  chart.appendChild(svg("title", {}, o.title));
  const axis = { stroke: "#8c959f", "stroke-width": 1 };
  chart.appendChild(svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, ...axis }));
  chart.appendChild(svg("line", { x1: left, y1: top, x2: left, y2: height - bottom, ...axis }));
  for (const t of ticks(xDomain[0], xDomain[1])) {
    chart.appendChild(svg("line", { x1: sx(t), y1: height - bottom, x2: sx(t), y2: height - bottom + 4, ...axis }));
    chart.appendChild(svg("text", { x: sx(t), y: height - bottom + 16, "font-size": 11, "text-anchor": "middle", fill: "#57606a" },
      o.xTick ? o.xTick(t) : String(t)));
  }
  for (const t of ticks(yDomain[0], yDomain[1])) {
    chart.appendChild(svg("line", { x1: left, y1: sy(t), x2: width - right, y2: sy(t), stroke: "#eaeef2", "stroke-width": 1 }));
    chart.appendChild(svg("text", { x: left - 6, y: sy(t) + 4, "font-size": 11, "text-anchor": "end", fill: "#57606a" }, String(t)));
  }
  chart.appendChild(svg("text", { x: (left + width - right) / 2, y: height - 8, "font-size": 12, "text-anchor": "middle", fill: "#1b1f24" }, o.xLabel));
  chart.appendChild(svg("text", { x: 14, y: (top + height - bottom) / 2, "font-size": 12, "text-anchor": "middle", fill: "#1b1f24",
    transform: `rotate(-90 14 ${(top + height - bottom) / 2})` }, o.yLabel));
  if (o.diagonal) {
    const lo = Math.max(xDomain[0], yDomain[0]), hi = Math.min(xDomain[1], yDomain[1]);
    chart.appendChild(svg("line", { x1: sx(lo), y1: sy(lo), x2: sx(hi), y2: sy(hi), stroke: "#8c959f", "stroke-dasharray": "4 4" }));
  }
  for (const line of o.hLines ?? []) {
    chart.appendChild(svg("line", { x1: left, y1: sy(line.y), x2: width - right, y2: sy(line.y), stroke: line.color, "stroke-dasharray": "6 3" }));
    chart.appendChild(svg("text", { x: width - right - 4, y: sy(line.y) - 4, "font-size": 11, "text-anchor": "end", fill: line.color }, line.label));
  }
  const n = Math.max(1, ...o.series.filter((s) => s.kind === "bars").map((s) => s.points.length));
  const barWidth = Math.min(36, Math.max(2, ((width - left - right) / n) * 0.6));
  for (const s of o.series) {
    const g = svg("g", { class: `series ${s.kind}`, "data-series": s.name });
    const points = s.points.filter((p) => p.y !== null && Number.isFinite(p.y));
    if (s.kind === "line" && points.length) {
      g.appendChild(svg("polyline", { points: points.map((p) => `${sx(p.x)},${sy(p.y as number)}`).join(" "), fill: "none",
        stroke: s.color, "stroke-width": 2, "stroke-dasharray": s.dash ? "5 3" : "none" }));
    }
    for (const p of points) {
      const tip = p.tip ?? `${s.name}: ${p.y}`;
      if (s.kind === "bars") {
        const rect = svg("rect", { class: "bar", x: sx(p.x) - barWidth / 2, y: sy(p.y as number), width: barWidth,
          height: Math.max(0, sy(yDomain[0] < 0 ? 0 : yDomain[0]) - sy(p.y as number)), fill: s.color });
        rect.appendChild(svg("title", {}, tip));
        g.appendChild(rect);
        continue;
      }
      if (p.low !== undefined && p.low !== null && p.high !== undefined && p.high !== null) {
        const bar = svg("g", { class: "interval" });
        bar.appendChild(svg("line", { x1: sx(p.x), y1: sy(p.low), x2: sx(p.x), y2: sy(p.high), stroke: s.color, "stroke-width": 1.5 }));
        for (const y of [p.low, p.high]) bar.appendChild(svg("line", { x1: sx(p.x) - 4, y1: sy(y), x2: sx(p.x) + 4, y2: sy(y), stroke: s.color, "stroke-width": 1.5 }));
        g.appendChild(bar);
      }
      const dot = svg("circle", { class: "point", cx: sx(p.x), cy: sy(p.y as number), r: s.kind === "line" ? 2.5 : 4, fill: s.color });
      dot.appendChild(svg("title", {}, tip));
      g.appendChild(dot);
    }
    chart.appendChild(g);
  }
  for (const m of o.markers ?? []) {
    chart.appendChild(svg("line", { class: "marker", x1: sx(m.x), y1: top, x2: sx(m.x), y2: height - bottom, stroke: m.color, "stroke-width": 1.5, "stroke-dasharray": "6 3" }));
    chart.appendChild(svg("text", { x: sx(m.x) + 4, y: top + 12, "font-size": 11, fill: m.color }, m.label));
  }
  return chart;
}

export const SERIES_COLORS = ["#0969da", "#8250df", "#bf3989", "#1a7f37", "#bc4c00", "#57606a", "#116329", "#953800"];
