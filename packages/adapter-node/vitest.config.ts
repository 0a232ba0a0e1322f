import process from "node:process"
import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "adapter-node",
    include: ["test/**/*.test.ts"],
    // Bun 1.4.5 cannot start vitest 5.1's default "forks" pool: the pool's watchdog calls
    // child.channel.unref(), and in Bun a forked child's channel is an empty stub
    // (oven-sh/bun#33593). Worker threads work.
    ...(process.versions.bun === undefined ? {} : { pool: "threads" as const })
  }
})
