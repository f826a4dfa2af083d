// The annotator's start page: their projects with their own progress.

import { getAll } from "../api";
import { h, mount } from "../dom";
import type { AnnotatorProject } from "../types";

export async function annotatorProjects(root: HTMLElement): Promise<void> {
  const projects = await getAll<AnnotatorProject>("/api/projects/");
  const rows = projects.map((p) => {
    p.my_progress ??= { submitted: 0, paused: false }; // admins' project rows have no progress
    const progress = p.my_progress!;
    const ready = p.state === "ready" && !progress.paused;
    const status = progress.paused ? "paused" : p.state === "ready" ? "open" : p.state;
    return h("li", { class: "project-card" },
      h("div", {},
        h("h2", {}, p.name),
        h("p", { class: "muted" }, `${p.target_modality.replace("_", " ")} · ${p.annotators_per_task} annotator(s) per task · ${status}`),
        h("p", {}, h("strong", {}, String(progress.submitted)), " tasks submitted by you")),
      ready
        ? h("a", { class: "button primary", href: `#/rate/${p.id}` }, "Start rating")
        : h("span", { class: "muted" }, progress.paused ? "Paused by an admin" : "Not open yet"));
  });
  mount(root,
    h("h1", {}, "Your projects"),
    projects.length
      ? h("ul", { class: "project-list" }, rows)
      : h("p", { class: "muted" }, "You are not an annotator of any project yet. An admin adds you to projects."));
  root.querySelector<HTMLElement>("a.button")?.focus();
}
