// Shapes of the REST API's answers (docs/api.md).

export type Label = "good" | "partial" | "bad";
export type Flag = "caption_unclear" | "media_broken";
export type Modality = "image" | "video" | "audio" | "point_cloud" | "text";

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

export interface AnnotatorProject {
  id: number;
  name: string;
  instructions: string;
  state: string;
  target_modality: Modality;
  annotators_per_task: number;
  lease_seconds: number;
  my_progress?: { submitted: number; paused: boolean };
}

export interface Project {
  id: number;
  name: string;
  instructions: string;
  state: string;
  launched_at: string | null;
  created_at: string;
  caption_datasets: number[];
  caption_source_modalities: string[];
  caption_source_datasets: string[];
  target_modality: Modality;
  space: number;
  sample_size: number;
  curation: Record<string, unknown>;
  nsfw_backend: string;
  nsfw_thresholds: Record<string, number>;
  k: number;
  candidates_per_task: number;
  item_cap: number;
  annotators_per_task: number;
  consensus_rule: string;
  contested_route: string;
  max_extra_annotators: number;
  lease_seconds: number;
  gold_rate: number;
  gold_pause_threshold: number | null;
  gold_min_answers: number;
  seed: number;
}

export interface Stage {
  name: string;
  order: number;
  state: string;
  progress: number;
  counts: Record<string, unknown>;
  error: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
}

export interface Pipeline {
  project: number;
  state: string;
  launched_at: string | null;
  tasks: number;
  stages: Stage[];
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

export interface Member {
  username: string;
  paused: boolean;
  paused_reason: string;
  added_at: string;
  served: number;
  gold_answered: number;
  gold_accuracy: number | null;
}

export interface PairResult {
  id: number;
  task: number;
  candidate: number;
  state: string;
  label: string;
  votes: Record<string, number> | string[];
  caption_modality: string;
  item_modality: Modality;
  caption: string;
  media_url: string;
  media?: MediaPayload; // the item as annotators saw it (renders, poster, waveform)
}

export interface Dataset {
  id: number;
  name: string;
  description: string;
  items: Record<string, number>;
  captions: number;
}

export interface ScreeningRun {
  id: number;
  state: string;
  progress: number;
  parts: number;
  parts_done: number;
  counts: Record<string, number>;
  error: string;
  import_run: number | null;
  created_at: string;
  finished_at: string | null;
}

export interface Screening {
  dataset: number;
  counts: Record<string, number>;
  run: ScreeningRun | null;
  failed: { id: number; external_id: string; modality: string; media: string; screen_reason: string;
    screened_at: string | null }[];
}

export interface Space {
  id: number;
  name: string;
  model_name: string;
  dim: number;
  target_modality: Modality;
}

export interface ImportError {
  file?: string;
  line?: number;
  column?: string | number;
  message?: string;
  [key: string]: unknown;
}

export interface ImportRun {
  id: number;
  dataset_name: string;
  source: string;
  state: string;
  progress: number;
  counts: Record<string, unknown>;
  errors: ImportError[] | Record<string, unknown>;
  created_at: string;
  finished_at: string | null;
}

export interface ExportRun {
  id: number;
  projects: number[];
  format: string;
  filters: Record<string, unknown>;
  state: string;
  progress: number;
  row_count: number | null;
  size_bytes: number | null;
  error: string;
  download_url: string | null;
  created_by: string | null;
  created_at: string;
  finished_at: string | null;
}
