// The rating screen's shortcuts: one table drives both the handler and the on-screen legend.

export type Command =
  | "good" | "partial" | "bad" | "prev" | "next" | "submit" | "skip" | "undo" | "play" | "replay"
  | "zoom" | "view3d" | "captionUnclear" | "mediaBroken" | "instructions";

export const SHORTCUTS: { keys: string[]; shown: string; command: Command; what: string }[] = [
  { keys: ["1", "g"], shown: "1 / G", command: "good", what: "good" },
  { keys: ["2", "p"], shown: "2 / P", command: "partial", what: "partial" },
  { keys: ["3", "b"], shown: "3 / B", command: "bad", what: "bad" },
  { keys: ["ArrowLeft", "ArrowUp"], shown: "← →", command: "prev", what: "previous / next candidate" },
  { keys: ["ArrowRight", "ArrowDown"], shown: "", command: "next", what: "" },
  { keys: ["Enter"], shown: "Enter", command: "submit", what: "submit" },
  { keys: ["s"], shown: "S", command: "skip", what: "skip task" },
  { keys: ["u"], shown: "U", command: "undo", what: "undo last submission" },
  { keys: [" "], shown: "Space", command: "play", what: "play / pause" },
  { keys: ["r"], shown: "R", command: "replay", what: "replay" },
  { keys: ["z"], shown: "Z", command: "zoom", what: "zoom" },
  { keys: ["v"], shown: "V", command: "view3d", what: "3D view (point clouds)" },
  { keys: ["c"], shown: "C", command: "captionUnclear", what: "flag caption unclear" },
  { keys: ["m"], shown: "M", command: "mediaBroken", what: "flag media broken" },
  { keys: ["i", "?"], shown: "I", command: "instructions", what: "instructions" },
];

const BY_KEY = new Map<string, Command>();
for (const shortcut of SHORTCUTS) for (const key of shortcut.keys) BY_KEY.set(key.toLowerCase(), shortcut.command);

/** The command for a key press, or null (modifier chords and typing in fields are left alone). */
export function commandFor(event: KeyboardEvent): Command | null {
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  const target = event.target as HTMLElement | null;
  if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return null;
  return BY_KEY.get(event.key.toLowerCase()) ?? null;
}
