package agent

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
)

// TestUnimplementedCapabilitiesNotAdvertised: with every setting that adds
// a capability turned on, none of the features the engine refuses is
// advertised, so placement never sends them here on purpose.
func TestUnimplementedCapabilitiesNotAdvertised(t *testing.T) {
	cfg := config.Default()
	cfg.AvailableLoggingDrivers = []string{"json-file", "syslog", "journald", "gelf", "fluentd", "awslogs",
		"splunk", "logentries", "sumologic", "none", "awsfirelens"}
	docker := dockerapi.VersionInfo{ServerVersion: "28.0.0", APIVersion: "1.48", MinAPIVersion: "1.12"}
	advertised := map[string]bool{}
	for _, a := range registrationAttributes(docker, engineCapabilities(cfg, docker), nil) {
		advertised[*a.Name] = true
	}
	for _, name := range notAdvertised {
		assert.False(t, advertised[name], "%s is advertised, but the engine does not implement it", name)
	}
}
