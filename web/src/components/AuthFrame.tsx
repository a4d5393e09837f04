/** The frame of the pages for people who are not signed in (sign in, reset, accept). */
import { Center, Paper, Stack, Text, Title } from "@mantine/core";
import type { ReactNode } from "react";

export function AuthFrame({ title, subtitle, children }: { title: string; subtitle?: ReactNode; children: ReactNode }) {
  return (
    <Center mih="100vh" bg="gray.0" p="md">
      <Paper withBorder shadow="sm" p="xl" w={420} maw="100%" component="main">
        <Stack gap="md">
          <Stack gap={2}>
            <Text c="teal.8" fw={700} size="xl">
              Dalgo
            </Text>
            <Title order={2}>{title}</Title>
            {subtitle ? <Text c="dimmed" size="sm">{subtitle}</Text> : null}
          </Stack>
          {children}
        </Stack>
      </Paper>
    </Center>
  );
}
