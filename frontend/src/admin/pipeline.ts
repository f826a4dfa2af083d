// The launch pipeline, live: stages with progress, counts and errors; launch, cancel, retry.

import { ApiError, api } from "../api";
import { h, mount, toast } from "../dom";
import type { Pipeline, Project, Stage } from "../types";
import { Poller, pill, progressBar, table, when } from "./common";

export async function pipelineTab(root: HTMLElement, project: Project) {
  const url = (action: string) => `/api/projects/${project.id}/${action}/`;
  const problems = h("div", { class: "banner error", role: "alert", hidden: true });
  const view = h("div", { "aria-live": "polite" });
  let poller: Poller | null = null;

  const render = (pipeline: Pipeline) => {
    const state = pipeline.state;
    document.querySelector("#app .toolbar h1 .pill")?.replaceWith(pill(state)); // the page header's state
    const actions = [
      state === "draft" ? h("button", { type: "button", class: "primary", id: "launch", onclick: () => act("launch") }, "Launch") : null,
      state === "launching" ? h("button", { type: "button", class: "danger", onclick: () => act("cancel") }, "Cancel") : null,
      state === "failed" || state === "cancelled" ? h("button", { type: "button", class: "primary", onclick: () => act("retry") }, "Retry") : null,
    ];
    mount(view,
      h("div", { class: "toolbar" },
        h("p", { id: "pipeline-state", "data-state": state }, "Pipeline ", pill(state), ` · ${pipeline.tasks} tasks`,
          pipeline.launched_at ? ` · launched ${when(pipeline.launched_at)}` : ""),
        actions),
      pipeline.stages.length
        ? table("Pipeline stages", ["#", "Stage", "State", "Progress", "Counts", "Attempts", "Started", "Finished"],
            pipeline.stages.map((stage) => stageRow(stage)), [0, 5])
        : h("p", { class: "muted" }, state === "draft" ? "Not launched yet. Launch runs curation, the NSFW filter, retrieval, de-duplication, task creation and derived media." : "No stages."),
      state === "ready" ? h("p", {}, "Ready: annotators can rate. See the ", h("a", { href: `#/projects/${project.id}/dashboard` }, "dashboard"), ".") : null);
  };

  const refresh = async (): Promise<boolean> => {
    const pipeline = await api.get<Pipeline>(url("pipeline"));
    render(pipeline);
    return pipeline.state === "launching"; // keep polling while it runs
  };

  const act = async (action: string) => {
    problems.hidden = true;
    try {
      const pipeline = await api.post<Pipeline>(url(action));
      render(pipeline);
      toast(`${action[0].toUpperCase()}${action.slice(1)} requested.`);
      poller?.stop();
      poller = new Poller(refresh, 1000).start();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const fields = Object.entries(error.fields);
      mount(problems, h("strong", {}, error.message),
        fields.length ? h("ul", {}, fields.map(([name, messages]) => h("li", {}, h("code", {}, name), ": ", messages.join(" ")))) : null,
        fields.length ? h("a", { href: `#/projects/${project.id}/edit` }, "Edit the settings") : null);
      problems.hidden = false;
    }
  };

  mount(root, problems, view);
  poller = new Poller(refresh, 1000).start();
  return { dispose: () => poller?.stop() };
}

function stageRow(stage: Stage): (Node | string)[] {
  const counts = Object.entries(stage.counts ?? {})
    .filter(([, v]) => typeof v !== "object")
    .map(([k, v]) => `${k}: ${v}`).join(", ");
  return [
    String(stage.order),
    h("span", {}, stage.name, stage.error ? h("pre", { class: "stage-error" }, stage.error) : null),
    pill(stage.state),
    h("span", {}, progressBar(stage.progress, `${stage.name} progress`), ` ${Math.round((stage.progress || 0) * 100)}%`),
    counts || "–",
    String(stage.attempts),
    when(stage.started_at),
    when(stage.finished_at),
  ];
}
