// Package ecsagent is the module's root package. It holds what belongs to
// the whole project rather than to one binary: the licence text.
package ecsagent

import _ "embed" // for License

// License is the project's LICENSE file, the Apache License 2.0 (the
// licence of the ECS ecosystem), embedded so that the agent serves the real
// text on its introspection API's /license.
//
//go:embed LICENSE
var License string
