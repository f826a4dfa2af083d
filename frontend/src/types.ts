// Shapes of the REST API's answers (docs/api.md). Most come from the OpenAPI schema:
// api-schema.d.ts is generated (`npm run api-types`; tests/test_openapi_types.py checks it
// is current). Answers carry every field, so fields optional in requests are Required
// here; JSON fields, which the schema types as `unknown`, get their shapes below.

import type { components } from "./api-schema";

type Schemas = components["schemas"];
type Answer<T> = Required<T>;

export type Label = Schemas["LabelEnum"];
export type Flag = Schemas["FlagsEnum"];
export type Modality = Schemas["ModalityEnum"] | "text";

export type Dataset = Answer<Schemas["Dataset"]>;
export type Space = Answer<Schemas["EmbeddingSpace"]>;
export type Member = Answer<Schemas["Member"]>;
export type Stage = Omit<Answer<Schemas["Stage"]>, "history"> & { history: Record<string, unknown>[] };
export type Pipeline = Omit<Schemas["Pipeline"], "stages"> & { stages: Stage[] };
export type ImportRun = Omit<Schemas["ImportRun"], "counts" | "errors"> &
  { counts: Record<string, unknown>; errors: ImportError[] | Record<string, unknown> };
export type ExportRun = Omit<Answer<Schemas["ExportRun"]>, "filters" | "options"> &
  { filters: Record<string, unknown>; options: Record<string, unknown> };
export type ScreeningRun = Omit<Answer<Schemas["ScreeningRun"]>, "counts"> & { counts: Record<string, number> };
export type Screening = Omit<Schemas["Screening"], "run" | "failed"> &
  { run: ScreeningRun | null; failed: Answer<Schemas["FailedItem"]>[] };
export type AnnotatorProject = Omit<Answer<Schemas["AnnotatorProject"]>, "my_progress"> &
  { my_progress?: { submitted: number; paused: boolean } };
export type PairResult = Omit<Answer<Schemas["PairResult"]>, "votes" | "media" | "item_modality"> & {
  votes: Record<string, number> | string[];
  item_modality: Modality;
  media?: MediaPayload; // the item as annotators saw it (renders, poster, waveform)
};
export type Project = Omit<Answer<Schemas["Project"]>,
  "caption_source_modalities" | "caption_source_datasets" | "curation" | "nsfw_thresholds"> & {
  caption_source_modalities: string[];
  caption_source_datasets: string[];
  curation: Record<string, unknown>;
  nsfw_thresholds: Record<string, number>;
};

export interface MediaPayload {
  modality: Modality;
  media_url: string;
  renders?: { views?: string[]; sheet?: string; points?: string }; // point clouds (points: .npy for the 3D view)
  poster?: string; // video
  preview?: string; // video
  waveform?: string; // audio
}

export interface Candidate extends MediaPayload {
  id: number;
  slot: number;
}

export interface AssignmentPayload {
  id: number;
  project: number;
  state: string;
  lease_expires: string;
  instructions: string;
  caption: { text: string; source_modality: string };
  paired_item: MediaPayload | null;
  candidates: Candidate[];
  labels: Label[];
  flags: Flag[];
}

export interface StoredAssignment {
  id: number;
  project: number;
  state: string;
  leased_until: string;
  submitted_at: string | null;
  ratings: { candidate: number; label: Label }[];
  flags: Flag[];
}

export interface Agreement {
  units: number;
  raw_agreement: number | null;
  fleiss_kappa: number | null;
  krippendorff_alpha: number | null;
}

export interface AnnotatorStats {
  username: string;
  paused: boolean;
  paused_reason: string;
  tasks_submitted: number;
  median_seconds: number | null;
  gold_answered: number;
  gold_accuracy: number | null;
  agreement_with_consensus: number | null;
}

export interface Stats {
  progress: {
    tasks: number;
    started: number;
    complete: number;
    gold_tasks: number;
    assignments: Record<string, number>;
  };
  labels: Record<string, { ratings: Record<string, number>; results: Record<string, number> }>;
  agreement: { overall: Agreement; by_modality_pair: Record<string, Agreement> };
  annotators: AnnotatorStats[];
}

export interface ImportError {
  file?: string;
  line?: number;
  column?: string | number;
  message?: string;
  [key: string]: unknown;
}

// ---- insights (GET /api/projects/<id>/insights/) ----

export interface InsightsPrecisionRow {
  sample: "rated" | "audit";
  scope: "overall" | "modality_pair" | "rank" | "similarity_bin";
  group: string;
  label: "good" | "good_or_partial";
  estimate: number | null;
  low: number | null;
  high: number | null;
  pairs: number;
  captions: number;
  rests_on_audit: boolean;
}

export interface InsightsCalibration {
  modality_pair: string;
  label: string;
  pairs: number;
  audit_pairs: number;
  model: { method: string } & Record<string, unknown>;
  curve: { similarity: number; rank: number; predicted: number | null }[];
  reliability: { bin_low: number; bin_high: number; predicted: number | null; observed: number | null; low: number | null; high: number | null; pairs: number }[];
  threshold: {
    target: number;
    recommended: number | null;
    sample: "rated" | "audit";
    rests_on_audit: boolean;
    curve: { threshold: number; precision: number | null; lower: number | null; pairs: number }[];
  };
}

export interface DriftFlags {
  tasks: number;
  crowd: number | null;
  own_baseline: number | null;
  own_flag_at: number | null;
  crowd_baseline: number | null;
  crowd_flag_at: number | null;
  flag_at: number | null;
  flagged_at_time: number | null;
}

export interface DriftWindow {
  username: string;
  window: number;
  start: number;
  ratings: number;
  median_seconds: number | null;
  gold_accuracy?: number | null;
  agreement_with_consensus?: number | null;
  [key: string]: string | number | null | undefined;
}

export interface Insights {
  project: number;
  pairs: number;
  audit_pairs: number;
  audit_share: number;
  n_boot: number;
  level: number;
  precision: InsightsPrecisionRow[];
  calibration: InsightsCalibration[];
  drift: { window_seconds: number; annotators: { username: string; suggest_pause: boolean; flags: Record<string, DriftFlags> }[]; windows: DriftWindow[] };
  position_bias: { slots: { slot: number; pairs: number; share_good: number | null; standardised_share_good: number | null }[]; chi2: number | null; dof: number; p_value: number | null };
  throughput: { buckets: { start: number; count: number; per_hour: number | null }[]; rate_per_hour: number | null; remaining: number; eta_hours: number | null };
}

export type GroupsBuild = Answer<Schemas["GroupsBuild"]>;

export interface CleanedModality {
  project: number;
  project_name: string;
  threshold: number | null;
  pairs_kept: number;
  pairs_total: number;
  captions_kept: number;
  captions_total: number;
  cleaned: boolean;
}

export type CleaningRun = Omit<Answer<Schemas["CleaningRun"]>, "manifest"> & {
  manifest: { build: number; k: number; modalities: Record<string, CleanedModality>; left_out: string[];
    files: Record<string, { bytes: number; sha256: string; rows: number }> } | null;
};
