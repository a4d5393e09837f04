/** The password reset mail's link: `/reset-password?code=...`, where a new password is chosen. */
import { Anchor, Button, PasswordInput, Stack, Text } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { confirmPasswordReset } from "../client";
import { AuthFrame } from "../components/AuthFrame";
import { ErrorAlert } from "../components/common";
import { call } from "../errors";

export default function ResetPassword() {
  const [params] = useSearchParams();
  const code = params.get("code") ?? params.get("token") ?? "";
  const navigate = useNavigate();
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const reset = useMutation({
    mutationFn: () => call(confirmPasswordReset({ body: { code, new_password: password } })),
    onSuccess: () => navigate("/login", { state: { notice: "Your password is changed: sign in with it." } }),
  });
  const mismatch = repeat.length > 0 && repeat !== password;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!mismatch) reset.mutate();
  };
  return (
    <AuthFrame title="Choose a new password">
      {code ? (
        <form onSubmit={submit}>
          <Stack>
            <PasswordInput label="New password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} autoFocus />
            <PasswordInput
              label="New password, again"
              autoComplete="new-password"
              required
              value={repeat}
              error={mismatch ? "The two passwords differ." : undefined}
              onChange={(e) => setRepeat(e.currentTarget.value)}
            />
            <ErrorAlert error={reset.error} />
            <Button type="submit" loading={reset.isPending} disabled={mismatch}>
              Set the password
            </Button>
          </Stack>
        </form>
      ) : (
        <Text>This page needs the link from the password reset mail.</Text>
      )}
      <Anchor component={Link} to="/forgot-password" size="sm">
        Ask for a new link
      </Anchor>
    </AuthFrame>
  );
}
