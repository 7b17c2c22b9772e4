// Builds the explorer into the Python package (src/chainsleuth/web/dist), so `pip install` ships it.
// CHAINSLEUTH_WEB_OUT overrides the output folder (the reproducibility test builds into a temp dir).
import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

const outDir = process.env.CHAINSLEUTH_WEB_OUT ?? resolve(__dirname, "../src/chainsleuth/web/dist");

export default defineConfig({
  base: "./",
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024,
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
