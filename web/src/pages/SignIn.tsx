/** Sign in with email and password; afterwards, the page the person was sent from. */
import { Anchor, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate, useSearchParams } from "react-router-dom";

import { tokenStore } from "../api";
import { useToken } from "../auth";
import { login } from "../client";
import { AuthFrame } from "../components/AuthFrame";
import { ErrorAlert } from "../components/common";
import { call } from "../errors";

/** Only an address of this app (a path), never another site. */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export default function SignIn() {
  const [params] = useSearchParams();
  const location = useLocation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const token = useToken();
  const [email, setEmail] = useState(params.get("email") ?? "");
  const [password, setPassword] = useState("");
  const next = safeNext(params.get("next"));
  const signIn = useMutation({
    mutationFn: () => call(login({ body: { email, password } })),
    onSuccess: (answer) => {
      queryClient.clear();
      tokenStore.set(answer.access_token);
      navigate(next, { replace: true });
    },
  });
  if (token && !signIn.isPending) return <Navigate to={next} replace />;
  const notice = (location.state as { notice?: string } | null)?.notice;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate();
  };
  return (
    <AuthFrame title="Sign in" subtitle="Your organization's data platform.">
      {notice ? (
        <Text c="teal.8" size="sm" role="status">
          {notice}
        </Text>
      ) : null}
      <form onSubmit={submit}>
        <Stack>
          <TextInput label="Email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} autoFocus />
          <PasswordInput label="Password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} />
          <ErrorAlert error={signIn.error} title="Could not sign in" />
          <Button type="submit" loading={signIn.isPending}>
            Sign in
          </Button>
          <Anchor component={Link} to="/forgot-password" size="sm">
            Forgot your password?
          </Anchor>
        </Stack>
      </form>
    </AuthFrame>
  );
}
