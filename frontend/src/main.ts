// Entry point: reads who is logged in, then routes on the URL hash.
//   #/               annotators: their projects; admins: all projects
//   #/rate/<id>      the rating screen
//   #/projects/new   admins: create a project
//   #/projects/<id>  admins: pipeline, dashboard, members, contested pairs, exports
//   #/datasets       admins: datasets and imports

import "./style.css";
import { ApiError } from "./api";
import { h, mount } from "./dom";
import { annotatorProjects } from "./annotator/projects";
import { RatingScreen } from "./annotator/rating";
import { adminProjects } from "./admin/projects";
import { projectForm } from "./admin/project-form";
import { projectPage } from "./admin/project-page";
import { datasetsPage } from "./admin/datasets";

interface Config {
  username: string;
  isAdmin: boolean;
}

export interface Screen {
  dispose?(): void;
}

const config: Config = JSON.parse(document.getElementById("pairrate-config")!.textContent || "{}");
const root = document.getElementById("app")!;
let current: Screen | null = null;

function navigation(): void {
  const links: [string, string][] = config.isAdmin
    ? [["#/", "Projects"], ["#/datasets", "Datasets"], ["#/rate", "Rate"]]
    : [["#/", "My projects"]];
  const here = location.hash || "#/";
  mount(document.getElementById("nav")!,
    links.map(([href, text]) => h("a", { href, "aria-current": here === href || (href !== "#/" && here.startsWith(href)) ? "page" : false }, text)));
}

async function route(): Promise<void> {
  current?.dispose?.();
  current = null;
  navigation();
  const path = (location.hash.replace(/^#/, "") || "/").split("/").filter(Boolean);
  try {
    if (path[0] === "rate" && path[1]) {
      const screen = new RatingScreen(root, Number(path[1]));
      current = screen;
      await screen.start();
    } else if (path[0] === "rate" || !config.isAdmin) {
      await annotatorProjects(root);
    } else if (path[0] === "projects" && path[1] === "new") {
      await projectForm(root);
    } else if (path[0] === "projects" && path[1] && path[2] === "edit") {
      await projectForm(root, Number(path[1]));
    } else if (path[0] === "projects" && path[1]) {
      current = await projectPage(root, Number(path[1]), path[2] ?? "pipeline");
    } else if (path[0] === "datasets") {
      current = await datasetsPage(root);
    } else {
      await adminProjects(root);
    }
  } catch (error) {
    const text = error instanceof ApiError ? error.message : String(error);
    mount(root, h("div", { class: "message state-error" }, h("h1", {}, "Something went wrong"), h("p", {}, text),
      h("button", { type: "button", class: "primary", onclick: () => void route() }, "Retry")));
  }
}

window.addEventListener("hashchange", () => void route());
void route();
