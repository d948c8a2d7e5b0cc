package scheduler

// ContainerNeed is what one container definition asks for.
type ContainerNeed struct {
	CPU               int
	Memory            int // hard limit, MiB; 0 if unset
	MemoryReservation int // soft limit, MiB; 0 if unset
	GPUs              int // resourceRequirements of type GPU
	PortsTCP          []int
	PortsUDP          []int
}

// TaskNeed computes a task's resources as ECS does: the task-level cpu and
// memory when set (non-zero), else the sum over its containers of cpu and
// of memoryReservation, or memory when no reservation is set. GPUs and
// static host ports are those of every container.
func TaskNeed(taskCPU, taskMemory int, containers []ContainerNeed) Resources {
	var r Resources
	for _, c := range containers {
		r.CPU += c.CPU
		r.GPUs += c.GPUs
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
