// Admins' start page: every project with its state.

import { getAll } from "../api";
import { h, mount } from "../dom";
import type { Project } from "../types";
import { pill, table, when } from "./common";

export async function adminProjects(root: HTMLElement): Promise<void> {
  const projects = await getAll<Project>("/api/projects/");
  mount(root,
    h("div", { class: "toolbar" },
      h("h1", {}, "Projects"),
      h("a", { class: "button primary", href: "#/projects/new" }, "New project")),
    projects.length
      ? table("Projects", ["Name", "State", "Target", "Captions", "Annotators per task", "Created"],
          projects.map((p) => [
            h("a", { href: `#/projects/${p.id}` }, p.name),
            pill(p.state),
            p.target_modality.replace("_", " "),
            String(p.sample_size),
            String(p.annotators_per_task),
            when(p.created_at),
          ]), [3, 4])
      : h("p", { class: "muted" }, "No project yet. Import a dataset, then create a project."));
}
