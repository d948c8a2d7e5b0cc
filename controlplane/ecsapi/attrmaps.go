package ecsapi

import (
	"sync"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// attributeMaps remembers each container instance's attributes as the map
// placement reads (scheduler.Instance.Attributes), checked against the
// instance's attribute list on every use. RunTask and every service round build a
// candidate per instance of the cluster, and filling a map of 30 to 60
// attributes for each of 500 instances was an eighth of the control
// plane's CPU during a rollout (docs/benchmarks.md), though attributes
// change only when an agent registers or PutAttributes is called.
//
// A map is shared by every placement that reads the same attributes, so
// placement only ever reads it (scheduler.Instance says so).
type attributeMaps struct {
	mu    sync.Mutex
	byARN map[string]map[string]string
}

// attributeMapsLimit bounds the cache: past it, it starts again empty (the
// instances of a large fleet, with room for those that come and go).
const attributeMapsLimit = 20_000

// of returns ci's attribute map.
func (c *attributeMaps) of(ci store.ContainerInstance) map[string]string {
	c.mu.Lock()
	m, ok := c.byARN[ci.ARN]
	c.mu.Unlock()
	if ok && mapsAttributes(m, ci.Attributes) {
		return m
	}
	m = newAttributeMap(ci)
	c.mu.Lock()
	if c.byARN == nil || len(c.byARN) >= attributeMapsLimit {
		c.byARN = make(map[string]map[string]string)
	}
	c.byARN[ci.ARN] = m
	c.mu.Unlock()
	return m
}

// newAttributeMap maps ci's attribute names to their values ("" for a
// name-only attribute).
func newAttributeMap(ci store.ContainerInstance) map[string]string {
	m := make(map[string]string, len(ci.Attributes))
	for _, attr := range ci.Attributes {
		m[attr.Name] = ptrValue(attr.Value)
	}
	return m
}

// mapsAttributes reports whether m is the map of attrs: as many entries as
// attributes (so no name repeats) and each attribute's value under its name.
func mapsAttributes(m map[string]string, attrs []store.Attribute) bool {
	if len(m) != len(attrs) {
		return false
	}
	for _, a := range attrs {
		if v, ok := m[a.Name]; !ok || v != ptrValue(a.Value) {
			return false
		}
	}
	return true
}
