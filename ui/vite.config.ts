import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

export default defineConfig(({ mode }) => ({
  plugins: [svelte()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "safari15", outDir: "dist", emptyOutDir: true },
  // Component tests mount Svelte in jsdom, which needs Svelte's browser build.
  resolve: mode === "test" ? { conditions: ["browser"] } : undefined,
  test: { include: ["src/**/*.test.ts"], environment: "node" },
}));
