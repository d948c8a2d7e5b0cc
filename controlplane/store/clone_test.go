package store

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// fill sets every field reachable from v to a non-zero value: two
// elements in every slice, a value behind every pointer.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+*n%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Float64:
		v.SetFloat(float64(*n))
	case reflect.Uint8:
		v.SetUint(uint64('a' + *n%26))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), n)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(int64(*n), 0).UTC()))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill: kind %s of %s: teach fill and Clone about it", v.Kind(), v.Type())
	}
}

// sharesNothing fails when a pointer or slice of a is the same memory as
// b's.
func sharesNothing(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return
		}
		if a.Pointer() == b.Pointer() {
			t.Errorf("%s: the clone shares the pointer", path)
			return
		}
		sharesNothing(t, path, a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() == 0 {
			return
		}
		if a.Pointer() == b.Pointer() {
			t.Errorf("%s: the clone shares the slice", path)
			return
		}
		for i := range a.Len() {
			sharesNothing(t, path+"[]", a.Index(i), b.Index(i))
		}
	case reflect.Struct:
		if a.Type() == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := range a.NumField() {
			sharesNothing(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
		}
	case reflect.Map, reflect.Chan, reflect.Func, reflect.Interface:
		t.Errorf("%s: kind %s: teach Clone and this test about it", path, a.Kind())
	}
}

func TestCloneSharesNothing(t *testing.T) {
	check := func(name string, orig any, clone func() any) {
		t.Run(name, func(t *testing.T) {
			n := 0
			fill(t, reflect.ValueOf(orig).Elem(), &n)
			got := clone()
			if !reflect.DeepEqual(reflect.ValueOf(orig).Elem().Interface(), got) {
				t.Fatalf("the clone differs from the original")
			}
			sharesNothing(t, name, reflect.ValueOf(orig).Elem(), reflect.ValueOf(got))
		})
	}
	var ci ContainerInstance
	check("ContainerInstance", &ci, func() any { return ci.Clone() })
	var task Task
	check("Task", &task, func() any { return task.Clone() })
	var lt LiveTask
	check("LiveTask", &lt, func() any { return lt.Clone() })
	var svc Service
	check("Service", &svc, func() any { return svc.Clone() })
}

// TestLiveTaskSummariesMatchLiveTasks: the summaries are the live tasks'
// Live(), in the same order, read once decoded and once from the cache.
func TestLiveTaskSummariesMatchLiveTasks(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Update(func(tx Tx) error {
		for i, status := range []string{TaskPending, TaskRunning, TaskStopped, TaskRunning} {
			task := Task{ID: fmt.Sprint("t", i), Cluster: "c", ContainerInstanceARN: fmt.Sprint("ci", i%2),
				LastStatus: status, DesiredStatus: TaskRunning, Group: "service:web", StartedBy: "ecs-svc/1",
				Reserved: Reservation{CPU: 2, MemoryMiB: 16, PortsTCP: []int{8000 + i}}}
			if err := tx.PutTask(task); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, instance := range []string{"", "ci1", "", "ci1"} {
		err = s.View(func(tx Tx) error {
			full, err := tx.LiveTasks("c", instance)
			if err != nil {
				return err
			}
			got, err := tx.LiveTaskSummaries("c", instance)
			if err != nil {
				return err
			}
			var want []LiveTask
			for _, task := range full {
				want = append(want, task.Live())
			}
			if !reflect.DeepEqual(got, want) || len(got) == 0 {
				t.Errorf("instance %q: summaries %+v, want %+v", instance, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDecodeCacheAnswersWhatDecodingGives: a hit is used only for the
// same bytes, and a changed answer never reaches the cache.
func TestDecodeCacheAnswersWhatDecodingGives(t *testing.T) {
	c := newDecodeCache(4, Task.Clone)
	raw := func(status string) []byte {
		b, err := json.Marshal(Task{ID: "t", LastStatus: status, Containers: []TaskContainer{{Name: "web"}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	key := []byte("c/t")
	first, err := c.decode(bucketTasks, key, raw("PENDING"))
	if err != nil {
		t.Fatal(err)
	}
	first.Containers[0].Name = "changed by a caller"
	again, err := c.decode(bucketTasks, key, raw("PENDING"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Containers[0].Name != "web" {
		t.Errorf("a caller's change reached the cache: container %q", again.Containers[0].Name)
	}
	changed, err := c.decode(bucketTasks, key, raw("RUNNING"))
	if err != nil {
		t.Fatal(err)
	}
	if changed.LastStatus != "RUNNING" {
		t.Errorf("new bytes answered with the old value: %s", changed.LastStatus)
	}
	if _, err := c.decode(bucketTasks, key, []byte("{")); err == nil {
		t.Error("bad JSON decoded without an error")
	}
	for i := range 10 {
		if _, err := c.decode(bucketTasks, []byte{byte(i)}, raw("RUNNING")); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.entries) > 4 {
		t.Errorf("the cache holds %d entries, over its limit of 4", len(c.entries))
	}
}
