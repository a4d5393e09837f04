/** Errors of API calls, carrying the sentence the API wrote for a person. */

/** An error answer of the API, with its sentence (`detail`) ready to show to a person. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(status: number, message: string, body: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }

  /** The run holding a busy resource, when a 409 names one. */
  get holderRunId(): string | null {
    const body = this.body as { holder_run_id?: unknown } | null;
    return typeof body?.holder_run_id === "string" ? body.holder_run_id : null;
  }
}

/** The sentence of an error body: `detail` as the API wrote it, or FastAPI's list of problems. */
export function detailOf(body: unknown, status: number): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item: { loc?: unknown[]; msg?: string }) => {
        const where = (item.loc ?? []).filter((part) => part !== "body").join(" → ");
        return where ? `${where}: ${item.msg ?? "invalid"}` : (item.msg ?? "invalid");
      })
      .join("; ");
  }
  if (status === 0) return "The server did not answer; check your connection and try again.";
  return `The server answered with an error (${status}).`;
}

type Answer<T> = { data?: T; error?: unknown; response?: Response };

/** Await a generated SDK call: its data, or an ApiError carrying the API's sentence. */
export async function call<T>(pending: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await pending;
  } catch (error) {
    throw new ApiError(0, detailOf(null, 0), error);
  }
  const status = answer.response?.status ?? 0;
  if (answer.error !== undefined || !answer.response?.ok) {
    throw new ApiError(status, detailOf(answer.error, status), answer.error);
  }
  return answer.data as T;
}

/** The message to show for anything a call threw. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Whether an error is the API's 404 (no such object in this org, or no such org for the caller). */
export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}
