/** Ask for a password reset: a mail with a link to /reset-password goes to the address. */
import { Anchor, Button, Stack, Text, TextInput } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

import { requestPasswordReset } from "../client";
import { AuthFrame } from "../components/AuthFrame";
import { ErrorAlert } from "../components/common";
import { call } from "../errors";

export default function ForgotPassword() {
  const [email, setEmail] = useState("");
  const request = useMutation({ mutationFn: () => call(requestPasswordReset({ body: { email } })) });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    request.mutate();
  };
  return (
    <AuthFrame title="Forgot your password?" subtitle="We will mail you a link to choose a new one.">
      {request.isSuccess ? (
        <Text role="status">
          If {email} has an account, a mail with a link to reset its password is on its way. The link works once and
          for a short time.
        </Text>
      ) : (
        <form onSubmit={submit}>
          <Stack>
            <TextInput label="Email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} autoFocus />
            <ErrorAlert error={request.error} />
            <Button type="submit" loading={request.isPending}>
              Mail me a link
            </Button>
          </Stack>
        </form>
      )}
      <Anchor component={Link} to="/login" size="sm">
        Back to sign in
      </Anchor>
    </AuthFrame>
  );
}
