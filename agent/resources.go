package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Registration resource names and types (reference §4).
const (
	resourceCPU      = "CPU"
	resourceMemory   = "MEMORY"
	resourcePorts    = "PORTS" // tracked as PORTS_TCP internally, sent as PORTS
	resourcePortsUDP = "PORTS_UDP"

	resourceTypeInteger   = "INTEGER"
	resourceTypeStringSet = "STRINGSET"
)

const defaultMemInfoPath = "/proc/meminfo"

// HostResources is what the instance offers to tasks.
type HostResources struct {
	CPU       int32 // CPU units, cores × 1024
	MemoryMiB int32 // MemTotal minus ECS_RESERVED_MEMORY
	PortsTCP  []uint16
	PortsUDP  []uint16
}

// hostResources measures the host. memInfoPath is /proc/meminfo in
// production.
func hostResources(memInfoPath string, reservedMemMiB uint16, tcp, udp []uint16) (HostResources, error) {
	f, err := os.Open(memInfoPath)
	if err != nil {
		return HostResources{}, fmt.Errorf("read host memory: %w", err)
	}
	defer f.Close()
	totalMiB, err := memTotalMiB(f)
	if err != nil {
		return HostResources{}, fmt.Errorf("read host memory from %s: %w", memInfoPath, err)
	}
	mem := totalMiB - int64(reservedMemMiB)
	if mem <= 0 {
		return HostResources{}, fmt.Errorf("ECS_RESERVED_MEMORY=%d MiB leaves no memory for tasks (host has %d MiB)",
			reservedMemMiB, totalMiB)
	}
	return HostResources{
		CPU:       int32(runtime.NumCPU() * 1024),
		MemoryMiB: int32(min(mem, 1<<31-1)),
		PortsTCP:  tcp,
		PortsUDP:  udp,
	}, nil
}

// memTotalMiB parses the MemTotal line ("MemTotal:  16314320 kB").
func memTotalMiB(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse MemTotal %q: %w", fields[1], err)
		}
		if len(fields) > 2 && fields[2] != "kB" {
			return 0, fmt.Errorf("unexpected MemTotal unit %q", fields[2])
		}
		return kb / 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no MemTotal line")
}

// registrationResources renders the resources as RegisterContainerInstance's
// totalResources.
func (h HostResources) registrationResources() []ecstypes.Resource {
	return []ecstypes.Resource{
		{Name: aws.String(resourceCPU), Type: aws.String(resourceTypeInteger), IntegerValue: h.CPU},
		{Name: aws.String(resourceMemory), Type: aws.String(resourceTypeInteger), IntegerValue: h.MemoryMiB},
		{Name: aws.String(resourcePorts), Type: aws.String(resourceTypeStringSet), StringSetValue: portStrings(h.PortsTCP)},
		{Name: aws.String(resourcePortsUDP), Type: aws.String(resourceTypeStringSet), StringSetValue: portStrings(h.PortsUDP)},
	}
}

// portStrings never returns nil: the incumbent sends "stringSetValue":[]
// for an empty set.
func portStrings(ports []uint16) []string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		out = append(out, strconv.Itoa(int(p)))
	}
	return out
}
