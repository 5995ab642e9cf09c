// Builds the page into ../duelctl/web, which is committed and shipped as package data, so
// installing and running duelctl never needs Node. `check-build.sh` rebuilds into a temp
// dir and compares, so the committed build always matches this source.
//
// `npm run dev` serves the page with hot reload against a running `duelctl up`: set
// DUELCTL_HTTP to the stack's http_url (see README.md); config.json, /online and
// /_local/token are proxied to it so the page stays same-origin.
import { defineConfig } from "vite";

const stack = process.env.DUELCTL_HTTP ?? "http://127.0.0.1:8766";

export default defineConfig({
  base: "./", // relative URLs: the bundle works from any path of any static host
  oxc: { jsx: { runtime: "automatic" } }, // React 17+ JSX without a plugin
  build: {
    outDir: "../duelctl/web",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
    reportCompressedSize: false,
  },
  server: {
    port: 5173,
    proxy: {
      "/config.json": stack,
      "/online": stack,
      "/_local": stack,
    },
  },
});
