/** The typed API client is generated from the API's own OpenAPI document (web/openapi.json,
 * written by scripts/dump_openapi.py from `create_app().openapi()`): `make web-client`. */
import { defineConfig } from "@hey-api/openapi-ts";

export default defineConfig({
  input: "openapi.json",
  output: { path: "src/client" },
  plugins: ["@hey-api/client-fetch", "@hey-api/typescript", "@hey-api/sdk"],
});
