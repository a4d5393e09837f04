/** How the dashboard words times, durations, run states and schedules. */
import cronstrue from "cronstrue";

/** Run states that will not change any more. */
export const FINAL_STATES = new Set(["completed", "completed_with_warnings", "failed", "crashed", "cancelled"]);

/** Every run state the API names, in the order a filter lists them. */
export const RUN_STATES = [
  "scheduled",
  "pending",
  "waiting_for_lock",
  "running",
  "completed",
  "completed_with_warnings",
  "failed",
  "crashed",
  "cancelling",
  "cancelled",
] as const;

export function isFinal(state: string | null | undefined): boolean {
  return state != null && FINAL_STATES.has(state);
}

/** A run state in words: `completed_with_warnings` → "completed with warnings". */
export function stateLabel(state: string): string {
  return state.replaceAll("_", " ");
}

/** The colour of a run state's badge. */
export function stateColor(state: string): string {
  switch (state) {
    case "completed":
      return "green";
    case "completed_with_warnings":
      return "yellow";
    case "failed":
    case "crashed":
      return "red";
    case "running":
    case "pending":
      return "blue";
    case "cancelling":
    case "cancelled":
      return "gray";
    default:
      return "violet";
  }
}

/** A time as the person's locale writes it, or a dash. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const time = new Date(iso);
  if (Number.isNaN(time.getTime())) return iso;
  return time.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A duration in seconds as "1 h 2 min", "3 min 4 s" or "5.2 s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null) return "—";
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A cron expression in words ("At 06:00 AM"), with its time zone; null when it is not valid. */
export function cronInWords(cron: string, timezone?: string | null): string | null {
  try {
    const words = cronstrue.toString(cron.trim(), { use24HourTimeFormat: true, throwExceptionOnParseError: true });
    return timezone ? `${words} (${timezone})` : words;
  } catch {
    return null;
  }
}

/** A number with thousands separators. */
export function formatCount(value: number | null | undefined): string {
  return value == null ? "—" : value.toLocaleString();
}

/** The next few times a cron schedule fires in its time zone, as ISO strings; empty when invalid. */
export async function nextRunTimes(cron: string, timezone: string, count = 3): Promise<string[]> {
  const { CronExpressionParser } = await import("cron-parser");
  try {
    return CronExpressionParser.parse(cron.trim(), { tz: timezone })
      .take(count)
      .map((time) => time.toISOString() ?? "");
  } catch {
    return [];
  }
}
