// Builds src/main.ts into dist/frontend/app.js + app.css. Django serves dist/ as static
// files (STATICFILES_DIRS), and its static storage adds content hashes in production,
// so the names here stay fixed.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/static/frontend/",
  build: {
    outDir: "dist/frontend",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    rollupOptions: {
      input: "src/main.ts",
      output: {
        entryFileNames: "app.js",
        chunkFileNames: "[name].js",
        assetFileNames: (asset) => (asset.names.some((n) => n.endsWith(".css")) ? "app.css" : "[name][extname]"),
      },
    },
  },
});
