// Exports of this project's rated pairs: start one in a format, follow it, download it.

import { ApiError, api } from "../api";
import { h, mount, toast } from "../dom";
import type { ExportRun, Project } from "../types";
import { Poller, pill, progressBar, table, when } from "./common";

const FORMATS = ["jsonl", "csv", "parquet", "emm1", "pairs", "zeroshot"];

export async function exportsTab(root: HTMLElement, project: Project) {
  const base = `/api/projects/${project.id}/exports/`;
  const list = h("div", { "aria-live": "polite" });
  const error = h("p", { class: "field-error", "aria-live": "polite" });
  const format = h("select", { id: "export-format" }, FORMATS.map((f) => h("option", { value: f }, f)));
  let poller: Poller | null = null;

  const refresh = async (): Promise<boolean> => {
    const runs = await api.get<ExportRun[]>(base);
    mount(list, runs.length
      ? table("Exports", ["#", "Format", "State", "Progress", "Rows", "Size", "Started by", "Created", "File"],
          runs.map((run) => [String(run.id), run.format, pill(run.state), progressBar(run.progress, `export ${run.id} progress`),
            run.row_count === null ? "–" : String(run.row_count), size(run.size_bytes), run.created_by ?? "–", when(run.created_at),
            run.download_url ? h("a", { href: run.download_url, download: "", class: "download" }, "Download")
              : run.error ? h("span", { class: "field-error" }, run.error) : "–"]),
          [0, 4, 5])
      : h("p", { class: "muted" }, "No export yet."));
    return runs.some((run) => run.state === "pending" || run.state === "running");
  };

  const form = h("form", { class: "inline-form" },
    h("div", { class: "field" }, h("label", { for: "export-format" }, "Format"), format),
    h("button", { type: "submit", class: "primary" }, "Start export"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await api.post<ExportRun>(base, { format: format.value });
      toast("Export started.");
      poller?.stop();
      poller = new Poller(refresh, 1000).start();
    } catch (e) {
      error.textContent = e instanceof ApiError ? e.message : String(e);
    }
  });
  mount(root, form, error, list);
  poller = new Poller(refresh, 2000).start();
  return { dispose: () => poller?.stop() };
}

function size(bytes: number | null): string {
  if (bytes === null || bytes === undefined) return "–";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
