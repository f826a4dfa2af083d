// Project members: add annotators by username, pause and unpause them.

import { ApiError, api } from "../api";
import { fmtPercent, h, mount, toast } from "../dom";
import type { Member, Project } from "../types";
import { table, when } from "./common";

export async function membersTab(root: HTMLElement, project: Project) {
  const base = `/api/projects/${project.id}/members/`;
  const list = h("div");
  const error = h("p", { class: "field-error", id: "members-error", "aria-live": "polite" });
  const input = h("input", { id: "add-usernames", name: "usernames", placeholder: "annotator1, annotator2", "aria-describedby": "members-error", size: 40 });

  const render = (members: Member[]) => mount(list, members.length
    ? table("Members", ["Annotator", "Status", "Tasks served", "Gold answered", "Gold accuracy", "Added", ""],
        members.map((m) => [m.username, m.paused ? `paused${m.paused_reason ? ` (${m.paused_reason})` : ""}` : "active",
          String(m.served), String(m.gold_answered), fmtPercent(m.gold_accuracy), when(m.added_at),
          h("button", { type: "button", onclick: () => change(m.paused ? "unpause" : "pause", [m.username]) }, m.paused ? "Unpause" : "Pause")]),
        [2, 3, 4])
    : h("p", { class: "muted" }, "No annotators yet."));

  const change = async (action: "add" | "pause" | "unpause", usernames: string[]) => {
    error.textContent = "";
    try {
      const url = action === "add" ? base : `${base}${action}/`;
      render(await api.post<Member[]>(url, { usernames }));
      if (action === "add") {
        input.value = "";
        toast(`Added ${usernames.join(", ")}.`);
      }
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      error.textContent = e.fields.usernames?.join(" ") ?? e.message;
    }
  };

  const form = h("form", { class: "inline-form" },
    h("div", { class: "field" }, h("label", { for: "add-usernames" }, "Add annotators (usernames, comma-separated)"), input),
    h("button", { type: "submit", class: "primary" }, "Add"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const names = input.value.split(/[\s,]+/).filter(Boolean);
    if (!names.length) {
      error.textContent = "Enter at least one username.";
      return;
    }
    void change("add", names);
  });
  mount(root, form, error, list);
  render(await api.get<Member[]>(base));
  return {};
}
