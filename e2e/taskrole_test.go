package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/ecsinit"
)

// The IAM role moto_server plays: its default account, and a role that ECS
// tasks may assume.
const (
	motoAccount  = "123456789012"
	taskRoleName = "e2e-task-role"
	taskRoleARN  = "arn:aws:iam::" + motoAccount + ":role/" + taskRoleName
	trustPolicy  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	// roleLifetime is short, so that the test sees a refresh: the control
	// plane refreshes at half-life.
	roleLifetime = 40 * time.Second
)

// motoEnv is what the aws CLI and the control plane need to talk to moto:
// any key will do.
var motoEnv = []string{"AWS_ACCESS_KEY_ID=motokey", "AWS_SECRET_ACCESS_KEY=motosecret"}

// startMoto runs moto_server on a free loopback port until the test ends
// and creates the task role there; it returns moto's URL.
func startMoto(t *testing.T) string {
	t.Helper()
	path, err := lookTool("moto_server")
	require.NoError(t, err)
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	p := start(t, path, baseEnv(), "-H", host, "-p", port)
	url := "http://" + addr
	waitFor(t, 30*time.Second, "moto_server to answer", func() bool {
		if p.exited() {
			t.Fatalf("moto_server exited: %v\n%s", p.err, p.out.String())
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	var role struct{ Role struct{ Arn string } }
	awsJSON(t, url, motoEnv, &role, "iam", "create-role", "--role-name", taskRoleName,
		"--assume-role-policy-document", trustPolicy)
	require.Equal(t, taskRoleARN, role.Role.Arn)
	return url
}

// taskEndpointLock is held by the one test at a time that uses the
// host-global pieces of the task endpoint: port 51679 and the NAT rules
// for 169.254.170.2.
const taskEndpointLock = "/tmp/open-ecs-e2e-task-endpoint.lock"

// lockTaskEndpoint takes taskEndpointLock for the test's life, checks that
// 127.0.0.1:51679 is free, and adds ecs-init's NAT rules for 169.254.170.2
// (only those: the rest of pre-start is host policy other tests do not
// expect) with route_localnet on. Cleanup removes exactly what it added and
// puts route_localnet back, even when the test fails.
func lockTaskEndpoint(t *testing.T) {
	t.Helper()
	requireRoot(t, "iptables")
	f, err := os.OpenFile(taskEndpointLock, os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() }) // closing releases the lock
	waitFor(t, 10*time.Minute, "the other task endpoint test to finish", func() bool {
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
	})

	ln, err := net.Listen("tcp", "127.0.0.1:51679")
	if err != nil {
		msg := fmt.Sprintf("127.0.0.1:51679 is taken (an agent of make run?): %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ln.Close()

	const localnet = "/proc/sys/net/ipv4/conf/all/route_localnet"
	old, err := os.ReadFile(localnet)
	require.NoError(t, err)
	if strings.TrimSpace(string(old)) != "1" {
		require.NoError(t, os.WriteFile(localnet, []byte("1"), 0o644))
		t.Cleanup(func() { _ = os.WriteFile(localnet, old, 0o644) })
	}
	ipt, err := iptables.New()
	require.NoError(t, err)
	rules := ecsinit.HostRules(&ecsinit.Config{SkipLocalhostFilter: true, AllowOffhostIntrospection: true})
	for _, r := range rules {
		require.Equal(t, "nat", r.Table, "only the NAT rules: %s", r)
		ok, err := ipt.Exists(r.Table, r.Chain, r.Spec...)
		require.NoError(t, err)
		if ok {
			continue // ecs-init's own, on this host: not ours to remove
		}
		require.NoError(t, ipt.Append(r.Table, r.Chain, r.Spec...), "%s", r)
		t.Cleanup(func() {
			if err := ipt.Delete(r.Table, r.Chain, r.Spec...); err != nil {
				t.Errorf("removing iptables rule %s: %v", r, err)
			}
		})
	}
}

// roleCluster is a control plane issuing role credentials from moto's STS,
// with an agent that serves them on 127.0.0.1:51679.
func roleCluster(t *testing.T, moto string) (*taskCluster, string) {
	t.Helper()
	requireTools(t, "docker", "aws")
	requireImage(t, testImage)
	cp := startControlPlaneWith(t, nil, func(cp *controlPlane) {
		cp.args = []string{"-sts-endpoint", moto, "-role-session-duration", roleLifetime.String()}
		cp.env = motoEnv // the control plane's own credentials, for STS
	})
	tc := &taskCluster{cp: cp, name: uniqueName(t), defsDir: t.TempDir()}
	tc.api = newECSAPI(tc.cp)
	tc.cp.createCluster(t, tc.name)
	t.Cleanup(func() { removeClusterContainers(t, tc.name) })
	audit := filepath.Join(t.TempDir(), "audit.log")
	tc.agent = newAgent(t, tc.cp, tc.name, "ECS_TASK_METADATA_ADDR=127.0.0.1:51679",
		"ECS_ENABLE_TASK_IAM_ROLE=true", "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true", "ECS_AUDIT_LOGFILE="+audit)
	tc.startAgent(t)
	return tc, audit
}

// roleCredentials is the credentials response the container printed.
type roleCredentials struct {
	RoleArn, AccessKeyId, SecretAccessKey, Token, Expiration string
}

// credsReader prints its task's credentials from url every second.
func credsReader(url string) string {
	return `trap 'exit 0' TERM
echo "URI $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
while true; do
  if c=$(wget -qO- "` + url + `$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); then echo "CREDS $c"; fi
  sleep 1 & wait $!
done`
}

// callerIdentity asks moto's STS who the credentials are.
func callerIdentity(t *testing.T, moto string, c roleCredentials) string {
	t.Helper()
	var id struct{ Arn string }
	awsJSON(t, moto, []string{"AWS_ACCESS_KEY_ID=" + c.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + c.Token}, &id, "sts", "get-caller-identity")
	return id.Arn
}

// credsLine waits for a CREDS line of container id for which ok holds.
func credsLine(t *testing.T, id string, timeout time.Duration, ok func(roleCredentials) bool) roleCredentials {
	t.Helper()
	var got roleCredentials
	logLine(t, id, "CREDS ", timeout, func(rest string) bool {
		var c roleCredentials
		if json.Unmarshal([]byte(rest), &c) != nil || c.AccessKeyId == "" || !ok(c) {
			return false
		}
		got = c
		return true
	})
	return got
}

func taskIDOf(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// TestE2ETaskRoleCredentials is task IAM roles as a user sees them:
// moto_server plays IAM and STS, the control plane assumes the task's role
// there, and inside a bridge-mode container
// `wget -qO- 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` returns
// credentials that moto's STS knows as the assumed role. Another task's
// container gets 400 for that ID; a host-mode container reads its own at
// 127.0.0.1:51679; the control plane refreshes the credentials before they
// expire and the container sees the new ones. The audit log has a line per
// request and no secret.
func TestE2ETaskRoleCredentials(t *testing.T) {
	requireTools(t, "docker", "aws", "moto_server")
	t.Parallel()
	lockTaskEndpoint(t)
	moto := startMoto(t)
	tc, audit := roleCluster(t, moto)

	app := containerDef("app", true, credsReader("169.254.170.2"))
	def := taskDef(uniqueName(t), app)
	def["taskRoleArn"] = taskRoleARN
	arn := tc.runOne(t, tc.register(t, def))
	task := tc.awaitStatus(t, arn, "RUNNING")
	appID := task.container(t, "app").RuntimeID

	first := credsLine(t, appID, 60*time.Second, func(roleCredentials) bool { return true })
	assert.Equal(t, taskRoleARN, first.RoleArn)
	assert.NotEmpty(t, first.SecretAccessKey)
	assert.NotEmpty(t, first.Token)
	expires, err := time.Parse(time.RFC3339, first.Expiration)
	require.NoError(t, err, "Expiration %q", first.Expiration)
	assert.Equal(t, "arn:aws:sts::"+motoAccount+":assumed-role/"+taskRoleName+"/"+taskIDOf(arn), callerIdentity(t, moto, first),
		"the credentials are the role's, for a session named after the task")
	uri := logLine(t, appID, "URI ", 10*time.Second, func(rest string) bool { return strings.HasPrefix(rest, "/v2/credentials/") })

	// Another task's container asks for the app's credentials: 400.
	thief := containerDef("thief", true, `trap 'exit 0' TERM
while true; do echo "TRY $(wget -qO- "169.254.170.2`+uri+`" 2>&1 | tr '\n' ' ')"; sleep 1 & wait $!; done`)
	other := tc.runOne(t, tc.register(t, taskDef(uniqueName(t), thief)))
	thiefID := tc.awaitStatus(t, other, "RUNNING").container(t, "thief").RuntimeID
	refused := logLine(t, thiefID, "TRY ", 30*time.Second, func(rest string) bool { return strings.Contains(rest, "400") })
	assert.NotContains(t, refused, first.SecretAccessKey)

	// A host-mode task reads its own credentials on the host's loopback.
	hostDef := taskDef(uniqueName(t), containerDef("host", true, credsReader("127.0.0.1:51679")))
	hostDef["networkMode"], hostDef["taskRoleArn"] = "host", taskRoleARN
	hostTask := tc.runOne(t, tc.register(t, hostDef))
	hostID := tc.awaitStatus(t, hostTask, "RUNNING").container(t, "host").RuntimeID
	hostCreds := credsLine(t, hostID, 60*time.Second, func(roleCredentials) bool { return true })
	assert.Equal(t, "arn:aws:sts::"+motoAccount+":assumed-role/"+taskRoleName+"/"+taskIDOf(hostTask), callerIdentity(t, moto, hostCreds))

	// The control plane refreshes at half-life: the app sees new keys
	// before the first ones expire.
	fresh := credsLine(t, appID, roleLifetime, func(c roleCredentials) bool { return c.AccessKeyId != first.AccessKeyId })
	// When the new keys were issued is their expiry less their lifetime:
	// the test's own clock would also count how late a busy host let it
	// read the container's log.
	freshExpires, err := time.Parse(time.RFC3339, fresh.Expiration)
	require.NoError(t, err, "Expiration %q", fresh.Expiration)
	issued := freshExpires.Add(-roleLifetime)
	assert.True(t, issued.Before(expires), "the new keys were issued at %s, not before the old ones expired at %s", issued, expires)
	assert.Equal(t, "arn:aws:sts::"+motoAccount+":assumed-role/"+taskRoleName+"/"+taskIDOf(arn), callerIdentity(t, moto, fresh))

	log, err := os.ReadFile(audit)
	require.NoError(t, err)
	assert.Contains(t, string(log), `"/v2/credentials/<id>"`)
	assert.Contains(t, string(log), " 200 ")
	assert.Contains(t, string(log), " 400 ")
	for _, c := range []roleCredentials{first, hostCreds, fresh} {
		assert.NotContains(t, string(log), c.SecretAccessKey)
		assert.NotContains(t, string(log), c.Token)
		assert.NotContains(t, tc.agent.proc.out.String(), c.SecretAccessKey, "the agent's log")
	}
	assert.NotContains(t, string(log), strings.TrimPrefix(uri, "/v2/credentials/"), "nor the credentials ID")
}

// TestE2ETaskRoleWithoutSource: a control plane that issues no role
// credentials does not place a task with a role, and says how to fix it.
func TestE2ETaskRoleWithoutSource(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t, "ECS_ENABLE_TASK_IAM_ROLE=true")
	def := taskDef(uniqueName(t), containerDef("app", true, sleeper))
	def["taskRoleArn"] = taskRoleARN
	tasks, failures := tc.runTask(t, tc.register(t, def), 1)
	assert.Empty(t, tasks)
	require.Len(t, failures, 1)
	assert.Contains(t, failures[0].Reason, "issues no role credentials: start ecs-controlplane with -sts-endpoint URL")
}
