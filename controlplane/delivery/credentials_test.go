package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/roles"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

const (
	appRole  = "arn:aws:iam::123456789012:role/app"
	execRole = "arn:aws:iam::123456789012:role/exec"
)

// keySource issues "key-<n>" credentials that last an hour, or fails.
type keySource struct {
	mu       sync.Mutex
	n        int
	err      error
	sessions []string
}

func (s *keySource) Issue(_ context.Context, roleARN, session string) (roles.Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return roles.Credentials{}, s.err
	}
	s.n++
	s.sessions = append(s.sessions, session)
	return roles.Credentials{AccessKeyID: fmt.Sprintf("key-%d", s.n), SecretAccessKey: fmt.Sprintf("secret-%d", s.n),
		SessionToken: "token", Expiration: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}, nil
}

func (s *keySource) String() string { return "test keys" }

func roleTask(desired string) store.Task {
	t := newTask(desired)
	t.RoleCredentials = []store.TaskRoleCredentials{
		{Type: store.RoleTypeTask, ID: "cred-task", RoleARN: appRole},
		{Type: store.RoleTypeExecution, ID: "cred-exec", RoleARN: execRole},
	}
	return t
}

// anySender records every message it is given.
type anySender struct{ msgs chan any }

func (s *anySender) Send(_ string, msg any) error {
	s.msgs <- msg
	return nil
}

func startWithRoles(t *testing.T, src roles.Source) (*Deliverer, *anySender, *store.Bolt) {
	t.Helper()
	st := openStore(t)
	snd := &anySender{msgs: make(chan any, 64)}
	d := New(Options{Store: st, Sender: snd, RedeliverInterval: time.Hour, Roles: roles.NewIssuer(src, nil)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return d, snd, st
}

// A task's payload carries the credentials issued for its roles, under
// the IDs the store names, for a session named after the task.
func TestPayloadCarriesIssuedCredentials(t *testing.T) {
	src := &keySource{}
	d, snd, st := startWithRoles(t, src)
	require.NoError(t, Watch(st, d).Update(func(tx store.Tx) error { return tx.PutTask(roleTask(store.TaskRunning)) }))
	p := recv(t, snd.msgs).(*wire.PayloadMessage)
	require.Len(t, p.Tasks, 1)
	rc, ec := p.Tasks[0].RoleCredentials, p.Tasks[0].ExecutionRoleCredentials
	require.NotNil(t, rc)
	require.NotNil(t, ec)
	assert.Equal(t, "cred-task", rc.CredentialsID)
	assert.Equal(t, appRole, rc.RoleARN)
	assert.Equal(t, "key-1", rc.AccessKeyID)
	assert.Equal(t, "secret-1", rc.SecretAccessKey)
	_, err := time.Parse(time.RFC3339, rc.Expiration)
	assert.NoError(t, err, "expiration %q", rc.Expiration)
	assert.Equal(t, "cred-exec", ec.CredentialsID)
	assert.Equal(t, "key-2", ec.AccessKeyID)
	assert.Equal(t, []string{"11112222333344445555666677778888", "11112222333344445555666677778888"}, src.sessions)
}

// A task whose role cannot be assumed never reaches the agent: it stops,
// and its reason says why.
func TestTaskStopsWhenItsRoleCannotBeAssumed(t *testing.T) {
	d, snd, st := startWithRoles(t, &keySource{err: errors.New("AccessDenied: not authorized to assume the role")})
	marker := newTask(store.TaskRunning)
	marker.ID, marker.ARN = "aaaa", "arn:aws:ecs:us-east-1:123456789012:task/default/aaaa"
	require.NoError(t, Watch(st, d).Update(func(tx store.Tx) error {
		if err := tx.PutTask(roleTask(store.TaskRunning)); err != nil {
			return err
		}
		return tx.PutTask(marker)
	}))
	p := recv(t, snd.msgs).(*wire.PayloadMessage)
	require.Len(t, p.Tasks, 1, "only the task without a role")
	assert.Equal(t, marker.ARN, p.Tasks[0].ARN)
	var task store.Task
	require.NoError(t, st.View(func(tx store.Tx) (err error) {
		task, err = tx.Task("default", "11112222333344445555666677778888")
		return err
	}))
	assert.Equal(t, store.TaskStopped, task.LastStatus)
	assert.Equal(t, store.TaskStopped, task.DesiredStatus)
	assert.Equal(t, store.StopCodeTaskFailedToStart, task.StopCode)
	assert.Equal(t, "ResourceInitializationError: unable to get the credentials of the task's role: TaskApplication "+appRole+
		": AccessDenied: not authorized to assume the role", task.StoppedReason)
	assert.False(t, task.Holds(), "its resources are free again")
}

// ackedRoleTask is a task the agent runs: it acknowledged RUNNING.
func ackedRoleTask() store.Task {
	t := roleTask(store.TaskRunning)
	t.LastStatus = store.TaskRunning
	t.Delivery.AckedDesiredStatus = store.TaskRunning
	return t
}

func credsMsg(t *testing.T, ch <-chan any) *wire.IAMRoleCredentialsMessage {
	t.Helper()
	select {
	case m := <-ch:
		c, ok := m.(*wire.IAMRoleCredentialsMessage)
		require.True(t, ok, "got %T", m)
		return c
	default:
		t.Fatal("no credentials message was sent")
		return nil
	}
}

func requireNone(t *testing.T, ch <-chan any) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected message %+v", m)
	default:
	}
}

// The refresher pushes new credentials at half-life, resends a push until
// the agent acknowledges it, gives an agent that asks every credential of
// its tasks at once, and forgets the credentials of stopped tasks.
func TestRefresherKeepsCredentialsFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t)
		task := ackedRoleTask()
		task.RoleCredentials = task.RoleCredentials[:1]
		require.NoError(t, st.Update(func(tx store.Tx) error {
			if err := tx.PutCluster(store.Cluster{Name: "default", ARN: testCluster, Status: store.StatusActive}); err != nil {
				return err
			}
			return tx.PutTask(task)
		}))
		snd := &anySender{msgs: make(chan any, 64)}
		issuer := roles.NewIssuer(&keySource{}, nil)
		r := NewRefresher(RefresherOptions{Store: st, Sender: snd, Roles: issuer, Interval: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = r.Run(ctx) }()

		// Nothing issued in this process yet: due at the first sweep.
		time.Sleep(time.Minute)
		synctest.Wait()
		m := credsMsg(t, snd.msgs)
		assert.Equal(t, testTaskARN, m.TaskARN)
		assert.Equal(t, testCluster, m.TaskClusterARN)
		assert.Equal(t, wire.RoleTypeTaskApplication, m.RoleType)
		assert.Equal(t, "cred-task", m.RoleCredentials.CredentialsID)
		assert.Equal(t, "key-1", m.RoleCredentials.AccessKeyID)

		// Not acknowledged: the same message again a minute later.
		time.Sleep(time.Minute)
		synctest.Wait()
		again := credsMsg(t, snd.msgs)
		assert.Equal(t, m.MessageID, again.MessageID)
		assert.Equal(t, "key-1", again.RoleCredentials.AccessKeyID)

		r.HandleMessage(testInstance, &wire.IAMRoleCredentialsAckRequest{MessageID: m.MessageID, CredentialsID: "cred-task",
			Expiration: m.RoleCredentials.Expiration})
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		requireNone(t, snd.msgs)

		// Half of the hour after the first keys: new keys, same ID.
		time.Sleep(19 * time.Minute)
		synctest.Wait()
		fresh := credsMsg(t, snd.msgs)
		assert.Equal(t, "cred-task", fresh.RoleCredentials.CredentialsID)
		assert.Equal(t, "key-2", fresh.RoleCredentials.AccessKeyID)
		r.HandleMessage(testInstance, &wire.IAMRoleCredentialsAckRequest{MessageID: fresh.MessageID, CredentialsID: "cred-task"})
		synctest.Wait()

		// A restarted agent asks for everything: the current keys, at once.
		r.SendCredentials(testInstance)
		synctest.Wait()
		resent := credsMsg(t, snd.msgs)
		assert.Equal(t, "key-2", resent.RoleCredentials.AccessKeyID)
		r.SendCredentials("arn:aws:ecs:us-east-1:123456789012:container-instance/default/other")
		synctest.Wait()
		requireNone(t, snd.msgs)

		// A stopped task's credentials are forgotten.
		task.LastStatus, task.DesiredStatus = store.TaskStopped, store.TaskStopped
		require.NoError(t, st.Update(func(tx store.Tx) error { return tx.PutTask(task) }))
		time.Sleep(time.Minute)
		synctest.Wait()
		_, ok := issuer.Cached("cred-task")
		assert.False(t, ok)
		cancel()
	})
}
