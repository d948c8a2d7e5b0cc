package ecsapi

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// The remembered map is reused only while the instance's attributes are
// the same, whatever the caller later does to the instance it passed.
func TestAttributeMapsFollowTheAttributes(t *testing.T) {
	var c attributeMaps
	zone := "us-east-1a"
	ci := store.ContainerInstance{ARN: "ci-1", Attributes: []store.Attribute{
		{Name: "ecs.availability-zone", Value: &zone}, {Name: "ecs.capability.docker-remote-api.1.41"},
	}}
	same := func(x, y map[string]string) bool { return reflect.ValueOf(x).Pointer() == reflect.ValueOf(y).Pointer() }

	first := c.of(ci)
	assert.Equal(t, map[string]string{"ecs.availability-zone": "us-east-1a", "ecs.capability.docker-remote-api.1.41": ""}, first)
	assert.True(t, same(first, c.of(ci)), "the same attributes: the same map")

	zone = "us-east-1b" // the caller changes its copy of the instance
	changed := c.of(ci)
	assert.False(t, same(first, changed))
	assert.Equal(t, "us-east-1b", changed["ecs.availability-zone"])
	assert.Equal(t, "us-east-1a", first["ecs.availability-zone"], "a map handed out never changes")

	ci.Attributes = append(ci.Attributes, store.Attribute{Name: "stack"})
	assert.Contains(t, c.of(ci), "stack")

	other := store.ContainerInstance{ARN: "ci-2", Attributes: ci.Attributes}
	assert.Equal(t, c.of(ci), c.of(other), "each instance has its own entry")
}
