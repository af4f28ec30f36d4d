// Vite builds the memhp serve page into web-ui/dist (served by src/web/server.ts).
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // One page for engineers on their own machine: no need to split chart.js out.
    chunkSizeWarningLimit: 600,
  },
});
