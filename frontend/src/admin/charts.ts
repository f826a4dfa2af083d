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
