package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inst returns a connected ACTIVE instance with 2048 CPU and 4096 MiB.
func inst(arn string, mut ...func(*Instance)) Instance {
	i := Instance{
		ARN: arn, Active: true, AgentConnected: true,
		Attributes: map[string]string{},
		Registered: Resources{CPU: 2048, MemoryMiB: 4096, PortsTCP: []int{22}},
		Groups:     map[string]int{},
	}
	for _, m := range mut {
		m(&i)
	}
	return i
}

func need(cpu, mem int, ports ...int) Need {
	return Need{Resources: Resources{CPU: cpu, MemoryMiB: mem, PortsTCP: ports}, Group: "family:web"}
}

func seeded() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func TestPlace(t *testing.T) {
	az := func(zone string) func(*Instance) {
		return func(i *Instance) { i.Attributes["ecs.availability-zone"] = zone }
	}
	for _, tc := range []struct {
		name      string
		instances []Instance
		req       Request
		want      []string
		anyOrder  bool
		failures  []Failure
	}{
		{
			name:      "fits",
			instances: []Instance{inst("a")},
			req:       Request{Count: 1, Need: need(512, 512)},
			want:      []string{"a"},
		},
		{
			name:      "memory accounted across one request",
			instances: []Instance{inst("a")},
			req:       Request{Count: 3, Need: need(0, 2000)},
			want:      []string{"a", "a"},
			failures:  []Failure{{"a", ReasonMemory}},
		},
		{
			name: "required attributes: only the instance that has them",
			instances: []Instance{inst("a"), inst("b", func(i *Instance) {
				i.Attributes["ecs.capability.container-ordering"] = ""
				i.Attributes["ecs.os-type"] = "linux"
			})},
			req: Request{Count: 1, Need: Need{Attributes: []RequiredAttribute{
				{Name: "ecs.capability.container-ordering"},
				{Name: "ecs.os-type", Value: ptr("linux")},
			}}},
			want:     []string{"b"},
			failures: nil,
		},
		{
			name:      "required attribute value differs",
			instances: []Instance{inst("a", func(i *Instance) { i.Attributes["ecs.os-type"] = "windows" })},
			req:       Request{Count: 1, Need: Need{Attributes: []RequiredAttribute{{Name: "ecs.os-type", Value: ptr("linux")}}}},
			failures:  []Failure{{"a", ReasonAttribute}},
		},
		{
			// No instance registers GPUs here: a GPU task never places.
			name:      "gpu",
			instances: []Instance{inst("a")},
			req:       Request{Count: 1, Need: Need{Resources: Resources{CPU: 10, MemoryMiB: 10, GPUs: 1}}},
			failures:  []Failure{{"a", ReasonGPU}},
		},
		{
			name:      "cpu exhausted by running tasks",
			instances: []Instance{inst("a", func(i *Instance) { i.Used.CPU = 2000 })},
			req:       Request{Count: 1, Need: need(100, 10)},
			failures:  []Failure{{"a", ReasonCPU}},
		},
		{
			name:      "registered port is not free",
			instances: []Instance{inst("a")},
			req:       Request{Count: 1, Need: need(0, 0, 22)},
			failures:  []Failure{{"a", ReasonPorts}},
		},
		{
			name:      "static host port taken by the first task of the request",
			instances: []Instance{inst("a"), inst("b")},
			req:       Request{Count: 3, Need: need(0, 0, 8080), Strategies: []Strategy{{StrategyBinpack, "memory"}}},
			want:      []string{"a", "b"},
			anyOrder:  true,
			failures:  []Failure{{"a", ReasonPorts}, {"b", ReasonPorts}},
		},
		{
			name:      "udp ports",
			instances: []Instance{inst("a", func(i *Instance) { i.Used.PortsUDP = []int{53} })},
			req:       Request{Count: 1, Need: Need{Resources: Resources{PortsUDP: []int{53}}}},
			failures:  []Failure{{"a", ReasonPortsUDP}},
		},
		{
			name:      "disconnected agent",
			instances: []Instance{inst("a", func(i *Instance) { i.AgentConnected = false }), inst("b")},
			req:       Request{Count: 2, Need: need(0, 100)},
			want:      []string{"b", "b"},
		},
		{
			name:      "only disconnected",
			instances: []Instance{inst("a", func(i *Instance) { i.AgentConnected = false })},
			req:       Request{Count: 1, Need: need(0, 100)},
			failures:  []Failure{{"a", ReasonAgent}},
		},
		{
			name:      "draining instances are not candidates",
			instances: []Instance{inst("a", func(i *Instance) { i.Active = false })},
			req:       Request{Count: 1, Need: need(0, 100)},
		},
		{
			name:      "binpack memory picks the fullest",
			instances: []Instance{inst("a"), inst("b", func(i *Instance) { i.Used.MemoryMiB = 3000 }), inst("c")},
			req:       Request{Count: 2, Need: need(0, 500), Strategies: []Strategy{{StrategyBinpack, "memory"}}},
			want:      []string{"b", "b"},
		},
		{
			name:      "binpack cpu",
			instances: []Instance{inst("a", func(i *Instance) { i.Used.CPU = 1024 }), inst("b")},
			req:       Request{Count: 1, Need: need(512, 0), Strategies: []Strategy{{StrategyBinpack, "cpu"}}},
			want:      []string{"a"},
		},
		{
			name:      "spread instanceId evens out existing tasks",
			instances: []Instance{inst("a", func(i *Instance) { i.Groups["family:web"] = 2 }), inst("b")},
			req:       Request{Count: 2, Need: need(0, 0), Strategies: []Strategy{{StrategySpread, "instanceId"}}},
			want:      []string{"b", "b"},
		},
		{
			name:      "spread ignores other groups",
			instances: []Instance{inst("a", func(i *Instance) { i.Groups["other"] = 5 }), inst("b", func(i *Instance) { i.Groups["family:web"] = 1 })},
			req:       Request{Count: 1, Need: need(0, 0), Strategies: []Strategy{{StrategySpread, "instanceId"}}},
			want:      []string{"a"},
		},
		{
			name: "spread across zones then binpack",
			instances: []Instance{
				inst("a1", az("z1"), func(i *Instance) { i.Groups["family:web"] = 1 }),
				inst("b1", az("z2")),
				inst("b2", az("z2"), func(i *Instance) { i.Used.MemoryMiB = 1000 }),
			},
			req: Request{Count: 3, Need: need(0, 100), Strategies: []Strategy{
				{StrategySpread, "attribute:ecs.availability-zone"}, {StrategyBinpack, "memory"}}},
			want: []string{"b2", "b2", "a1"},
		},
		{
			name:      "distinctInstance",
			instances: []Instance{inst("a"), inst("b", func(i *Instance) { i.Groups["family:web"] = 1 }), inst("c")},
			req:       Request{Count: 3, Need: need(0, 0), Constraints: []Constraint{{Type: ConstraintDistinctInstance}}},
			want:      []string{"a", "c"},
			anyOrder:  true,
			failures: []Failure{
				{"a", ReasonDistinctInstance}, {"b", ReasonDistinctInstance}, {"c", ReasonDistinctInstance}},
		},
		{
			name: "memberOf attribute",
			instances: []Instance{
				inst("a", func(i *Instance) { i.Attributes["ecs.instance-type"] = "t2.micro" }),
				inst("b", func(i *Instance) { i.Attributes["ecs.instance-type"] = "m5.large" }),
			},
			req: Request{Count: 2, Need: need(0, 0), Constraints: []Constraint{
				{Type: ConstraintMemberOf, Expression: "attribute:ecs.instance-type == m5.large"}}},
			want: []string{"b", "b"},
		},
		{
			name:      "memberOf unsatisfied everywhere",
			instances: []Instance{inst("a"), inst("b")},
			req: Request{Count: 1, Need: need(0, 0), Constraints: []Constraint{
				{Type: ConstraintMemberOf, Expression: "attribute:gpu exists"}}},
			failures: []Failure{{"a", ReasonMemberOf}, {"b", ReasonMemberOf}},
		},
		{
			name:      "agent is checked before resources",
			instances: []Instance{inst("a", func(i *Instance) { i.AgentConnected = false; i.Used.MemoryMiB = 4096 })},
			req:       Request{Count: 1, Need: need(0, 1)},
			failures:  []Failure{{"a", ReasonAgent}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Rand = seeded()
			before := tc.instances[0].Used.MemoryMiB
			res, err := Place(tc.instances, tc.req)
			require.NoError(t, err)
			if tc.anyOrder {
				assert.ElementsMatch(t, tc.want, res.Placements)
			} else {
				assert.Equal(t, tc.want, res.Placements)
			}
			assert.Equal(t, tc.failures, res.Failures)
			assert.Equal(t, before, tc.instances[0].Used.MemoryMiB, "inputs are not modified")
		})
	}
}

func TestPlaceRandomUsesEveryInstance(t *testing.T) {
	instances := []Instance{inst("a"), inst("b"), inst("c")}
	seen := map[string]bool{}
	r := seeded()
	for range 30 {
		res, err := Place(instances, Request{Count: 1, Need: need(0, 0), Strategies: []Strategy{{Type: StrategyRandom}}, Rand: r})
		require.NoError(t, err)
		seen[res.Placements[0]] = true
	}
	assert.Len(t, seen, 3)
}

func TestPlaceInvalidRequest(t *testing.T) {
	_, err := Place([]Instance{inst("a")}, Request{Count: 1, Strategies: []Strategy{{Type: "pack"}}})
	require.ErrorIs(t, err, ErrInvalid)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		strategies  []Strategy
		constraints []Constraint
		wantErr     string
	}{
		{name: "ok", strategies: []Strategy{{StrategySpread, "attribute:ecs.availability-zone"}, {StrategyBinpack, "memory"}, {Type: StrategyRandom}},
			constraints: []Constraint{{Type: ConstraintDistinctInstance}, {Type: ConstraintMemberOf, Expression: "task:group == a"}}},
		{name: "bad type", strategies: []Strategy{{Type: "fill"}}, wantErr: "placementStrategy type"},
		{name: "binpack field", strategies: []Strategy{{StrategyBinpack, "disk"}}, wantErr: "binpack field"},
		{name: "spread field", strategies: []Strategy{{StrategySpread, ""}}, wantErr: "spread field"},
		{name: "random field", strategies: []Strategy{{StrategyRandom, "cpu"}}, wantErr: "random strategy"},
		{name: "too many strategies", strategies: make([]Strategy, 6), wantErr: "at most 5"},
		{name: "memberOf without expression", constraints: []Constraint{{Type: ConstraintMemberOf}}, wantErr: "needs an expression"},
		{name: "distinct with expression", constraints: []Constraint{{Type: ConstraintDistinctInstance, Expression: "x"}}, wantErr: "takes no expression"},
		{name: "constraint type", constraints: []Constraint{{Type: "unique"}}, wantErr: "placementConstraints type"},
		{name: "bad expression", constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "attribute:a =="}}, wantErr: "missing value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.strategies, tc.constraints)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestExpressions(t *testing.T) {
	i := inst("a", func(i *Instance) {
		i.EC2InstanceID = "i-0abc"
		i.Attributes = map[string]string{"ecs.instance-type": "t2.micro", "ecs.availability-zone": "us-east-1a", "gpu": ""}
		i.Groups = map[string]int{"service:web": 1}
	})
	for expr, want := range map[string]bool{
		"attribute:ecs.instance-type == t2.micro":                                       true,
		"attribute:ecs.instance-type equals m5.large":                                   false,
		"attribute:ecs.instance-type != m5.large":                                       true,
		"attribute:missing != x":                                                        true,
		"attribute:gpu exists":                                                          true,
		"attribute:missing exists":                                                      false,
		"attribute:missing !exists":                                                     true,
		"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]":                   true,
		"attribute:ecs.availability-zone in [us-east-1c]":                               false,
		"attribute:ecs.availability-zone not_in [us-east-1c]":                           true,
		"attribute:ecs.instance-type =~ t2.*":                                           true,
		"attribute:ecs.instance-type !~ t2.*":                                           false,
		"ec2InstanceId == i-0abc":                                                       true,
		"ec2InstanceId in ['i-1', 'i-0abc']":                                            true,
		"task:group == service:web":                                                     true,
		"task:group != service:web":                                                     false,
		"task:group == service:api":                                                     false,
		"attribute:gpu exists and attribute:ecs.instance-type == m5.large":              false,
		"attribute:gpu exists or attribute:ecs.instance-type == m5.large":               true,
		"attribute:missing exists or attribute:gpu exists and ec2InstanceId == i-0abc":  true,
		"(attribute:missing exists or attribute:gpu exists) and ec2InstanceId == i-zzz": false,
		"attribute:a == x AND attribute:gpu exists OR task:group in [service:web]":      true,
	} {
		t.Run(expr, func(t *testing.T) {
			e, err := ParseExpression(expr)
			require.NoError(t, err)
			assert.Equal(t, want, e.Match(i))
		})
	}
}

func TestExpressionErrors(t *testing.T) {
	for _, expr := range []string{
		"", "attribute:", "cpu == 1", "attribute:a", "attribute:a ~~ b", "attribute:a in b",
		"attribute:a in [b", "attribute:a in [b,]", "(attribute:a exists", "attribute:a exists)",
		"task:group exists", "attribute:a =~ (", "attribute:a exists and",
		"attribute:a == 'x", `attribute:a in ["x, y]`,
	} {
		t.Run(expr, func(t *testing.T) {
			_, err := ParseExpression(expr)
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestTaskNeed(t *testing.T) {
	got := TaskNeed(0, 0, []ContainerNeed{
		{CPU: 256, Memory: 512, MemoryReservation: 128, GPUs: 1, PortsTCP: []int{80}},
		{CPU: 128, Memory: 300, GPUs: 2, PortsUDP: []int{53}},
	})
	assert.Equal(t, Resources{CPU: 384, MemoryMiB: 428, GPUs: 3, PortsTCP: []int{80}, PortsUDP: []int{53}}, got)
	got = TaskNeed(1024, 2048, []ContainerNeed{{CPU: 10, Memory: 10}})
	assert.Equal(t, 1024, got.CPU)
	assert.Equal(t, 2048, got.MemoryMiB)
}

func ptr(s string) *string { return &s }

// Place leaves the instances it was given as they were: their port lists
// and group counts too, even where there was room to append in place.
func TestPlaceLeavesItsInstancesAlone(t *testing.T) {
	instances := make([]Instance, 3)
	for i := range instances {
		instances[i] = Instance{ARN: fmt.Sprint("ci/", i), Active: true, AgentConnected: true,
			Registered: Resources{CPU: 4096, MemoryMiB: 8192},
			Used:       Resources{PortsTCP: make([]int, 1, 8), PortsUDP: make([]int, 1, 8)},
			Groups:     map[string]int{"service:web": 1}}
	}
	before := make([]Instance, len(instances))
	for i, inst := range instances {
		before[i] = cloneInstance(inst)
	}
	res, err := Place(instances, Request{Count: 3, Need: Need{Resources: Resources{CPU: 10, MemoryMiB: 10,
		PortsTCP: []int{8080}, PortsUDP: []int{53}}, Group: "service:web"}})
	require.NoError(t, err)
	require.Len(t, res.Placements, 3)
	for i := range instances {
		assert.Equal(t, before[i], instances[i])
		assert.Zero(t, instances[i].Used.PortsTCP[:2][1], "nothing written past the list's end")
		assert.Zero(t, instances[i].Used.PortsUDP[:2][1], "nothing written past the list's end")
	}
}
