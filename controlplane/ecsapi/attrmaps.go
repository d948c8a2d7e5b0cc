package ecsapi

import (
	"slices"
	"sync"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// attributeMaps remembers each container instance's attributes as the map
// placement reads (scheduler.Instance.Attributes), checked against the
// instance's attribute list. RunTask and every service round build a
// candidate per instance of the cluster, and filling a map of 30 to 60
// attributes for each of 500 instances was an eighth of the control
// plane's CPU during a rollout (docs/benchmarks.md), though attributes
// change only when an agent registers or PutAttributes is called.
//
// A map is shared by every placement that reads the same attributes, so
// placement only ever reads it (scheduler.Instance says so).
type attributeMaps struct {
	mu    sync.Mutex
	byARN map[string]attributeMap
}

type attributeMap struct {
	attrs []store.Attribute // what m was built from
	m     map[string]string
}

// attributeMapsLimit bounds the cache: past it, it starts again empty (the
// instances of a large fleet, with room for those that come and go).
const attributeMapsLimit = 20_000

// of returns ci's attribute map.
func (c *attributeMaps) of(ci store.ContainerInstance) map[string]string {
	c.mu.Lock()
	e, ok := c.byARN[ci.ARN]
	c.mu.Unlock()
	if ok && sameAttributes(e.attrs, ci.Attributes) {
		return e.m
	}
	m := newAttributeMap(ci)
	attrs := slices.Clone(ci.Attributes)
	for i := range attrs { // what the cache keeps must not change under it
		if attrs[i].Value != nil {
			v := *attrs[i].Value
			attrs[i].Value = &v
		}
	}
	c.mu.Lock()
	if c.byARN == nil || len(c.byARN) >= attributeMapsLimit {
		c.byARN = make(map[string]attributeMap)
	}
	c.byARN[ci.ARN] = attributeMap{attrs: attrs, m: m}
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

// sameAttributes reports whether two attribute lists give the same map:
// the same names with the same values, in the same order.
func sameAttributes(x, y []store.Attribute) bool {
	return slices.EqualFunc(x, y, func(a, b store.Attribute) bool {
		return a.Name == b.Name && ptrValue(a.Value) == ptrValue(b.Value)
	})
}
