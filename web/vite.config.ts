import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";
import { fileURLToPath } from "node:url";

// ferryd serves the build at /console/ (server/console.c): hashed names under assets/
// are cached as immutable, index.html is revalidated. No inline script or style is
// emitted, so the server's Content-Security-Policy can forbid both.
export default defineConfig({
  base: "/console/",
  plugins: [vue()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2020",
  },
  test: {
    include: ["tests/unit/**/*.test.ts"],
    environment: "node",
  },
} as any);
