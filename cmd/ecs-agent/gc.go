package main

import (
	"runtime/debug"
)

// defaultGCPercent is the agent's GOGC when the environment sets none.
//
// Go's default, 100, lets the heap grow to twice what is live before a
// collection. The agent's live heap is small (6–7 MiB with 100 running
// tasks and their stats rings) and it allocates slowly (100–300 KB/s, most
// of it decoding one Docker stats sample per container a second), so that
// headroom was a fifth of its RSS while collections stayed rare. At 25 the
// heap grows by a quarter: a collection every few seconds with 100 tasks,
// each a few milliseconds of CPU over a heap that small (measured in
// docs/benchmarks.md, "Agent telemetry (issue 10)"). GOGC and GOMEMLIMIT in
// the environment still win.
const defaultGCPercent = 25

// tuneGC applies defaultGCPercent unless getenv("GOGC") is set.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
