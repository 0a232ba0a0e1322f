import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "adapter-node",
    include: ["test/**/*.test.ts"],
    // property tests run 1000 cases each; a loaded 2-core CI machine can take seconds per test
    testTimeout: 60_000
  }
})
