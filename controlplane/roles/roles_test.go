package roles

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// countingSource issues "key-<n>" credentials valid for an hour.
type countingSource struct {
	clk *clock
	n   int
	err error
}

func (s *countingSource) Issue(_ context.Context, roleARN, session string) (Credentials, error) {
	if s.err != nil {
		return Credentials{}, s.err
	}
	s.n++
	return Credentials{AccessKeyID: fmt.Sprintf("key-%d", s.n), SecretAccessKey: "secret", Expiration: s.clk.Now().Add(time.Hour)}, nil
}

func (s *countingSource) String() string { return "counting" }

// Credentials are issued once and served from memory until half their
// lifetime has passed; then Get issues new ones under the same ID.
func TestIssuerRefreshesAtHalfLife(t *testing.T) {
	clk := &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	src := &countingSource{clk: clk}
	is := NewIssuer(src, clk.Now)
	ctx := context.Background()
	c, err := is.Get(ctx, "id1", "arn:role", "task1")
	require.NoError(t, err)
	assert.Equal(t, "key-1", c.AccessKeyID)
	assert.False(t, is.Due("id1"))

	clk.add(29 * time.Minute)
	c, _ = is.Get(ctx, "id1", "arn:role", "task1")
	assert.Equal(t, "key-1", c.AccessKeyID, "still fresh")
	clk.add(time.Minute)
	assert.True(t, is.Due("id1"), "half of the hour passed")
	c, _ = is.Get(ctx, "id1", "arn:role", "task1")
	assert.Equal(t, "key-2", c.AccessKeyID)
	cached, ok := is.Cached("id1")
	require.True(t, ok)
	assert.Equal(t, "key-2", cached.AccessKeyID)

	c, _ = is.Get(ctx, "id1", "arn:other-role", "task1")
	assert.Equal(t, "key-3", c.AccessKeyID, "a cached ID of another role is not served")
	assert.True(t, is.Due("unknown"))

	assert.Equal(t, 1, is.Prune(func(string) bool { return false }))
	_, ok = is.Cached("id1")
	assert.False(t, ok)
}

func TestIssuerRefusesExpiredAndFailedCredentials(t *testing.T) {
	clk := &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	is := NewIssuer(&countingSource{clk: clk, err: errors.New("AccessDenied")}, clk.Now)
	_, err := is.Get(context.Background(), "id", "arn:role", "s")
	assert.ErrorContains(t, err, "AccessDenied")
	_, ok := is.Cached("id")
	assert.False(t, ok)

	is = NewIssuer(expired{}, clk.Now)
	_, err = is.Get(context.Background(), "id", "arn:role", "s")
	assert.ErrorContains(t, err, "not after now")
}

type expired struct{}

func (expired) Issue(context.Context, string, string) (Credentials, error) {
	return Credentials{AccessKeyID: "k", SecretAccessKey: "s"}, nil
}
func (expired) String() string { return "expired" }

func TestSecretsNeverFormatted(t *testing.T) {
	c := Credentials{AccessKeyID: "AKID", SecretAccessKey: "shh-secret", SessionToken: "shh-token"}
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		assert.NotContains(t, out, "shh")
	}
}

func writeRoles(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "roles.json")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const appRole = "arn:aws:iam::123456789012:role/app"

func TestFileIssuesStaticKeys(t *testing.T) {
	clk := &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := writeRoles(t, `{"`+appRole+`": {"accessKeyId": "AKIAAPP", "secretAccessKey": "app-secret", "sessionToken": "tok"}}`)
	f, err := NewFile(p, 2*time.Hour, clk.Now)
	require.NoError(t, err)
	c, err := f.Issue(context.Background(), appRole, "task1")
	require.NoError(t, err)
	assert.Equal(t, Credentials{AccessKeyID: "AKIAAPP", SecretAccessKey: "app-secret", SessionToken: "tok",
		Expiration: clk.Now().Add(2 * time.Hour)}, c)
	_, err = f.Issue(context.Background(), "arn:aws:iam::123456789012:role/other", "task1")
	assert.ErrorContains(t, err, "has no role arn:aws:iam::123456789012:role/other")

	// A key rotated in the file is what the next issue returns.
	require.NoError(t, os.WriteFile(p, []byte(`{"`+appRole+`": {"accessKeyId": "AKIANEW", "secretAccessKey": "new"}}`), 0o600))
	c, err = f.Issue(context.Background(), appRole, "task1")
	require.NoError(t, err)
	assert.Equal(t, "AKIANEW", c.AccessKeyID)
}

func TestFileMistakesStopTheStart(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"not json":      {`[1,2]`, "want {\"<role ARN>\""},
		"unknown field": {`{"` + appRole + `": {"accessKeyId": "a", "secretAccessKey": "b", "region": "x"}}`, "unknown field \"region\""},
		"not a role":    {`{"arn:aws:iam::123456789012:user/bob": {"accessKeyId": "a", "secretAccessKey": "b"}}`, "is not an IAM role ARN"},
		"no secret":     {`{"` + appRole + `": {"accessKeyId": "a"}}`, "role " + appRole + " needs accessKeyId and secretAccessKey"},
	} {
		_, err := NewFile(writeRoles(t, tc.content), time.Hour, nil)
		assert.ErrorContains(t, err, tc.want, name)
	}
	_, err := NewFile(filepath.Join(t.TempDir(), "missing.json"), time.Hour, nil)
	assert.Error(t, err)
}

type fakeSTS struct {
	in  *sts.AssumeRoleInput
	out *sts.AssumeRoleOutput
	err error
}

func (f *fakeSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.in = in
	return f.out, f.err
}

// AssumeRole is called with the role, the task's session name and the
// configured lifetime; an incomplete answer is an error.
func TestSTSAssumesTheRoleForTheTask(t *testing.T) {
	exp := time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC)
	f := &fakeSTS{out: &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{AccessKeyId: aws.String("ASIA1"),
		SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"), Expiration: aws.Time(exp)}}}
	s := &STS{api: f, endpoint: "http://127.0.0.1:5000", duration: 20 * time.Minute}
	c, err := s.Issue(context.Background(), appRole, "0123456789abcdef")
	require.NoError(t, err)
	assert.Equal(t, Credentials{AccessKeyID: "ASIA1", SecretAccessKey: "s", SessionToken: "t", Expiration: exp}, c)
	assert.Equal(t, appRole, aws.ToString(f.in.RoleArn))
	assert.Equal(t, "0123456789abcdef", aws.ToString(f.in.RoleSessionName))
	assert.Equal(t, int32(1200), aws.ToInt32(f.in.DurationSeconds))
	assert.Equal(t, "STS at http://127.0.0.1:5000", s.String())

	f.out = &sts.AssumeRoleOutput{}
	_, err = s.Issue(context.Background(), appRole, "x")
	assert.ErrorContains(t, err, "no complete credentials")
	f.err = errors.New("AccessDenied: not allowed")
	_, err = s.Issue(context.Background(), appRole, "x")
	assert.ErrorContains(t, err, "STS AssumeRole "+appRole+": AccessDenied")
}

func TestNewSTSChecksItsInput(t *testing.T) {
	_, err := NewSTS(context.Background(), "ftp://x", "us-east-1", time.Hour)
	assert.ErrorContains(t, err, "want http(s)://host[:port]")
	_, err = NewSTS(context.Background(), "http://127.0.0.1:1", "us-east-1", 0)
	assert.ErrorContains(t, err, "must be at least 1s")
}
