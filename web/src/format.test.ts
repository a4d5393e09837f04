import { describe, expect, it } from "vitest";

import { formSchema, uiSchemaFor } from "./components/specForm";
import { detailOf } from "./errors";
import { cronInWords, formatDuration, isFinal, nextRunTimes, stateColor, stateLabel } from "./format";

describe("cronInWords", () => {
  it("words a daily schedule with its time zone", () => {
    expect(cronInWords("0 6 * * *", "Asia/Kolkata")).toBe("At 06:00 (Asia/Kolkata)");
  });
  it("answers null for an expression that is not cron", () => {
    expect(cronInWords("every day")).toBeNull();
  });
});

describe("run states", () => {
  it("knows which states are final", () => {
    expect(isFinal("completed_with_warnings")).toBe(true);
    expect(isFinal("waiting_for_lock")).toBe(false);
    expect(isFinal(undefined)).toBe(false);
  });
  it("words and colours a state", () => {
    expect(stateLabel("completed_with_warnings")).toBe("completed with warnings");
    expect(stateColor("failed")).toBe("red");
  });
});

describe("formatDuration", () => {
  it("words short and long durations", () => {
    expect(formatDuration(4.21)).toBe("4.2 s");
    expect(formatDuration(125)).toBe("2 min 5 s");
    expect(formatDuration(3720)).toBe("1 h 2 min");
    expect(formatDuration(null)).toBe("—");
  });
});

describe("detailOf", () => {
  it("shows the API's sentence", () => {
    expect(detailOf({ detail: "There is no such run in this organization." }, 404)).toBe(
      "There is no such run in this organization.",
    );
  });
  it("words FastAPI's list of problems", () => {
    const body = { detail: [{ loc: ["body", "email"], msg: "value is not a valid email address" }] };
    expect(detailOf(body, 422)).toBe("email: value is not a valid email address");
  });
});

describe("nextRunTimes", () => {
  it("lists the next times in the schedule's time zone", async () => {
    const times = await nextRunTimes("0 6 * * *", "Asia/Kolkata", 2);
    expect(times).toHaveLength(2);
    for (const time of times) expect(new Date(time).getUTCHours() * 60 + new Date(time).getUTCMinutes()).toBe(30);
  });
  it("answers nothing for a bad expression", async () => {
    expect(await nextRunTimes("61 * * * *", "UTC")).toEqual([]);
  });
});

describe("connector spec forms", () => {
  const spec = {
    type: "object",
    additionalProperties: true,
    properties: {
      count: { type: "integer", order: 1 },
      api_key: { type: "string", airbyte_secret: true, order: 0 },
      auth: {
        type: "object",
        oneOf: [
          { properties: { token: { type: "string", airbyte_secret: true } } },
          { properties: { user: { type: "string" }, password: { type: "string", airbyte_secret: true } } },
        ],
      },
    },
  };
  it("draws secrets as password inputs, in the spec's order", () => {
    expect(uiSchemaFor(spec)).toEqual({
      api_key: { "ui:widget": "password" },
      auth: { token: { "ui:widget": "password" }, password: { "ui:widget": "password" } },
      "ui:order": ["api_key", "count", "*"],
    });
  });
  it("offers no free-form extra keys", () => {
    expect(formSchema(spec)).not.toHaveProperty("additionalProperties");
  });
});
