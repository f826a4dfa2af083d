// The rating screen: one assignment at a time, keyboard first.
//
// The API holds one lease per annotator and project (next/ returns it again while it
// is live), so the next task cannot be claimed before this one is submitted. Instead
// the screen asks for it the moment the submit resolves and swaps it in without a
// loading page; ratings stay in memory until the server has taken them, so network
// failures and lease renewals never lose them.

import { ApiError, api } from "../api";
import { h, mount, toast } from "../dom";
import type { AnnotatorProject, AssignmentPayload, Flag, Label, StoredAssignment } from "../types";
import { SHORTCUTS, commandFor, type Command } from "./keys";
import { mediaView, type MediaView } from "./media";

const LABELS: { label: Label; key: string; text: string }[] = [
  { label: "good", key: "1", text: "Good" },
  { label: "partial", key: "2", text: "Partial" },
  { label: "bad", key: "3", text: "Bad" },
];

const MODALITY_NAMES: Record<string, string> = {
  image: "image", video: "video", audio: "sound", point_cloud: "3D object", text: "text",
};

interface Work {
  task: AssignmentPayload;
  labels: Map<number, Label>;
  flags: Set<Flag>;
  broken: Set<number>;
  startedAt: number;
}

interface CardParts {
  card: HTMLElement;
  media: MediaView;
  status: HTMLElement;
  buttons: Map<Label, HTMLButtonElement>;
  brokenNote: HTMLElement;
}

export class RatingScreen {
  private work: Work | null = null;
  private lastSubmitted: Work | null = null; // for undo while its lease lives
  private focus = 0;
  private busy = false;
  private submittedCount = 0;
  private cards: CardParts[] = [];
  private flagBoxes = new Map<Flag, HTMLInputElement>();
  private leaseTimer = 0;
  private leaseLabel = h("span", { class: "lease", "aria-live": "off" });
  private banner = h("div", { class: "banner", role: "alert", hidden: true });
  private body = h("div", { class: "rate-body" });
  private instructions = h("details", { class: "instructions" });
  private project: AnnotatorProject | null = null;
  private readonly onKey = (event: KeyboardEvent) => this.handleKey(event);

  constructor(private readonly root: HTMLElement, private readonly projectId: number) {}

  async start(): Promise<void> {
    mount(this.root,
      h("section", { class: "rate", "aria-labelledby": "rate-title" },
        h("div", { class: "rate-head" },
          h("a", { href: "#/", class: "back" }, "← Projects"),
          h("h1", { id: "rate-title" }, "Rating"),
          h("span", { class: "session-count muted" }),
          this.leaseLabel),
        this.banner,
        this.body));
    document.addEventListener("keydown", this.onKey);
    try {
      this.project = await api.get<AnnotatorProject>(`/api/projects/${this.projectId}/`);
      this.root.querySelector("#rate-title")!.textContent = this.project.name;
    } catch {
      /* the title is cosmetic; next/ reports real problems */
    }
    await this.loadNext();
  }

  dispose(): void {
    document.removeEventListener("keydown", this.onKey);
    window.clearInterval(this.leaseTimer);
    this.cards.forEach((c) => c.media.stop());
  }

  // ---- server calls

  private async loadNext(keep?: Work): Promise<void> {
    this.busy = true;
    try {
      const task = await api.post<AssignmentPayload | null>(`/api/projects/${this.projectId}/assignments/next/`);
      if (task === null) return this.showMessage("done", "No tasks left", "You have rated everything this project has for you. Thank you!");
      // Same assignment back (a renewed lease): keep what was entered.
      if (keep && keep.task.id === task.id) this.showTask({ ...keep, task });
      else this.showTask({ task, labels: new Map(), flags: new Set(), broken: new Set(), startedAt: performance.now() });
      if (keep && keep.task.id !== task.id) this.setBanner("warn", "Your lease had run out and the task went to someone else; here is a new one.");
    } catch (error) {
      this.showError(error, () => this.loadNext(keep));
    } finally {
      this.busy = false;
    }
  }

  private async submit(): Promise<void> {
    const work = this.work;
    if (!work || this.busy) return;
    const missing = work.task.candidates.findIndex((c) => !work.labels.has(c.id));
    if (missing >= 0) {
      this.setFocus(missing);
      toast(`Rate candidate ${missing + 1} first.`, "error");
      return;
    }
    if (this.leaseRemaining(work) <= 0) return this.renew();
    this.busy = true;
    this.body.classList.add("saving");
    const body = {
      ratings: work.task.candidates.map((c) => ({ candidate: c.id, label: work.labels.get(c.id)! })),
      flags: [...work.flags].sort(),
      seconds: Math.min(86399, Math.round((performance.now() - work.startedAt) / 100) / 10),
    };
    try {
      await api.post<StoredAssignment>(`/api/assignments/${work.task.id}/submit/`, body);
    } catch (error) {
      this.busy = false;
      this.body.classList.remove("saving");
      if (error instanceof ApiError && error.code === "lease_expired") {
        return this.showMessage("expired", "Lease expired",
          "This task's lease ran out before the submit arrived, so it was given back to the pool.", true);
      }
      if (error instanceof ApiError && error.isNetwork) {
        return this.setBanner("error", "Network error: the ratings were not saved yet. They are kept here.",
          { text: "Retry submit", run: () => this.submit() });
      }
      return this.setBanner("error", errorText(error));
    }
    this.submittedCount += 1;
    this.lastSubmitted = work;
    this.body.classList.remove("saving");
    this.busy = false;
    await this.loadNext();
  }

  private async skip(): Promise<void> {
    const work = this.work;
    if (!work || this.busy) return;
    this.busy = true;
    try {
      await api.post(`/api/assignments/${work.task.id}/skip/`);
      toast("Skipped.");
    } catch (error) {
      this.busy = false;
      return this.setBanner("error", errorText(error), { text: "Retry skip", run: () => this.skip() });
    }
    this.busy = false;
    await this.loadNext();
  }

  private async undo(): Promise<void> {
    const last = this.lastSubmitted;
    if (this.busy) return;
    if (!last) return toast("Nothing to undo.", "error");
    this.busy = true;
    try {
      const reopened = await api.post<StoredAssignment>(`/api/assignments/${last.task.id}/undo/`);
      this.lastSubmitted = null;
      this.submittedCount = Math.max(0, this.submittedCount - 1);
      // The lease is unchanged by undo; the task that was showing stays leased and comes back after.
      this.showTask({ ...last, task: { ...last.task, lease_expires: reopened.leased_until }, startedAt: performance.now() });
      toast("Last submission reopened; change it and submit again.");
    } catch (error) {
      const text = error instanceof ApiError && error.code === "lease_expired"
        ? "Too late to undo: that task's lease has run out." : errorText(error);
      this.setBanner("error", text);
    } finally {
      this.busy = false;
    }
  }

  /** After the lease ran out: next/ hands the same assignment back, renewed, unless someone took it. */
  private renew(): Promise<void> {
    return this.loadNext(this.work ?? undefined);
  }

  // ---- rendering

  private showTask(work: Work): void {
    this.cards.forEach((c) => c.media.stop());
    this.work = work;
    this.clearBanner();
    const task = work.task;
    this.cards = task.candidates.map((_, index) => this.buildCard(work, index));
    this.instructions = h("details", { class: "instructions" },
      h("summary", {}, "Instructions ", h("kbd", {}, "I")),
      h("p", {}, task.instructions || this.project?.instructions || "Rate how well each candidate matches the caption."),
      h("ul", {},
        h("li", {}, h("strong", {}, "Good"), ": the media shows what the caption says."),
        h("li", {}, h("strong", {}, "Partial"), ": some of it, or only roughly."),
        h("li", {}, h("strong", {}, "Bad"), ": something else.")));
    this.flagBoxes = new Map();
    const flagControl = (flag: Flag, text: string, key: string) => {
      const box = h("input", { type: "checkbox", id: `flag-${flag}`, checked: work.flags.has(flag),
        onchange: () => this.setFlag(flag, box.checked) });
      this.flagBoxes.set(flag, box);
      return h("label", { class: "flag", for: `flag-${flag}` }, box, ` ${text} `, h("kbd", {}, key));
    };
    const paired = task.paired_item
      ? h("figure", { class: "paired" },
          mediaView(task.paired_item, "the caption's original media", () => {}, true).element,
          h("figcaption", { class: "muted" }, "original media, for context"))
      : null;
    mount(this.body,
      h("div", { class: "caption-row" },
        h("div", { class: "caption" },
          h("div", { class: "kicker" }, `Caption · from ${MODALITY_NAMES[task.caption.source_modality] ?? task.caption.source_modality}`),
          h("p", { class: "caption-text", id: "caption-text" }, task.caption.text)),
        paired),
      this.instructions,
      h("div", { class: "candidates", dataset: { assignment: String(task.id) }, style: `--n:${Math.min(task.candidates.length, 4)}` },
        this.cards.map((c) => c.card)),
      h("div", { class: "actions" },
        flagControl("caption_unclear", "Caption unclear", "C"),
        flagControl("media_broken", "Media broken", "M"),
        h("span", { class: "spacer" }),
        h("button", { type: "button", onclick: () => this.undo(), disabled: !this.lastSubmitted }, "Undo last ", h("kbd", {}, "U")),
        h("button", { type: "button", onclick: () => this.skip() }, "Skip ", h("kbd", {}, "S")),
        h("button", { type: "button", class: "primary", id: "submit", onclick: () => this.submit() }, "Submit ", h("kbd", {}, "Enter"))),
      shortcutLegend());
    this.root.querySelector(".session-count")!.textContent = this.submittedCount ? `${this.submittedCount} submitted this session` : "";
    const firstOpen = task.candidates.findIndex((c) => !work.labels.has(c.id));
    this.setFocus(firstOpen >= 0 ? firstOpen : 0);
    this.refreshAll();
    this.startLeaseClock();
  }

  private buildCard(work: Work, index: number): CardParts {
    const candidate = work.task.candidates[index];
    const name = `Candidate ${index + 1}`;
    const media = mediaView(candidate, `${name}, ${MODALITY_NAMES[candidate.modality] ?? candidate.modality}`,
      () => this.markBroken(candidate.id));
    const buttons = new Map<Label, HTMLButtonElement>();
    const group = h("div", { class: "label-buttons", role: "radiogroup", "aria-label": `Rating for ${name.toLowerCase()}` },
      LABELS.map(({ label, key, text }) => {
        const button = h("button", { type: "button", role: "radio", class: `label-${label}`, "aria-checked": "false",
          onclick: () => this.rate(index, label, false) }, h("kbd", {}, key), ` ${text}`);
        buttons.set(label, button);
        return button;
      }));
    const brokenNote = h("div", { class: "broken-note", hidden: true },
      "This media failed to load. ",
      h("button", { type: "button", class: "link", onclick: () => this.setFlag("media_broken", true) }, "Flag media broken"));
    const status = h("span", { class: "status" });
    const card = h("article", { class: "card", tabindex: "0", "aria-label": name, dataset: { index: String(index) },
      onfocusin: () => this.setFocus(index, false), onclick: () => this.setFocus(index, false) },
      h("header", {}, h("span", { class: "slot" }, index + 1), ` ${MODALITY_NAMES[candidate.modality] ?? ""}`, status),
      media.element, brokenNote, group);
    return { card, media, status, buttons, brokenNote };
  }

  private refreshAll(): void {
    const work = this.work;
    if (!work) return;
    this.cards.forEach((parts, index) => {
      const candidate = work.task.candidates[index];
      const label = work.labels.get(candidate.id);
      parts.card.classList.toggle("focused", index === this.focus);
      parts.card.dataset.label = label ?? "";
      parts.status.textContent = label ? ` · ${label}` : " · not rated";
      for (const [value, button] of parts.buttons) button.setAttribute("aria-checked", String(value === label));
      parts.brokenNote.hidden = !work.broken.has(candidate.id);
    });
    for (const [flag, box] of this.flagBoxes) box.checked = work.flags.has(flag);
    const done = work.task.candidates.every((c) => work.labels.has(c.id));
    this.root.querySelector<HTMLButtonElement>("#submit")?.classList.toggle("ready", done);
  }

  private setFocus(index: number, moveDomFocus = true): void {
    if (!this.cards.length) return;
    this.focus = Math.max(0, Math.min(index, this.cards.length - 1));
    if (moveDomFocus) {
      const card = this.cards[this.focus].card;
      if (!card.contains(document.activeElement)) card.focus({ preventScroll: false });
    }
    this.refreshAll();
  }

  private rate(index: number, label: Label, advance = true): void {
    const work = this.work;
    if (!work) return;
    work.labels.set(work.task.candidates[index].id, label);
    const nextOpen = work.task.candidates.findIndex((c, i) => i > index && !work.labels.has(c.id));
    if (advance && nextOpen >= 0) this.setFocus(nextOpen);
    else if (advance && index < this.cards.length - 1) this.setFocus(index + 1);
    else this.setFocus(index, advance);
  }

  private setFlag(flag: Flag, on: boolean): void {
    if (!this.work) return;
    if (on) this.work.flags.add(flag);
    else this.work.flags.delete(flag);
    this.refreshAll();
  }

  private markBroken(candidateId: number): void {
    this.work?.broken.add(candidateId);
    this.refreshAll();
  }

  private startLeaseClock(): void {
    window.clearInterval(this.leaseTimer);
    const tick = () => {
      if (!this.work) return;
      const left = this.leaseRemaining(this.work);
      if (left <= 0) {
        this.leaseLabel.textContent = "lease expired";
        this.leaseLabel.className = "lease expired";
        window.clearInterval(this.leaseTimer);
        this.setBanner("warn", "Your lease on this task has expired. Renew it to keep your ratings (unless someone else took the task).",
          { text: "Renew lease", run: () => this.renew() });
        return;
      }
      const minutes = Math.floor(left / 60000);
      const seconds = Math.floor((left % 60000) / 1000);
      this.leaseLabel.textContent = `lease ${minutes}:${String(seconds).padStart(2, "0")}`;
      this.leaseLabel.className = left < 60000 ? "lease soon" : "lease";
    };
    tick();
    this.leaseTimer = window.setInterval(tick, 1000);
  }

  private leaseRemaining(work: Work): number {
    return new Date(work.task.lease_expires).getTime() - Date.now();
  }

  // ---- states

  private setBanner(kind: "error" | "warn", text: string, action?: { text: string; run: () => unknown }): void {
    mount(this.banner, h("span", {}, text),
      action ? h("button", { type: "button", class: "primary", onclick: () => { this.clearBanner(); void action.run(); } }, action.text) : null);
    this.banner.className = `banner ${kind}`;
    this.banner.hidden = false;
    this.banner.querySelector("button")?.focus();
  }

  private clearBanner(): void {
    this.banner.hidden = true;
    this.banner.replaceChildren();
  }

  private showError(error: unknown, retry: () => unknown): void {
    if (error instanceof ApiError) {
      if (error.code === "project_not_ready") return this.showMessage("not-ready", "Not ready yet", "This project is still being prepared. Try again in a moment.", true);
      if (error.code === "member_paused") return this.showMessage("paused", "Paused", "An admin (or the gold check) paused your work on this project. Ask an admin to unpause you.");
      if (error.code === "not_a_member" || error.status === 404) return this.showMessage("no-access", "Not your project", "You are not an annotator of this project.");
    }
    if (this.work) {
      this.setBanner("error", "Network error while loading the next task.", { text: "Retry", run: retry });
    } else {
      this.showMessage("error", "Could not load a task", errorText(error), true, retry);
    }
  }

  private showMessage(state: string, title: string, text: string, withNext = false, retry?: () => unknown): void {
    this.cards.forEach((c) => c.media.stop());
    this.work = null;
    this.cards = [];
    window.clearInterval(this.leaseTimer);
    this.leaseLabel.textContent = "";
    this.clearBanner();
    const again = withNext
      ? h("button", { type: "button", class: "primary", onclick: () => (retry ? retry() : this.loadNext()) }, retry ? "Retry" : "Get a task")
      : null;
    mount(this.body,
      h("div", { class: `message state-${state}`, dataset: { state } },
        h("h2", {}, title), h("p", {}, text),
        h("p", {}, again, " ", h("a", { href: "#/" }, "Back to projects")),
        this.lastSubmitted ? h("p", { class: "muted" }, "Changed your mind? ", h("button", { type: "button", class: "link", onclick: () => this.undo() }, "Undo the last submission"), " (U)") : null));
    this.body.querySelector<HTMLElement>("button.primary, a")?.focus();
  }

  // ---- keyboard

  private handleKey(event: KeyboardEvent): void {
    if (document.querySelector("dialog[open]")) return;
    const command = commandFor(event);
    if (!command) return;
    const target = event.target as HTMLElement;
    // Enter and Space keep their usual meaning on links and on the banner/message buttons.
    if ((command === "submit" || command === "play") && target.closest("a, .banner, .message, .actions, .instructions, .broken-note")) return;
    if (!this.work && command !== "undo") return;
    event.preventDefault();
    this.run(command);
  }

  private run(command: Command): void {
    const focused = this.cards[this.focus];
    switch (command) {
      case "good":
      case "partial":
      case "bad":
        return this.rate(this.focus, command);
      case "prev":
        return this.setFocus(this.focus - 1);
      case "next":
        return this.setFocus(this.focus + 1);
      case "submit":
        return void this.submit();
      case "skip":
        return void this.skip();
      case "undo":
        return void this.undo();
      case "play":
        return focused?.media.togglePlay();
      case "replay":
        return focused?.media.replay();
      case "zoom":
        return focused?.media.zoom();
      case "view3d":
        return focused?.media.view3d?.();
      case "captionUnclear":
        return this.setFlag("caption_unclear", !this.work?.flags.has("caption_unclear"));
      case "mediaBroken":
        return this.setFlag("media_broken", !this.work?.flags.has("media_broken"));
      case "instructions":
        this.instructions.open = !this.instructions.open;
        return;
    }
  }
}

function shortcutLegend(): HTMLElement {
  return h("aside", { class: "shortcuts", "aria-label": "Keyboard shortcuts" },
    h("strong", {}, "Keys: "),
    SHORTCUTS.filter((s) => s.shown).map((s) => h("span", {}, h("kbd", {}, s.shown), ` ${s.what}`)),
    h("span", {}, h("kbd", {}, "Tab"), " move between controls"));
}

function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.isNetwork ? "The server could not be reached. Check the connection and retry." : error.message;
  return String(error);
}

