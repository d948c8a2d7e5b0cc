package store

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkPlacementRead is what placement reads on every RunTask and
// service round (ecsapi's placementState): every instance of a
// 500-instance cluster (each with the 60 attributes an agent registers),
// shared with the cache, and its 1,000 live task summaries. "decoded"
// starts each read with empty caches, as the store did before it had
// them; "cached" is the steady state.
func BenchmarkPlacementRead(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	err = s.Update(func(tx Tx) error {
		for i := range 500 {
			ci := ContainerInstance{ID: fmt.Sprintf("%032x", i), Cluster: "c", Status: StatusActive,
				ARN: fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:container-instance/c/%032x", i),
				RegisteredResources: []Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 2048},
					{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22", "2375", "2376", "51678", "51679"}}}}
			for a := range 60 {
				v := "true"
				ci.Attributes = append(ci.Attributes, Attribute{Name: fmt.Sprintf("com.amazonaws.ecs.capability.feature-%d", a), Value: &v})
			}
			if err := tx.PutInstance(ci); err != nil {
				return err
			}
			for j := range 2 {
				t := Task{ID: fmt.Sprintf("%032x", i*2+j), Cluster: "c", ContainerInstanceARN: ci.ARN,
					LastStatus: TaskRunning, DesiredStatus: TaskRunning, Group: "service:web",
					Containers: []TaskContainer{{Name: "web", LastStatus: TaskRunning, NetworkBindings: []NetworkBinding{}}},
					Reserved:   Reservation{CPU: 2, MemoryMiB: 16}}
				if err := tx.PutTask(t); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	read := func(b *testing.B) {
		err := s.View(func(tx Tx) error {
			is, err := tx.InstancesShared("c")
			if err != nil || len(is) != 500 {
				return fmt.Errorf("instances: %d, %v", len(is), err)
			}
			ts, err := tx.LiveTaskSummaries("c", "")
			if err != nil || len(ts) != 1000 {
				return fmt.Errorf("live tasks: %d, %v", len(ts), err)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("decoded", func(b *testing.B) {
		for b.Loop() {
			s.caches = newDecodeCaches()
			read(b)
		}
	})
	b.Run("cached", func(b *testing.B) {
		read(b)
		for b.Loop() {
			read(b)
		}
	})
}
