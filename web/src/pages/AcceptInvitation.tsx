/** The invitation mail's link: `/invitations/accept?code=...`. Someone new chooses a password;
 * someone who has an account just accepts (signed in or not). */
import { Anchor, Button, PasswordInput, Stack, Text } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { useToken } from "../auth";
import { acceptInvitation } from "../client";
import { AuthFrame } from "../components/AuthFrame";
import { ErrorAlert } from "../components/common";
import { call } from "../errors";

export default function AcceptInvitation() {
  const [params] = useSearchParams();
  const code = params.get("code") ?? params.get("token") ?? "";
  const token = useToken();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [password, setPassword] = useState("");
  const accept = useMutation({
    mutationFn: () => call(acceptInvitation({ body: { code, password: password || null } })),
    onSuccess: async (answer) => {
      const notice = `You joined ${answer.org} as ${answer.role}.`;
      if (token) {
        await queryClient.invalidateQueries({ queryKey: ["me"] });
        navigate(`/orgs/${answer.org}`);
      } else {
        navigate(`/login?next=${encodeURIComponent(`/orgs/${answer.org}`)}`, { state: { notice: `${notice} Sign in to start.` } });
      }
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    accept.mutate();
  };
  return (
    <AuthFrame title="Accept your invitation" subtitle="You were invited to an organization on Dalgo.">
      {code ? (
        <form onSubmit={submit}>
          <Stack>
            <PasswordInput
              label="Choose a password"
              description="New to Dalgo? Choose the password you will sign in with. Already have an account? Leave this empty."
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
              autoFocus
            />
            <ErrorAlert error={accept.error} title="Could not accept" />
            <Button type="submit" loading={accept.isPending}>
              Accept the invitation
            </Button>
          </Stack>
        </form>
      ) : (
        <Text>This page needs the link from the invitation mail.</Text>
      )}
      <Anchor component={Link} to="/login" size="sm">
        Sign in instead
      </Anchor>
    </AuthFrame>
  );
}
