package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/engine/images"
	rt "github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// fixtureV1 is an agent.db written by schema version 1 (see its README).
const fixtureV1 = "testdata/agentdb-v1"

// frozenDocker is the Docker a fixture's agent left behind: inspections
// answer from the fixture's docker.json; everything else goes to an empty
// fake, which counts the calls.
type frozenDocker struct {
	*enginetest.Fake
	byRef map[string]rt.Container // by ID and by name
}

func newFrozenDocker(t *testing.T, dir string) *frozenDocker {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, fixtureDocker))
	require.NoError(t, err)
	var list []rt.Container
	require.NoError(t, json.Unmarshal(raw, &list))
	d := &frozenDocker{Fake: enginetest.NewFake(), byRef: map[string]rt.Container{}}
	for _, c := range list {
		d.byRef[c.ID], d.byRef[c.Name] = c, c
	}
	return d
}

func (d *frozenDocker) InspectContainer(ctx context.Context, ref string) (rt.Container, error) {
	if c, ok := d.byRef[ref]; ok {
		return c, nil
	}
	return d.Fake.InspectContainer(ctx, ref)
}

// storedTask is the part of a task record the upgrade tests compare.
type storedTask struct {
	ReportVersion, SentVersion uint64
	KnownStatus                string
}

func storedTasks(t *testing.T, s statemanager.Store) map[string]storedTask {
	t.Helper()
	out := map[string]storedTask{}
	require.NoError(t, s.ForEach(statemanager.BucketTasks, func(k string, raw []byte) error {
		var st storedTask
		require.NoError(t, json.Unmarshal(raw, &st))
		out[k] = st
		return nil
	}))
	return out
}

// upgraded is what an agent of this version made of a fixture.
type upgraded struct {
	before, after map[string]storedTask
	reports       []TaskReport
	snaps         []TaskSnapshot
	docker        *frozenDocker
}

// loadFixture copies a fixture's agent.db, lets edit change it as stored,
// runs this version's store, image manager and engine over it until the
// stored tasks are reconciled with the fixture's Docker, and stops.
func loadFixture(t *testing.T, dir string, edit func(s statemanager.Store)) upgraded {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, statemanager.DBFileName))
	require.NoError(t, err)
	dataDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, statemanager.DBFileName), raw, 0o600))
	store, err := statemanager.OpenBolt(dataDir, statemanager.BoltOptions{})
	require.NoError(t, err, "this version opens a file of schema version 1")
	defer store.Close()
	if edit != nil {
		edit(store)
	}
	u := upgraded{before: storedTasks(t, store), docker: newFrozenDocker(t, dir)}

	cfg := fixtureConfig()
	imgs, err := images.New(images.Options{Runtime: u.docker, Store: store, Config: cfg})
	require.NoError(t, err)
	e, err := New(Options{
		Runtime: u.docker, Images: imgs, Store: store, Config: cfg,
		HostResources: HostResources{CPU: 2048, MemoryMiB: 4096},
		PortFree:      func(string, uint16) bool { return true },
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	select {
	case <-e.Ready():
	case err := <-done:
		t.Fatalf("the engine did not load the fixture: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not become ready")
	}
	cancel()
	require.NoError(t, <-done)
	u.reports, u.snaps = e.Reports(), e.Snapshot()
	u.after = storedTasks(t, store)
	return u
}

// Today's agent.db loads under this version: every task is back as it
// was, no report version moves, and only the report that was never
// acknowledged is pending, under its old version.
func TestFixtureV1LoadsWithoutReReporting(t *testing.T) {
	u := loadFixture(t, fixtureV1, nil)

	require.Len(t, u.before, 4)
	assert.Equal(t, u.before, u.after, "no report version bumped, no acknowledgement lost")
	status := map[string]string{}
	for _, s := range u.snaps {
		status[taskID(s.ARN)] = s.KnownStatus
	}
	assert.Equal(t, map[string]string{
		fixtureRunning: StatusRunning, fixturePending: StatusRunning,
		fixtureExited: StatusStopped, fixtureRefused: StatusStopped,
	}, status)
	require.Len(t, u.reports, 1, "nothing acknowledged is sent again")
	assert.Equal(t, arn(fixturePending), u.reports[0].TaskARN)
	assert.Equal(t, u.before[fixturePending].ReportVersion, u.reports[0].Version)
	for _, call := range []string{"CreateContainer", "StartContainer", "StopContainer", "RemoveContainer"} {
		assert.Zero(t, u.docker.Calls(call), "%s: loading changes nothing in Docker", call)
	}
}

// A newer agent whose report has a field the stored one lacks must not
// count that as a change of every task. Simulated by removing a field
// from the stored reports: the file then looks as if written before the
// report had it.
func TestFixtureReportFieldAddedIsNoChange(t *testing.T) {
	u := loadFixture(t, fixtureV1, func(s statemanager.Store) {
		var recs []statemanager.Record
		require.NoError(t, s.ForEach(statemanager.BucketTasks, func(k string, raw []byte) error {
			var rec map[string]any
			require.NoError(t, json.Unmarshal(raw, &rec))
			last, _ := rec["LastReport"].(map[string]any)
			containers, _ := last["Containers"].([]any)
			for _, c := range containers {
				delete(c.(map[string]any), "NetworkBindings")
			}
			recs = append(recs, statemanager.Record{Bucket: statemanager.BucketTasks, Key: k, Value: rec})
			return nil
		}))
		require.NoError(t, s.PutMany(recs...))
	})
	assert.Equal(t, u.before, u.after, "no report version bumped")
	require.Len(t, u.reports, 1)
	assert.Equal(t, arn(fixturePending), u.reports[0].TaskARN)
	for _, s := range u.snaps {
		if taskID(s.ARN) == fixtureRunning {
			assert.NotEmpty(t, s.container("web").Ports, "the task still has its port")
		}
	}
}
