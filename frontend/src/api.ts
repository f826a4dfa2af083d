// JSON calls to the REST API with the session cookie and Django's CSRF header.
// Every failure becomes an ApiError so screens can tell a network failure (retry)
// from a workflow refusal (`code`) or field validation errors (`fields`).

export class ApiError extends Error {
  constructor(
    readonly status: number, // 0: the request never got an answer
    readonly code: string,
    message: string,
    readonly fields: Record<string, string[]> = {},
  ) {
    super(message);
  }
  get isNetwork(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function request<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached.");
  }
  if (response.status === 204) return null as T;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw toError(response.status, data);
  return data as T;
}

function toError(status: number, data: unknown): ApiError {
  if (status === 401 || status === 403) {
    const detail = (data as { detail?: string } | null)?.detail ?? "";
    if (/credentials were not provided|not authenticated/i.test(detail)) {
      window.location.href = `/login/?next=${encodeURIComponent(location.pathname + location.hash)}`;
    }
  }
  if (data && typeof data === "object") {
    const record = data as Record<string, unknown>;
    if (typeof record.code === "string") {
      // The API's one error shape: {code, detail, fields?} (docs/api.md "Errors").
      const fields = (record.fields as Record<string, string[]>) ?? {};
      const message = record.code === "invalid" && Object.keys(fields).length
        ? "Please correct the fields marked below." : String(record.detail ?? record.code);
      return new ApiError(status, record.code, message, fields);
    }
    // DRF validation errors: {"field": ["message"]} or {"non_field_errors": [...]}.
    const fields: Record<string, string[]> = {};
    for (const [key, value] of Object.entries(record)) {
      fields[key] = Array.isArray(value) ? value.map((v) => (typeof v === "string" ? v : JSON.stringify(v))) : [String(value)];
    }
    const summary = fields.detail?.[0] ?? fields.non_field_errors?.[0] ?? "Please correct the fields marked below.";
    return new ApiError(status, "invalid", summary, fields);
  }
  return new ApiError(status, status >= 500 ? "server_error" : "error", `The server answered ${status}.`);
}

export const api = {
  get: <T>(url: string) => request<T>("GET", url),
  post: <T>(url: string, body?: unknown) => request<T>("POST", url, body ?? {}),
  patch: <T>(url: string, body: unknown) => request<T>("PATCH", url, body),
};

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** All rows of a paginated list (the lists here are small). */
export async function getAll<T>(url: string): Promise<T[]> {
  const rows: T[] = [];
  let next: string | null = url;
  while (next) {
    const page: Page<T> = await api.get<Page<T>>(next);
    rows.push(...page.results);
    next = page.next;
  }
  return rows;
}
