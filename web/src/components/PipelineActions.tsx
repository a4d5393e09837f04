/** A pipeline's buttons: run now (then its run's page), pause and resume, as the role allows. */
import { Button, Group } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router-dom";

import { useCan } from "../auth";
import type { PipelinePublic } from "../client";
import { pausePipeline, resumePipeline, runPipeline } from "../client";
import { call } from "../errors";
import { cronInWords } from "../format";

/** The schedule of a pipeline in words, or "manual only". */
export function scheduleWords(pipeline: Pick<PipelinePublic, "schedule">): string {
  if (!pipeline.schedule) return "manual only";
  return cronInWords(pipeline.schedule.cron, pipeline.schedule.timezone) ?? pipeline.schedule.cron;
}

export function PipelineActions({ org, pipeline, onError }: { org: string; pipeline: PipelinePublic; onError: (error: unknown) => void }) {
  const can = useCan();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const path = { org, pipeline_id: pipeline.id };
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["pipelines", org] });
    void queryClient.invalidateQueries({ queryKey: ["pipeline", org, pipeline.id] });
  };
  const run = useMutation({
    mutationFn: () => call(runPipeline({ path })),
    onSuccess: (started) => {
      notifications.show({ message: `${pipeline.name} started.` });
      void refresh();
      navigate(`/orgs/${org}/runs/${started.flow_run_id}`);
    },
    onError,
  });
  const pause = useMutation({ mutationFn: () => call(pausePipeline({ path })), onSuccess: refresh, onError });
  const resume = useMutation({ mutationFn: () => call(resumePipeline({ path })), onSuccess: refresh, onError });
  return (
    <Group gap="xs" wrap="nowrap">
      {can("can_run_pipeline") ? (
        <Button size="xs" onClick={() => run.mutate()} loading={run.isPending} aria-label={`Run ${pipeline.name} now`}>
          Run now
        </Button>
      ) : null}
      {can("can_edit_pipeline") && pipeline.schedule ? (
        pipeline.paused ? (
          <Button size="xs" variant="light" onClick={() => resume.mutate()} loading={resume.isPending}>
            Resume
          </Button>
        ) : (
          <Button size="xs" variant="light" onClick={() => pause.mutate()} loading={pause.isPending}>
            Pause
          </Button>
        )
      ) : null}
    </Group>
  );
}
