package scheduler

import (
	"fmt"
	"testing"
)

// BenchmarkPlaceSpread20On500 places a service's 20 tasks on a
// 500-instance fleet with the services' default strategy (spread over
// availability zones, then instances), 1,000 tasks already running.
func BenchmarkPlaceSpread20On500(b *testing.B) {
	instances := make([]Instance, 500)
	for i := range instances {
		instances[i] = Instance{
			ARN:        fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:container-instance/c/%032x", i),
			Attributes: map[string]string{"ecs.availability-zone": fmt.Sprintf("us-east-1%c", 'a'+i%3)},
			Active:     true, AgentConnected: true, Registered: Resources{CPU: 2048, MemoryMiB: 4096},
			Used:   Resources{CPU: 4, MemoryMiB: 32},
			Groups: map[string]int{fmt.Sprintf("service:s%d", i%50): 2},
		}
	}
	req := Request{Count: 20, Need: Need{Resources: Resources{CPU: 2, MemoryMiB: 16}, Group: "service:new"},
		Strategies: []Strategy{{Type: StrategySpread, Field: "attribute:ecs.availability-zone"}, {Type: StrategySpread, Field: "instanceId"}}}
	for b.Loop() {
		res, err := Place(instances, req)
		if err != nil || len(res.Placements) != 20 {
			b.Fatalf("placed %d: %v %v", len(res.Placements), err, res.Failures)
		}
	}
}
