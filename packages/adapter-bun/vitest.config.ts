import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "adapter-bun",
    include: ["test/**/*.test.ts"]
  }
})
