// Small pieces the admin screens share: state pills, progress bars, tables, polling.

import { h } from "../dom";

export function pill(state: string): HTMLElement {
  return h("span", { class: `pill ${state}` }, state);
}

export function progressBar(fraction: number, label: string): HTMLElement {
  const percent = Math.round(Math.max(0, Math.min(1, fraction || 0)) * 100);
  return h("div", { class: "progress", role: "progressbar", "aria-label": label, "aria-valuemin": "0",
    "aria-valuemax": "100", "aria-valuenow": String(percent) }, h("div", { style: `width:${percent}%` }));
}

/** A table from column headings and rows of cells; `num` columns align right. */
export function table(caption: string, headings: string[], rows: (Node | string)[][], numeric: number[] = []): HTMLElement {
  return h("table", {},
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, headings.map((text, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : false }, text)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, i) => h("td", { class: numeric.includes(i) ? "num" : false }, cell))))));
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "–";
}

/** Calls `tick` every `ms` until it returns false or the poller is stopped; one call in flight at a time. */
export class Poller {
  private timer = 0;
  private stopped = false;

  constructor(private readonly tick: () => Promise<boolean>, private readonly ms = 1000) {}

  start(): this {
    void this.run();
    return this;
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    let again = true;
    try {
      again = await this.tick();
    } catch {
      again = true; // a failed poll is retried on the next beat
    }
    if (again && !this.stopped) this.timer = window.setTimeout(() => void this.run(), this.ms);
  }
}
