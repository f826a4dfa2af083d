// Create or edit a project. Every parameter is checked in the browser first (types,
// ranges, the space matching the target modality, m ≤ k, JSON shapes); whatever the
// server still refuses comes back as DRF field errors and is shown next to its field.

import { ApiError, api, getAll } from "../api";
import { h, mount, toast } from "../dom";
import type { Dataset, Project, Space } from "../types";

type Kind = "text" | "textarea" | "int" | "float" | "optionalFloat" | "select" | "checks" | "list" | "json" | "curation";

interface FieldSpec {
  name: string;
  label: string;
  kind: Kind;
  help?: string;
  required?: boolean;
  min?: number;
  max?: number;
  step?: number;
  options?: () => [string, string][];
}

const MODALITIES: [string, string][] = [["image", "image"], ["video", "video"], ["audio", "audio"], ["point_cloud", "point cloud"]];
const SOURCE_MODALITIES: [string, string][] = [["text", "text"], ...MODALITIES];

interface Choices {
  datasets: Dataset[];
  spaces: Space[];
}

function sections(choices: Choices): { title: string; fields: FieldSpec[] }[] {
  return [
    { title: "Project", fields: [
      { name: "name", label: "Name", kind: "text", required: true },
      { name: "instructions", label: "Instructions for annotators", kind: "textarea" },
    ] },
    { title: "Caption pool", fields: [
      { name: "caption_datasets", label: "Datasets to draw captions from", kind: "checks", required: true,
        options: () => choices.datasets.map((d) => [String(d.id), `${d.name} (${d.captions} captions)`]) },
      { name: "caption_source_modalities", label: "Caption source modalities", kind: "checks",
        help: "none ticked: all", options: () => SOURCE_MODALITIES },
      { name: "caption_source_datasets", label: "Source dataset names", kind: "list", help: "comma-separated; empty: all" },
      { name: "sample_size", label: "Captions to sample", kind: "int", required: true, min: 1 },
      { name: "nsfw_backend", label: "NSFW filter", kind: "select",
        options: () => [["auto", "auto"], ["lexicon", "lexicon"], ["profanity", "profanity"], ["detoxify", "detoxify"], ["none", "none"]] },
      { name: "nsfw_thresholds", label: "NSFW thresholds", kind: "json", help: 'category (sexual, profanity, hate, violence_graphic) or backend label → max score kept; default 0.5 each, e.g. {"sexual": 0.3, "profanity": 1}' },
    ] },
    { title: "Curation", fields: [
      { name: "curation", label: "Hierarchical k-means before sampling", kind: "curation",
        help: "Each level clusters the centroids of the level below; the sample is drawn evenly across clusters. 0 levels: sizes from the pool (about 50 captions per cluster, each level 10 times coarser, up to 4 levels)." },
    ] },
    { title: "Candidates", fields: [
      { name: "target_modality", label: "Target modality", kind: "select", required: true, options: () => MODALITIES },
      { name: "space", label: "Embedding space", kind: "select", required: true,
        options: () => choices.spaces.map((s) => [String(s.id), `${s.name} (${s.model_name}, ${s.dim}-d, text→${s.target_modality})`]) },
      { name: "k", label: "Top k retrieved per caption", kind: "int", min: 1, max: 256 },
      { name: "candidates_per_task", label: "Candidates per task (m)", kind: "int", min: 1, max: 16 },
      { name: "item_cap", label: "Max tasks per item", kind: "int", required: true, min: 1, help: "caps heavy hitters" },
      { name: "include_failed_media", label: "Items that failed media screening", kind: "select",
        help: "corrupt files, variable frame rates… (Datasets → Media screening)",
        options: () => [["false", "left out of matching"], ["true", "matched too"]] },
      { name: "audit_share", label: "Audit share", kind: "float", min: 0, max: 1, step: 0.05,
        help: "share of tasks whose candidates are drawn uniformly from the top k (unbiased per-rank precision; no item cap)" },
      { name: "seed", label: "Random seed", kind: "int" },
    ] },
    { title: "Rating", fields: [
      { name: "annotators_per_task", label: "Annotators per task", kind: "select", options: () => [["1", "1"], ["3", "3 (consensus)"]] },
      { name: "consensus_rule", label: "Consensus rule", kind: "select", options: () => [["majority", "majority"], ["unanimous", "unanimous"]] },
      { name: "contested_route", label: "Contested pairs go to", kind: "select",
        options: () => [["adjudicate", "admin adjudication"], ["extra_annotators", "extra annotators"], ["exclude", "exclusion"]] },
      { name: "max_extra_annotators", label: "Max extra annotators", kind: "int", min: 0, max: 32767 },
      { name: "lease_seconds", label: "Lease (seconds)", kind: "int", min: 10 },
      { name: "gold_rate", label: "Gold rate", kind: "float", min: 0, max: 0.5, step: 0.01, help: "share of tasks that are gold (0–0.5)" },
      { name: "gold_pause_threshold", label: "Pause below gold accuracy", kind: "optionalFloat", min: 0, max: 1, step: 0.01, help: "empty: never pause" },
      { name: "gold_min_answers", label: "Gold answers before pausing", kind: "int", min: 0, max: 32767 },
    ] },
  ];
}

const DEFAULTS: Partial<Record<string, unknown>> = {
  instructions: "Does the candidate match the caption? good: it shows what the caption says; partial: some of it, or only roughly; bad: something else.",
  caption_datasets: [], caption_source_modalities: [], caption_source_datasets: [], sample_size: 100,
  curation: { clusters: [], resampling_steps: 2, sample_size: 10, iterations: 10, pick: "random" },
  nsfw_backend: "auto", nsfw_thresholds: {}, target_modality: "image", k: 16, candidates_per_task: 3,
  item_cap: 10, include_failed_media: false, audit_share: 0, seed: 0, annotators_per_task: 1, consensus_rule: "majority", contested_route: "adjudicate",
  max_extra_annotators: 2, lease_seconds: 600, gold_rate: 0, gold_pause_threshold: null, gold_min_answers: 5,
};

interface FieldControl {
  spec: FieldSpec;
  wrapper: HTMLElement;
  error: HTMLElement;
  read(): { value?: unknown; problem?: string };
  focus(): void;
}

export async function projectForm(root: HTMLElement, projectId?: number): Promise<void> {
  const [datasets, spaces, existing] = await Promise.all([
    getAll<Dataset>("/api/datasets/"),
    getAll<Space>("/api/spaces/"),
    projectId ? api.get<Project>(`/api/projects/${projectId}/`) : Promise.resolve(null),
  ]);
  const initial: Record<string, unknown> = { ...DEFAULTS, ...(existing ?? {}) };
  if (!existing && datasets.length === 1) initial.caption_datasets = [datasets[0].id];
  if (!existing && spaces.length) {
    initial.space = spaces[0].id;
    initial.target_modality = spaces[0].target_modality;
  }
  const controls = new Map<string, FieldControl>();
  const summary = h("div", { class: "banner error", role: "alert", hidden: true });
  const form = h("form", { novalidate: true, class: "project-form" });
  const groups = sections({ datasets, spaces }).map(({ title, fields }) =>
    h("fieldset", {}, h("legend", {}, title), fields.map((spec) => {
      const control = buildControl(spec, initial[spec.name]);
      controls.set(spec.name, control);
      return control.wrapper;
    })));
  // Choosing a space picks its modality (they must match).
  const spaceSelect = controls.get("space")!.wrapper.querySelector("select")!;
  const modalitySelect = controls.get("target_modality")!.wrapper.querySelector("select")!;
  spaceSelect.addEventListener("change", () => {
    const space = spaces.find((s) => String(s.id) === spaceSelect.value);
    if (space) modalitySelect.value = space.target_modality;
  });
  mount(form,
    summary,
    h("div", { class: "form-grid" }, groups),
    h("p", { class: "toolbar" },
      h("button", { type: "submit", class: "primary" }, existing ? "Save changes" : "Create project"),
      h("a", { href: existing ? `#/projects/${existing.id}` : "#/" }, "Cancel")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void save();
  });
  mount(root,
    h("h1", {}, existing ? `Edit ${existing.name}` : "New project"),
    !datasets.length ? h("p", { class: "banner warn" }, "No dataset yet: ", h("a", { href: "#/datasets" }, "import one"), " first.") : null,
    existing && existing.state !== "draft" ? h("p", { class: "banner warn" }, "This project has been launched; changing the caption pool or candidates only applies to a new launch.") : null,
    form);
  form.querySelector<HTMLElement>("input, select, textarea")?.focus();

  function showErrors(errors: Record<string, string[]>, message: string): void {
    for (const control of controls.values()) {
      const problems = errors[control.spec.name] ?? [];
      control.error.textContent = problems.join(" ");
      control.wrapper.classList.toggle("invalid", problems.length > 0);
    }
    const other = Object.entries(errors).filter(([name]) => !controls.has(name)).map(([, m]) => m.join(" "));
    summary.textContent = [message, ...other].join(" ");
    summary.hidden = !Object.keys(errors).length && !message;
    const first = [...controls.values()].find((c) => errors[c.spec.name]);
    (first ? first.focus() : summary.scrollIntoView());
  }

  async function save(): Promise<void> {
    const body: Record<string, unknown> = {};
    const errors: Record<string, string[]> = {};
    for (const [name, control] of controls) {
      const { value, problem } = control.read();
      if (problem) errors[name] = [problem];
      else body[name] = value;
    }
    const space = spaces.find((s) => s.id === body.space);
    if (space && body.target_modality && space.target_modality !== body.target_modality) {
      errors.target_modality = [`space ${space.name} embeds text→${space.target_modality}, not ${body.target_modality}`];
    }
    if (Number(body.candidates_per_task) > Number(body.k)) {
      errors.candidates_per_task = [`cannot choose ${body.candidates_per_task} candidates from the top ${body.k}`];
    }
    if (Object.keys(errors).length) return showErrors(errors, "Please correct the fields marked below.");
    try {
      const saved = existing
        ? await api.patch<Project>(`/api/projects/${existing.id}/`, body)
        : await api.post<Project>("/api/projects/", body);
      toast(existing ? "Saved." : "Project created.");
      location.hash = `#/projects/${saved.id}`;
    } catch (error) {
      if (error instanceof ApiError) showErrors(error.fields, error.message);
      else throw error;
    }
  }
}

function buildControl(spec: FieldSpec, value: unknown): FieldControl {
  const id = `field-${spec.name}`;
  const error = h("div", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
  const help = spec.help ? h("div", { class: "help", id: `${id}-help` }, spec.help) : null;
  const described = [help ? `${id}-help` : "", `${id}-error`].filter(Boolean).join(" ");
  let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null = null;
  let wrapper: HTMLElement;
  let read: () => { value?: unknown; problem?: string };

  if (spec.kind === "curation") return curationControl(spec, (value ?? {}) as Curation, error, help, described);

  if (spec.kind === "checks") {
    const chosen = new Set((value as unknown[] | undefined ?? []).map(String));
    const boxes = (spec.options?.() ?? []).map(([v, text]) =>
      h("label", {}, h("input", { type: "checkbox", name: spec.name, value: v, checked: chosen.has(v) }), ` ${text}`));
    wrapper = h("fieldset", { class: "field", "aria-describedby": described },
      h("legend", {}, spec.label), h("div", { class: "checks" }, boxes.length ? boxes : h("span", { class: "muted" }, "none available")), help, error);
    read = () => {
      const values = [...wrapper.querySelectorAll<HTMLInputElement>("input:checked")].map((b) => b.value);
      const isIds = spec.name === "caption_datasets";
      if (spec.required && !values.length) return { problem: "choose at least one" };
      return { value: isIds ? values.map(Number) : values };
    };
    return { spec, wrapper, error, read, focus: () => wrapper.querySelector<HTMLInputElement>("input")?.focus() };
  }

  const common = { id, name: spec.name, "aria-describedby": described, required: spec.required ?? false };
  switch (spec.kind) {
    case "textarea":
      input = h("textarea", { ...common, rows: 3 }, String(value ?? ""));
      break;
    case "json":
      input = h("textarea", { ...common, rows: 2, class: "mono", spellcheck: "false" }, JSON.stringify(value ?? {}));
      break;
    case "select":
      input = h("select", common, (spec.options?.() ?? []).map(([v, text]) => h("option", { value: v, selected: String(value) === v }, text)));
      break;
    case "list":
      input = h("input", { ...common, type: "text", value: ((value as string[]) ?? []).join(", ") });
      break;
    case "int":
    case "float":
    case "optionalFloat":
      input = h("input", { ...common, type: "number", inputmode: spec.kind === "int" ? "numeric" : "decimal",
        min: spec.min ?? false, max: spec.max ?? false, step: spec.step ?? (spec.kind === "int" ? 1 : "any"),
        value: value === null || value === undefined ? "" : String(value) });
      break;
    default:
      input = h("input", { ...common, type: "text", value: String(value ?? "") });
  }
  const field = input;
  wrapper = h("div", { class: "field" }, h("label", { for: id }, spec.label, spec.required ? " *" : ""), field, help, error);
  read = () => readValue(spec, field.value.trim());
  return { spec, wrapper, error, read, focus: () => field.focus() };
}

function readValue(spec: FieldSpec, raw: string): { value?: unknown; problem?: string } {
  if (spec.required && raw === "") return { problem: "required" };
  switch (spec.kind) {
    case "int":
    case "float":
    case "optionalFloat": {
      if (raw === "") return spec.kind === "optionalFloat" ? { value: null } : { problem: "required" };
      const number = Number(raw);
      if (!Number.isFinite(number)) return { problem: "not a number" };
      if (spec.kind === "int" && !Number.isInteger(number)) return { problem: "a whole number" };
      if (spec.min !== undefined && number < spec.min) return { problem: `at least ${spec.min}` };
      if (spec.max !== undefined && number > spec.max) return { problem: `at most ${spec.max}` };
      return { value: number };
    }
    case "json":
      try {
        const parsed = JSON.parse(raw || "{}");
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { problem: "a JSON object" };
        return { value: parsed };
      } catch {
        return { problem: "not valid JSON" };
      }
    case "list":
      return { value: raw.split(",").map((s) => s.trim()).filter(Boolean) };
    case "select":
      if (spec.name === "include_failed_media") return { value: raw === "true" };
      return { value: spec.name === "space" || spec.name === "annotators_per_task" ? Number(raw) : raw };
    default:
      return { value: raw };
  }
}

// Curation settings (the project's `curation` object, checked on the server by
// annotation/pipeline/validation.py): one field each, the same rules checked here first.
interface Curation {
  clusters?: number[];
  resampling_steps?: number;
  sample_size?: number;
  iterations?: number;
  pick?: string;
  [other: string]: unknown; // keys the form does not show (e.g. level1_init) are kept as they are
}

const CURATION_NUMBERS: { key: "resampling_steps" | "sample_size" | "iterations"; label: string; min: number; fallback: number; help: string }[] = [
  { key: "resampling_steps", label: "Resampling steps", min: 0, fallback: 2, help: "per level: re-fit on a sample of each cluster" },
  { key: "sample_size", label: "Sample size per cluster", min: 1, fallback: 10, help: "rows drawn from each cluster when resampling" },
  { key: "iterations", label: "Iterations", min: 1, fallback: 10, help: "k-means sweeps per fit" },
];

function curationControl(spec: FieldSpec, value: Curation, error: HTMLElement, help: HTMLElement | null, described: string): FieldControl {
  const id = `field-${spec.name}`;
  const clusters = value.clusters ?? [];
  const number = (name: string, current: number, min: number) =>
    h("input", { id: `${id}-${name}`, type: "number", inputmode: "numeric", min, step: 1, value: String(current), "aria-describedby": described });
  const levels = number("levels", clusters.length, 0) as HTMLInputElement;
  const counts = h("input", { id: `${id}-clusters`, type: "text", value: clusters.join(", "), placeholder: "e.g. 200, 20",
    "aria-describedby": described }) as HTMLInputElement;
  const numbers = CURATION_NUMBERS.map((n) => ({ ...n, input: number(n.key, value[n.key] ?? n.fallback, n.min) as HTMLInputElement }));
  const pick = h("select", { id: `${id}-pick`, "aria-describedby": described },
    [["random", "random"], ["closest", "closest to the centroid"]].map(([v, text]) =>
      h("option", { value: v, selected: (value.pick ?? "random") === v }, text))) as HTMLSelectElement;
  const labelled = (input: HTMLElement, label: string, note?: string) =>
    h("div", { class: "subfield" }, h("label", { for: input.id }, label), input, note ? h("div", { class: "help" }, note) : null);
  const wrapper = h("fieldset", { class: "field curation", "aria-describedby": described },
    h("legend", {}, spec.label),
    h("div", { class: "subfields" },
      labelled(levels, "Levels", "0: automatic"),
      labelled(counts, "Clusters per level", "comma-separated, lowest level first; each at most the one before"),
      numbers.map((n) => labelled(n.input, n.label, n.help)),
      labelled(pick, "Pick")),
    help, error);
  const inputs = [levels, counts, ...numbers.map((n) => n.input), pick];

  const read = (): { value?: unknown; problem?: string } => {
    inputs.forEach((input) => input.classList.remove("invalid"));
    const fail = (input: HTMLElement, problem: string) => {
      input.classList.add("invalid");
      return { problem };
    };
    const nLevels = Number(levels.value.trim() || "0");
    if (!Number.isInteger(nLevels) || nLevels < 0) return fail(levels, "Levels: a whole number, 0 or more");
    const parts = counts.value.split(",").map((s) => s.trim()).filter(Boolean);
    const perLevel = parts.map(Number);
    if (perLevel.some((c) => !Number.isInteger(c) || c < 1)) return fail(counts, "Clusters per level: positive whole numbers, comma-separated");
    if (perLevel.length !== nLevels) return fail(counts, `${nLevels} levels need ${nLevels} cluster counts, not ${perLevel.length}`);
    if (perLevel.some((c, i) => i > 0 && c > perLevel[i - 1])) return fail(counts, "each level must have at most as many clusters as the level below it");
    const result: Curation = { ...value, clusters: perLevel };
    for (const n of numbers) {
      const v = Number(n.input.value.trim());
      if (n.input.value.trim() === "" || !Number.isInteger(v)) return fail(n.input, `${n.label}: a whole number`);
      if (v < n.min) return fail(n.input, `${n.label}: at least ${n.min}`);
      result[n.key] = v;
    }
    result.pick = pick.value;
    return { value: result };
  };
  const focus = () => (inputs.find((input) => input.classList.contains("invalid")) ?? levels).focus();
  return { spec, wrapper, error, read, focus };
}
