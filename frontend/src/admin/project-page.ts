// One project for admins: a header, then tabs for the pipeline, dashboard, members,
// contested pairs and exports (#/projects/<id>/<tab>).

import { api } from "../api";
import { h, mount } from "../dom";
import type { Project } from "../types";
import { pill } from "./common";
import { contestedTab } from "./contested";
import { dashboardTab } from "./dashboard";
import { exportsTab } from "./exports";
import { membersTab } from "./members";
import { pipelineTab } from "./pipeline";

export interface Tab {
  dispose?(): void;
}

const TABS: [string, string, (root: HTMLElement, project: Project) => Promise<Tab>][] = [
  ["pipeline", "Pipeline", pipelineTab],
  ["dashboard", "Dashboard", dashboardTab],
  ["members", "Members", membersTab],
  ["contested", "Contested pairs", contestedTab],
  ["exports", "Exports", exportsTab],
];

export async function projectPage(root: HTMLElement, id: number, tabName: string): Promise<Tab> {
  const project = await api.get<Project>(`/api/projects/${id}/`);
  const tab = TABS.find(([name]) => name === tabName) ?? TABS[0];
  const body = h("div", { class: "tab-body" });
  mount(root,
    h("div", { class: "toolbar" },
      h("h1", {}, project.name, " ", pill(project.state)),
      h("a", { class: "button", href: `#/projects/${id}/edit` }, "Edit settings")),
    h("nav", { class: "tabs", "aria-label": "Project sections" },
      TABS.map(([name, text]) => h("a", { href: `#/projects/${id}/${name}`, "aria-current": name === tab[0] ? "page" : false }, text))),
    body);
  return tab[2](body, project);
}
