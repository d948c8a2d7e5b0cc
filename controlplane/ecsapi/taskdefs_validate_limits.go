package ecsapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// maxTaskDefinitionBytes is ECS's limit on the size of a task definition.
const maxTaskDefinitionBytes = 64 << 10

// checkTaskDefinitionSize refuses a RegisterTaskDefinition request larger
// than ECS's 64 KiB, measured as compact JSON so that indentation does not
// count. Malformed JSON is left to the decode.
func checkTaskDefinitionSize(body []byte) error {
	if len(body) <= maxTaskDefinitionBytes {
		return nil
	}
	var b bytes.Buffer
	if json.Compact(&b, body) != nil || b.Len() <= maxTaskDefinitionBytes {
		return nil
	}
	return clientErr(CodeClientException, "The task definition is %d bytes as compact JSON; the limit is %d bytes (64 KiB). "+
		"Shrink it: shorter commands and environment values, or fewer containers.", b.Len(), maxTaskDefinitionBytes)
}

// dependencyCycle refuses containers that wait for each other through
// dependsOn, links (the target starts first) and volumesFrom (the source is
// created first): the agent would refuse such a task at every run.
func (v *taskDefValidator) dependencyCycle() error {
	type edge struct{ to, via string }
	edges := map[string][]edge{}
	for _, c := range v.td.ContainerDefinitions {
		for _, d := range c.DependsOn {
			edges[c.Name] = append(edges[c.Name], edge{d.ContainerName, "dependsOn"})
		}
		for _, l := range c.Links {
			target, _, _ := strings.Cut(l, ":")
			edges[c.Name] = append(edges[c.Name], edge{target, "links"})
		}
		for _, vf := range c.VolumesFrom {
			edges[c.Name] = append(edges[c.Name], edge{vf.SourceContainer, "volumesFrom"})
		}
	}
	const onStack, done = 1, 2
	state := map[string]int{}
	type step struct{ name, via string }
	var stack []step // the containers being visited, each with the edge it left by
	var visit func(name string) error
	visit = func(name string) error {
		state[name] = onStack
		for _, e := range edges[name] {
			stack = append(stack, step{name, e.via})
			switch state[e.to] {
			case onStack:
				i := slices.IndexFunc(stack, func(s step) bool { return s.name == e.to })
				var parts []string
				for _, s := range stack[i:] {
					parts = append(parts, s.name+" ("+s.via+")")
				}
				return clientErr(CodeClientException, "containerDefinitions: the containers wait for each other in a cycle: %s -> %s. "+
					"Remove one of these dependsOn, links or volumesFrom entries.", strings.Join(parts, " -> "), e.to)
			case 0:
				if err := visit(e.to); err != nil {
					return err
				}
			}
			stack = stack[:len(stack)-1]
		}
		state[name] = done
		return nil
	}
	for _, c := range v.td.ContainerDefinitions {
		if state[c.Name] == 0 {
			if err := visit(c.Name); err != nil {
				return err
			}
		}
	}
	return nil
}
