package payload

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrInvalidSize is returned (wrapped) for a task cpu or memory string that
// cannot be read.
var ErrInvalidSize = errors.New("invalid size")

// ParseCPU reads a task-level cpu string as ECS does: CPU units ("1024") or
// vCPUs with the unit spelled out ("1 vCPU", "0.25 vcpu"). It returns CPU
// units (1 vCPU = 1024); "" is 0.
func ParseCPU(s string) (int, error) {
	return parseSize(s, "vcpu", 1024)
}

// ParseMemory reads a task-level memory string as ECS does: MiB ("512") or
// GB with the unit spelled out ("0.5 GB", "2GB"; 1 GB = 1024 MiB). It
// returns MiB; "" is 0.
func ParseMemory(s string) (int, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	for _, unit := range []string{"mib", "mb"} {
		if n, ok := strings.CutSuffix(v, unit); ok {
			if strings.TrimSpace(n) == "" {
				return 0, fmt.Errorf("%q: %w", s, ErrInvalidSize)
			}
			v = strings.TrimSpace(n)
			break
		}
	}
	return parseSize(v, "gb", 1024)
}

// parseSize reads "<integer>" or "<number> <unit>" (the unit compared
// without case), the latter multiplied by perUnit.
func parseSize(s, unit string, perUnit float64) (int, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "" {
		return 0, nil
	}
	if num, ok := strings.CutSuffix(v, unit); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || !(f > 0) || f*perUnit > math.MaxInt32 { // !(f > 0) also rejects NaN
			return 0, fmt.Errorf("%q: %w", s, ErrInvalidSize)
		}
		return int(math.Round(f * perUnit)), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: %w", s, ErrInvalidSize)
	}
	return n, nil
}
