// Package version holds the agent's name, version and build commit.
//
// Version and GitHash are set at build time by the Makefile through -ldflags;
// a plain `go build` reports the defaults below.
package version

import "fmt"

// Name is the product name shown in the introspection API and the User-Agent.
const Name = "Open ECS Agent"

var (
	// Version is the semantic version without a leading "v".
	Version = "0.1.0"
	// GitHash is the short commit hash the binary was built from.
	GitHash = "unknown"
	// Dirty is "true" when the binary was built from a work tree with
	// uncommitted changes.
	Dirty = "false"
)

// String formats the version the way the ECS introspection API does:
// "<name> - v<version> (<hash>)", with a "*" before the hash for a dirty tree.
func String() string {
	hash := GitHash
	if Dirty == "true" {
		hash = "*" + hash
	}
	return fmt.Sprintf("%s - v%s (%s)", Name, Version, hash)
}
