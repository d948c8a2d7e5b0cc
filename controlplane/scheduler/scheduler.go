// Package scheduler places tasks on container instances the way ECS does
// for RunTask: it filters the candidate instances by agent connection,
// placement constraints and free resources (CPU, memory, static host
// ports), then orders the ones that fit by the placement strategies and
// takes the first. It is pure: the caller passes the instances and what
// their tasks already hold, and writes the result.
//
// Resources of one request are accounted as its tasks are placed, so a
// count of 3 on an instance with room for 2 yields 2 placements and a
// failure.
package scheduler

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// Failure reasons, verbatim as ECS reports them in RunTask failures.
const (
	ReasonCPU              = "RESOURCE:CPU"
	ReasonMemory           = "RESOURCE:MEMORY"
	ReasonPorts            = "RESOURCE:PORTS"
	ReasonPortsUDP         = "RESOURCE:PORTS_UDP"
	ReasonGPU              = "RESOURCE:GPU"
	ReasonAgent            = "AGENT"
	ReasonAttribute        = "ATTRIBUTE"
	ReasonMemberOf         = "MemberOf placement constraint unsatisfied."
	ReasonDistinctInstance = "DistinctInstance placement constraint unsatisfied."
)

// Strategy and constraint types.
const (
	StrategyRandom  = "random"
	StrategySpread  = "spread"
	StrategyBinpack = "binpack"

	ConstraintDistinctInstance = "distinctInstance"
	ConstraintMemberOf         = "memberOf"
)

// Resources is an amount of CPU units, memory (MiB), GPUs and host ports.
//
// No instance registers GPUs with this control plane: the agent reports no
// GPU devices, and the control plane cannot assign GPU IDs to containers.
// A task that needs a GPU therefore never places (RESOURCE:GPU) rather than
// run without one.
type Resources struct {
	CPU       int
	MemoryMiB int
	GPUs      int
	PortsTCP  []int
	PortsUDP  []int
}

// Instance is a candidate container instance.
type Instance struct {
	ARN           string
	EC2InstanceID string
	// Attributes maps attribute names to values ("" for name-only ones).
	// Placement only reads it: the control plane shares one map between
	// the placements that read the same instance.
	Attributes     map[string]string
	Active         bool // status ACTIVE (DRAINING and INACTIVE take no tasks)
	AgentConnected bool
	// Registered is what the instance registered; its ports are the host
	// ports that are not available to tasks.
	Registered Resources
	// Used is what its tasks that are not STOPPED hold.
	Used Resources
	// Groups counts its tasks that are not STOPPED by task group.
	Groups map[string]int
	// AgentVersion, RegisteredAt and RunningTasks (its tasks whose last
	// status is RUNNING) are what the cluster query language's
	// agentVersion, registeredAt and runningTasksCount read.
	AgentVersion string
	RegisteredAt time.Time
	RunningTasks int
}

// Need is what one task needs and the group it belongs to.
type Need struct {
	Resources
	Group string
	// Attributes are the task definition's requiresAttributes: each name
	// must be an attribute of the instance, with the same value when one
	// is given (nil value: any).
	Attributes []RequiredAttribute
	// External is true for a task of launch type EXTERNAL. As in ECS, such
	// a task runs only on an instance registered as external (attribute
	// AttrExternal), and an EC2 task never runs on one.
	External bool
}

// AttrExternal is the attribute an ECS Anywhere agent registers with.
const AttrExternal = "ecs.capability.external"

// RequiredAttribute is one entry of a task definition's requiresAttributes.
type RequiredAttribute struct {
	Name  string
	Value *string
}

// Strategy is a placement strategy: random; spread with field instanceId,
// host or attribute:<name>; binpack with field cpu or memory.
type Strategy struct {
	Type  string
	Field string
}

// Constraint is a placement constraint: distinctInstance, or memberOf with
// a cluster query language expression.
type Constraint struct {
	Type       string
	Expression string
}

// Request asks for Count tasks of one kind.
type Request struct {
	Count       int
	Need        Need
	Strategies  []Strategy
	Constraints []Constraint
	// Rand orders instances for the random strategy and breaks ties; nil
	// means a randomly seeded source.
	Rand *rand.Rand
}

// Failure is an instance that could not take a task, and why.
type Failure struct {
	ARN    string
	Reason string
}

// Result lists the instance chosen for each placed task, in order, and the
// failures that kept the others from being placed (one per instance and
// reason).
type Result struct {
	Placements []string
	Failures   []Failure
}

// candidate is an instance being filled by one request. It shares the
// caller's port lists and group counts until a task is placed on it
// (take), so that a placement on 500 instances copies only those it
// fills.
type candidate struct {
	Instance
	owned    bool // Used's port lists and Groups are this candidate's own
	memberOf bool // every memberOf constraint holds
	tie      uint64
	// spread holds, for each strategy of the request, the instance's
	// value of its field when it is a spread (see spreadValue).
	spread []string
}

// Place places req.Count tasks on instances. It returns an error only for
// an invalid request (see Validate); instances are not modified.
func Place(instances []Instance, req Request) (Result, error) {
	if err := Validate(req.Strategies, req.Constraints); err != nil {
		return Result{}, err
	}
	exprs := make([]Expr, 0, len(req.Constraints))
	distinct := false
	for _, c := range req.Constraints {
		if c.Type == ConstraintDistinctInstance {
			distinct = true
			continue
		}
		e, err := ParseExpression(c.Expression)
		if err != nil {
			return Result{}, err
		}
		exprs = append(exprs, e)
	}
	r := req.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}

	cands := make([]*candidate, 0, len(instances))
	for _, inst := range instances {
		if !inst.Active {
			continue
		}
		c := &candidate{Instance: inst, memberOf: true, spread: make([]string, len(req.Strategies))}
		for i, st := range req.Strategies {
			if st.Type == StrategySpread {
				c.spread[i] = spreadValue(c.Instance, st.Field)
			}
		}
		for _, e := range exprs {
			if !e.Match(c.Instance) {
				c.memberOf = false
				break
			}
		}
		cands = append(cands, c)
	}

	totals := spreadTotals(cands, req)
	var res Result
	for range req.Count {
		var fits []*candidate
		var failures []Failure
		for _, c := range cands {
			if reason := c.check(req.Need, distinct); reason != "" {
				failures = append(failures, Failure{ARN: c.ARN, Reason: reason})
				continue
			}
			fits = append(fits, c)
		}
		if len(fits) == 0 {
			// Nothing changes for the remaining tasks: they fail alike.
			res.Failures = failures
			break
		}
		for _, c := range fits {
			c.tie = r.Uint64()
		}
		best := slices.MinFunc(fits, func(a, b *candidate) int { return compare(a, b, totals, req) })
		best.take(req.Need)
		for i, m := range totals {
			if m != nil {
				m[best.spread[i]]++ // take added one task of the group
			}
		}
		res.Placements = append(res.Placements, best.ARN)
	}
	return res, nil
}

// check returns why c cannot take the task, or "".
func (c *candidate) check(n Need, distinct bool) string {
	switch {
	case !c.AgentConnected:
		return ReasonAgent
	case !c.hasAttributes(n.Attributes):
		return ReasonAttribute
	case c.isExternal() != n.External:
		return ReasonAttribute
	case !c.memberOf:
		return ReasonMemberOf
	case distinct && c.Groups[n.Group] > 0:
		return ReasonDistinctInstance
	case n.GPUs > c.Registered.GPUs-c.Used.GPUs:
		return ReasonGPU
	case n.CPU > c.Registered.CPU-c.Used.CPU:
		return ReasonCPU
	case n.MemoryMiB > c.Registered.MemoryMiB-c.Used.MemoryMiB:
		return ReasonMemory
	case portsTaken(n.PortsTCP, c.Registered.PortsTCP, c.Used.PortsTCP):
		return ReasonPorts
	case portsTaken(n.PortsUDP, c.Registered.PortsUDP, c.Used.PortsUDP):
		return ReasonPortsUDP
	}
	return ""
}

func (c *candidate) isExternal() bool {
	_, ok := c.Attributes[AttrExternal]
	return ok
}

// hasAttributes reports whether the instance has every required attribute.
func (c *candidate) hasAttributes(req []RequiredAttribute) bool {
	for _, a := range req {
		v, ok := c.Attributes[a.Name]
		if !ok || (a.Value != nil && *a.Value != v) {
			return false
		}
	}
	return true
}

func portsTaken(want []int, lists ...[]int) bool {
	for _, p := range want {
		for _, l := range lists {
			if slices.Contains(l, p) {
				return true
			}
		}
	}
	return false
}

func (c *candidate) take(n Need) {
	if !c.owned {
		c.Instance = cloneInstance(c.Instance)
		c.owned = true
	}
	c.Used.CPU += n.CPU
	c.Used.MemoryMiB += n.MemoryMiB
	c.Used.GPUs += n.GPUs
	c.Used.PortsTCP = append(c.Used.PortsTCP, n.PortsTCP...)
	c.Used.PortsUDP = append(c.Used.PortsUDP, n.PortsUDP...)
	c.Groups[n.Group]++
}

// compare orders two fitting candidates by the strategies in turn; the
// random tie-breaker decides what they leave equal, which makes "random"
// the default and the last word of every strategy list.
func compare(a, b *candidate, totals []map[string]int, req Request) int {
	for i, s := range req.Strategies {
		var d int
		switch s.Type {
		case StrategySpread:
			// Fewer tasks of the group on instances sharing the field's
			// value first.
			d = cmp.Compare(totals[i][a.spread[i]], totals[i][b.spread[i]])
		case StrategyBinpack:
			// Least remaining of the resource first: fill instances up.
			d = cmp.Compare(remaining(a, s.Field), remaining(b, s.Field))
		case StrategyRandom:
			d = cmp.Compare(a.tie, b.tie)
		}
		if d != 0 {
			return d
		}
	}
	return cmp.Compare(a.tie, b.tie)
}

func remaining(c *candidate, field string) int {
	if field == "cpu" {
		return c.Registered.CPU - c.Used.CPU
	}
	return c.Registered.MemoryMiB - c.Used.MemoryMiB
}

// spreadValue is the value of a spread field on an instance; instances
// without the attribute share the value "".
func spreadValue(inst Instance, field string) string {
	switch field {
	case "instanceId", "host":
		return inst.ARN
	}
	name, _ := cutAttribute(field)
	return inst.Attributes[name]
}

// spreadTotals counts, for each spread strategy of req, the group's tasks
// on every candidate by the candidate's value of the strategy's field:
// once per placement, so that comparing two candidates is two lookups
// rather than a pass over the cluster (which made placing a service's
// tasks on a large fleet quadratic in its size).
func spreadTotals(cands []*candidate, req Request) []map[string]int {
	totals := make([]map[string]int, len(req.Strategies))
	for i, s := range req.Strategies {
		if s.Type != StrategySpread {
			continue
		}
		m := map[string]int{}
		for _, c := range cands {
			m[c.spread[i]] += c.Groups[req.Need.Group]
		}
		totals[i] = m
	}
	return totals
}

func cloneInstance(in Instance) Instance {
	in.Used.PortsTCP = slices.Clone(in.Used.PortsTCP)
	in.Used.PortsUDP = slices.Clone(in.Used.PortsUDP)
	groups := make(map[string]int, len(in.Groups)+1)
	for k, v := range in.Groups {
		groups[k] = v
	}
	in.Groups = groups
	return in
}
