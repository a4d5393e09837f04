/** Builds the dashboard into dist/, which the API serves at `/`. `npm run dev` serves it with
 * hot reload and sends /api to a local `dalgo serve` (DALGO_API, default http://127.0.0.1:8000). */
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const vendorChunks: Record<string, string[]> = {
  react: ["react", "react-dom", "react-router", "react-router-dom", "scheduler"],
  query: ["@tanstack/react-query"],
};

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: { "/api": process.env.DALGO_API ?? "http://127.0.0.1:8000" },
  },
  build: {
    target: "es2022",
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      output: {
        manualChunks(id: string): string | undefined {
          const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(id);
          if (!match) return undefined;
          for (const [chunk, packages] of Object.entries(vendorChunks)) {
            if (packages.includes(match[1])) return chunk;
          }
          return undefined;
        },
      },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
  },
});
