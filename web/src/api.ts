/** The generated API client, set up for the dashboard: same-origin base URL and the signed-in
 * member's bearer token on every call. */
import { client } from "./client/client.gen";

const TOKEN_KEY = "dalgo.token";
const listeners = new Set<() => void>();

/** The bearer token of the signed-in person, kept in this browser's local storage. */
export const tokenStore = {
  get(): string | null {
    return window.localStorage.getItem(TOKEN_KEY);
  },
  set(token: string | null): void {
    if (token) window.localStorage.setItem(TOKEN_KEY, token);
    else window.localStorage.removeItem(TOKEN_KEY);
    listeners.forEach((listener) => listener());
  },
  subscribe(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

window.addEventListener("storage", (event) => {
  if (event.key === TOKEN_KEY) listeners.forEach((listener) => listener());
});

client.setConfig({ baseUrl: "", auth: () => tokenStore.get() ?? undefined });

client.interceptors.response.use((response, request) => {
  // A token that expired or was revoked: sign out here too, so the app shows the sign-in page.
  if (response.status === 401 && tokenStore.get() && !request.url.endsWith("/auth/login")) {
    tokenStore.set(null);
  }
  return response;
});
