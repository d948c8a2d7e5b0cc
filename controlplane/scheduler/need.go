package scheduler

import (
	"math"
	"strconv"
	"strings"
)

// ContainerNeed is what one container definition asks for.
type ContainerNeed struct {
	CPU               int
	Memory            int // hard limit, MiB; 0 if unset
	MemoryReservation int // soft limit, MiB; 0 if unset
	PortsTCP          []int
	PortsUDP          []int
}

// TaskNeed computes a task's resources as ECS does: the task-level cpu and
// memory when set (non-zero), else the sum over its containers of cpu and
// of memoryReservation, or memory when no reservation is set. Static host
// ports are those of every container.
func TaskNeed(taskCPU, taskMemory int, containers []ContainerNeed) Resources {
	var r Resources
	for _, c := range containers {
		r.CPU += c.CPU
		if c.MemoryReservation > 0 {
			r.MemoryMiB += c.MemoryReservation
		} else {
			r.MemoryMiB += c.Memory
		}
		r.PortsTCP = append(r.PortsTCP, c.PortsTCP...)
		r.PortsUDP = append(r.PortsUDP, c.PortsUDP...)
	}
	if taskCPU > 0 {
		r.CPU = taskCPU
	}
	if taskMemory > 0 {
		r.MemoryMiB = taskMemory
	}
	return r
}

// ParseCPU reads a task-level cpu string: CPU units ("1024") or vCPUs
// ("1 vCPU", "0.5 vcpu"). "" is 0. ok is false for anything else.
func ParseCPU(s string) (int, bool) {
	return parseUnits(s, "vcpu", 1024)
}

// ParseMemory reads a task-level memory string: MiB ("2048") or GB
// ("2 GB", "0.5gb"). "" is 0. ok is false for anything else.
func ParseMemory(s string) (int, bool) {
	return parseUnits(s, "gb", 1024)
}

func parseUnits(s, unit string, scale float64) (int, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0, true
	}
	mult := 1.0
	if num, ok := strings.CutSuffix(s, unit); ok {
		s, mult = strings.TrimSpace(num), scale
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	v := f * mult
	if mult == 1 && v != math.Trunc(v) {
		return 0, false
	}
	return int(math.Round(v)), true
}
