// Datasets, embedding spaces and imports: start an import from a server folder or an
// uploaded bundle, follow it, and read its errors by file, line and column.

import { ApiError, getAll, request } from "../api";
import { h, mount, toast } from "../dom";
import type { Dataset, ImportError, ImportRun, Space } from "../types";
import { Poller, pill, progressBar, table, when } from "./common";
import { screeningPanels } from "./screening";

export async function datasetsPage(root: HTMLElement) {
  const datasets = h("div");
  const spaces = h("div");
  const imports = h("div", { "aria-live": "polite" });
  const screening = h("div", { id: "screening" });
  let poller: Poller | null = null;
  const restart = () => {
    poller?.stop();
    poller = new Poller(refresh, 1000).start();
  };

  const refresh = async (): Promise<boolean> => {
    const [ds, sp, runs] = await Promise.all([
      getAll<Dataset>("/api/datasets/"), getAll<Space>("/api/spaces/"), getAll<ImportRun>("/api/imports/?limit=20")]);
    mount(datasets, ds.length
      ? table("Datasets", ["Name", "Items", "Captions", "Description"],
          ds.map((d) => [d.name, Object.entries(d.items).map(([m, n]) => `${m.replace("_", " ")} ${n}`).join(" · ") || "none",
            String(d.captions), d.description || ""]), [2])
      : h("p", { class: "muted" }, "No dataset yet."));
    mount(spaces, sp.length
      ? table("Embedding spaces", ["Name", "Model", "Dimensions", "Target"],
          sp.map((s) => [s.name, s.model_name, String(s.dim), `text→${s.target_modality.replace("_", " ")}`]), [2])
      : h("p", { class: "muted" }, "No embedding space yet."));
    mount(imports, runs.length ? runs.map(importRun) : h("p", { class: "muted" }, "No import yet."));
    const [panels, screeningRunning] = await screeningPanels(ds, restart);
    mount(screening, panels.length ? panels : h("p", { class: "muted" }, "No dataset yet."));
    // A just-finished import queues its screening: keep watching for a minute until it counts.
    const screeningSoon = runs.some((r) => r.state === "succeeded" && !("screened_ok" in (r.counts ?? {}))
      && r.finished_at !== null && Date.now() - new Date(r.finished_at).getTime() < 60_000);
    return screeningRunning || screeningSoon || runs.some((r) => r.state === "pending" || r.state === "running");
  };

  mount(root,
    h("h1", {}, "Datasets"),
    datasets,
    h("h2", {}, "Media screening"),
    screening,
    h("h2", {}, "Embedding spaces"),
    spaces,
    h("h2", {}, "Import a bundle"),
    importForm(() => {
      poller?.stop();
      poller = new Poller(refresh, 1000).start();
    }),
    h("h2", {}, "Imports"),
    imports);
  await refresh();
  poller = new Poller(refresh, 1500).start();
  return { dispose: () => poller?.stop() };
}

function importForm(onStarted: () => void): HTMLElement {
  const error = h("div", { class: "field-error", id: "import-error", "aria-live": "polite" });
  const path = h("input", { id: "import-path", name: "path", size: 40, placeholder: "/srv/bundles/my-dataset", "aria-describedby": "import-error" });
  const bundle = h("input", { id: "import-bundle", name: "bundle", type: "file", accept: ".zip,.tar.gz,.tgz,application/zip,application/gzip", "aria-describedby": "import-error" });
  const dataset = h("input", { id: "import-dataset", name: "dataset", size: 20, pattern: "[-a-zA-Z0-9_]+", placeholder: "from the manifest" });
  const form = h("form", { class: "panel", novalidate: true },
    h("div", { class: "inline-form" },
      h("div", { class: "field" }, h("label", { for: "import-path" }, "Server folder"), path),
      h("span", { class: "muted" }, "or"),
      h("div", { class: "field" }, h("label", { for: "import-bundle" }, "Upload a .zip / .tar.gz"), bundle),
      h("div", { class: "field" }, h("label", { for: "import-dataset" }, "Dataset name (optional)"), dataset),
      h("button", { type: "submit", class: "primary" }, "Import")),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const file = bundle.files?.[0];
    if (!!file === !!path.value.trim()) {
      error.textContent = "Give either a server folder or a bundle file (one of the two).";
      return;
    }
    if (dataset.value && !/^[-a-zA-Z0-9_]+$/.test(dataset.value)) {
      error.textContent = "The dataset name may hold letters, digits, - and _ only.";
      return;
    }
    let body: FormData | Record<string, string>;
    if (file) {
      body = new FormData();
      body.append("bundle", file);
      if (dataset.value) body.append("dataset", dataset.value);
    } else {
      body = { path: path.value.trim(), ...(dataset.value ? { dataset: dataset.value } : {}) };
    }
    try {
      await request<ImportRun>("POST", "/api/imports/", body);
      toast("Import started.");
      form.reset();
      onStarted();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      error.textContent = Object.values(e.fields).flat().join(" ") || e.message;
    }
  });
  return form;
}

function importRun(run: ImportRun): HTMLElement {
  const errors = Array.isArray(run.errors) ? run.errors : [];
  const counts = Object.entries(run.counts ?? {}).filter(([, v]) => typeof v !== "object").map(([k, v]) => `${k}: ${v}`).join(", ");
  return h("div", { class: "panel import-run", dataset: { state: run.state } },
    h("p", {}, h("strong", {}, `#${run.id} ${run.dataset_name || "(name from manifest)"}`), " ", pill(run.state), " ",
      h("span", { class: "muted" }, `${run.source} · ${when(run.created_at)}`)),
    run.state === "running" ? progressBar(run.progress, `import ${run.id} progress`) : null,
    counts ? h("p", { class: "muted" }, counts) : null,
    errors.length
      ? table(`Errors of import ${run.id}`, ["File", "Line", "Column", "Problem"],
          errors.map((e: ImportError) => [String(e.file ?? ""), e.line === null || e.line === undefined ? "–" : String(e.line),
            e.column === null || e.column === undefined ? "–" : String(e.column), String(e.message ?? JSON.stringify(e))]), [1])
      : null);
}
