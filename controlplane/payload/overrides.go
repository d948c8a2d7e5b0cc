package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// ErrInvalidOverride is returned (wrapped) when a task's overrides cannot be
// applied to its task definition; the message names the member.
var ErrInvalidOverride = errors.New("invalid overrides")

// TaskOverride is the ECS TaskOverride shape; the JSON names are the ECS
// member names. The members this control plane does not apply are decoded
// only to be refused by name: an override is never dropped.
type TaskOverride struct {
	ContainerOverrides []ContainerOverride `json:"containerOverrides,omitempty"`
	CPU                string              `json:"cpu,omitempty"`
	Memory             string              `json:"memory,omitempty"`
	TaskRoleARN        string              `json:"taskRoleArn,omitempty"`
	ExecutionRoleARN   string              `json:"executionRoleArn,omitempty"`

	InferenceAcceleratorOverrides json.RawMessage `json:"inferenceAcceleratorOverrides,omitempty"`
	EphemeralStorage              json.RawMessage `json:"ephemeralStorage,omitempty"`
}

// ContainerOverride is the ECS ContainerOverride shape.
type ContainerOverride struct {
	Name              string               `json:"name"`
	Command           []string             `json:"command,omitempty"`
	Environment       []store.KeyValuePair `json:"environment,omitempty"`
	CPU               *int                 `json:"cpu,omitempty"`
	Memory            *int                 `json:"memory,omitempty"`
	MemoryReservation *int                 `json:"memoryReservation,omitempty"`

	EnvironmentFiles     json.RawMessage `json:"environmentFiles,omitempty"`
	ResourceRequirements json.RawMessage `json:"resourceRequirements,omitempty"`
}

// minContainerMemoryMiB is the smallest memory limit or reservation Docker
// accepts (6 MiB), as RegisterTaskDefinition enforces it.
const minContainerMemoryMiB = 6

// decodeOverrides reads TaskOverride JSON, refusing members the ECS shape
// does not have and those this control plane does not apply.
func decodeOverrides(raw json.RawMessage) (TaskOverride, error) {
	var o TaskOverride
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return o, fmt.Errorf("overrides is not ECS TaskOverride JSON (%s): %w", err.Error(), ErrInvalidOverride)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"inferenceAcceleratorOverrides", o.InferenceAcceleratorOverrides}, {"ephemeralStorage", o.EphemeralStorage}} {
		if setsSomething(f.raw) {
			return o, fmt.Errorf("overrides.%s is not supported by this control plane; remove it: %w", f.name, ErrInvalidOverride)
		}
	}
	for _, co := range o.ContainerOverrides {
		for _, f := range []struct {
			name string
			raw  json.RawMessage
		}{{"environmentFiles", co.EnvironmentFiles}, {"resourceRequirements", co.ResourceRequirements}} {
			if setsSomething(f.raw) {
				return o, fmt.Errorf("overrides.containerOverrides[%s].%s is not supported by this control plane; set it in the task definition: %w",
					co.Name, f.name, ErrInvalidOverride)
			}
		}
	}
	return o, nil
}

// setsSomething reports whether raw is present and not null or empty.
func setsSomething(raw json.RawMessage) bool {
	var b bytes.Buffer
	if len(raw) == 0 || json.Compact(&b, raw) != nil {
		return len(raw) > 0
	}
	switch b.String() {
	case "null", "[]", "{}":
		return false
	}
	return true
}

// Resolve returns def with the overrides (ECS TaskOverride JSON; nil, ""
// or "{}" for none) applied: container command, environment (merged by
// name), cpu, memory and memoryReservation, and the task cpu, memory and
// roles. Placement uses it to size a task as it will run. def is not
// changed.
func Resolve(def store.TaskDefinition, overrides json.RawMessage) (store.TaskDefinition, error) {
	var o TaskOverride
	if len(overrides) > 0 && string(overrides) != "null" {
		var err error
		if o, err = decodeOverrides(overrides); err != nil {
			return def, err
		}
	}
	// Copy the containers so that overriding never writes through to the
	// caller's slice.
	def.ContainerDefinitions = append([]store.ContainerDefinition(nil), def.ContainerDefinitions...)
	if o.CPU != "" {
		if _, err := ParseCPU(o.CPU); err != nil {
			return def, fmt.Errorf("overrides.cpu %q is neither CPU units (\"512\") nor vCPUs (\"0.5 vCPU\"): %w", o.CPU, ErrInvalidOverride)
		}
		def.CPU = o.CPU
	}
	if o.Memory != "" {
		if _, err := ParseMemory(o.Memory); err != nil {
			return def, fmt.Errorf("overrides.memory %q is neither MiB (\"512\") nor GB (\"0.5 GB\"): %w", o.Memory, ErrInvalidOverride)
		}
		def.Memory = o.Memory
	}
	if o.TaskRoleARN != "" {
		def.TaskRoleARN = o.TaskRoleARN
	}
	if o.ExecutionRoleARN != "" {
		def.ExecutionRoleARN = o.ExecutionRoleARN
	}
	for _, co := range o.ContainerOverrides {
		i := containerIndex(def, co.Name)
		if i < 0 {
			return def, fmt.Errorf("overrides.containerOverrides: %q is not a container of %s: %w", co.Name, def.Family, ErrInvalidOverride)
		}
		if err := applyContainerOverride(&def.ContainerDefinitions[i], co); err != nil {
			return def, err
		}
	}
	return def, nil
}

func containerIndex(def store.TaskDefinition, name string) int {
	for i, c := range def.ContainerDefinitions {
		if c.Name == name {
			return i
		}
	}
	return -1
}

func applyContainerOverride(c *store.ContainerDefinition, co ContainerOverride) error {
	if co.Command != nil {
		c.Command = co.Command
	}
	if len(co.Environment) > 0 {
		env := append([]store.KeyValuePair(nil), c.Environment...)
		for _, kv := range co.Environment {
			if kv.Name == "" {
				return fmt.Errorf("overrides.containerOverrides[%s].environment: a variable has no name: %w", c.Name, ErrInvalidOverride)
			}
			replaced := false
			for j := range env {
				if env[j].Name == kv.Name {
					env[j].Value, replaced = kv.Value, true
				}
			}
			if !replaced {
				env = append(env, kv)
			}
		}
		c.Environment = env
	}
	if co.CPU != nil {
		if *co.CPU < 0 {
			return fmt.Errorf("overrides.containerOverrides[%s].cpu must not be negative: %w", c.Name, ErrInvalidOverride)
		}
		c.CPU = *co.CPU
	}
	for _, m := range []struct {
		name string
		v    *int
	}{{"memory", co.Memory}, {"memoryReservation", co.MemoryReservation}} {
		if m.v != nil && *m.v < minContainerMemoryMiB {
			return fmt.Errorf("overrides.containerOverrides[%s].%s must be at least %d MiB, the least Docker accepts: %w",
				c.Name, m.name, minContainerMemoryMiB, ErrInvalidOverride)
		}
	}
	if co.Memory != nil {
		c.Memory = co.Memory
	}
	if co.MemoryReservation != nil {
		c.MemoryReservation = co.MemoryReservation
	}
	if c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory {
		return fmt.Errorf("overrides.containerOverrides[%s]: memoryReservation (%d MiB) must not be greater than memory (%d MiB): %w",
			c.Name, *c.MemoryReservation, *c.Memory, ErrInvalidOverride)
	}
	return nil
}
