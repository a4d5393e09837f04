/** Who is signed in: the token, the caller (`GET /me`) and what their role in an org allows. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useSyncExternalStore } from "react";
import { useParams } from "react-router-dom";

import { tokenStore } from "./api";
import type { MePublic, MembershipPublic } from "./client";
import { logout, readMe } from "./client";
import { call } from "./errors";

export function useToken(): string | null {
  return useSyncExternalStore(tokenStore.subscribe, tokenStore.get);
}

/** The signed-in person, with each membership's role and permissions. */
export function useMe() {
  const token = useToken();
  return useQuery<MePublic>({
    queryKey: ["me", token],
    queryFn: () => call(readMe()),
    enabled: token !== null,
    staleTime: 60_000,
  });
}

/** The org named in the address (`/orgs/:org/...`). */
export function useOrg(): string {
  const { org } = useParams();
  return org ?? "";
}

/** The caller's membership in the org of the address, if any. */
export function useMembership(): MembershipPublic | undefined {
  const org = useOrg();
  const me = useMe();
  return me.data?.memberships.find((membership) => membership.org === org);
}

/** Whether the caller's role in this org holds a permission (the server decides all the same). */
export function useCan(): (permission: string) => boolean {
  const membership = useMembership();
  return useCallback((permission: string) => membership?.permissions.includes(permission) ?? false, [membership]);
}

/** Sign out: end the token on the server, forget it here, and drop every cached answer. */
export function useSignOut(): () => Promise<void> {
  const queryClient = useQueryClient();
  return useCallback(async () => {
    try {
      await logout();
    } finally {
      tokenStore.set(null);
      queryClient.clear();
    }
  }, [queryClient]);
}
