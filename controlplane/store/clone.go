package store

import (
	"bytes"
	"slices"
	"time"
)

// Clone returns a deep copy of ci: nothing of the copy is shared with ci.
// TestCloneSharesNothing checks every field, so a field added to the
// model without a line here fails it.
func (ci ContainerInstance) Clone() ContainerInstance {
	out := ci
	out.RegisteredResources = cloneEach(ci.RegisteredResources, func(r Resource) Resource {
		r.StringSetValue = slices.Clone(r.StringSetValue)
		return r
	})
	out.Attributes = cloneAttributes(ci.Attributes)
	out.Tags = slices.Clone(ci.Tags)
	out.PlatformDevices = slices.Clone(ci.PlatformDevices)
	return out
}

// Clone returns a deep copy of t (see ContainerInstance.Clone).
func (t Task) Clone() Task {
	out := t
	if t.Overrides != nil {
		out.Overrides = bytes.Clone(t.Overrides)
	}
	out.Containers = cloneEach(t.Containers, func(c TaskContainer) TaskContainer {
		c.ExitCode = clonePtr(c.ExitCode)
		c.NetworkBindings = slices.Clone(c.NetworkBindings)
		return c
	})
	out.Tags = slices.Clone(t.Tags)
	out.Attributes = cloneAttributes(t.Attributes)
	for _, p := range []**time.Time{&out.ConnectivityAt, &out.PullStartedAt, &out.PullStoppedAt,
		&out.StartedAt, &out.ExecutionStoppedAt, &out.StoppingAt, &out.StoppedAt, &out.Delivery.AckedAt} {
		*p = clonePtr(*p)
	}
	out.Reserved.PortsTCP = slices.Clone(t.Reserved.PortsTCP)
	out.Reserved.PortsUDP = slices.Clone(t.Reserved.PortsUDP)
	out.RoleCredentials = slices.Clone(t.RoleCredentials)
	return out
}

// cloneAttributes copies the values into one array rather than one
// allocation each: an instance carries dozens of attributes.
func cloneAttributes(as []Attribute) []Attribute {
	if as == nil {
		return nil
	}
	out := slices.Clone(as)
	values := make([]string, len(as))
	for i, a := range as {
		if a.Value != nil {
			values[i] = *a.Value
			out[i].Value = &values[i]
		}
	}
	return out
}

// cloneEach copies s element by element through f; nil stays nil.
func cloneEach[T any](s []T, f func(T) T) []T {
	if s == nil {
		return nil
	}
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
