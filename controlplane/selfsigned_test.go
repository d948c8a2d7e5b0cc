package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
)

func TestSelfSignedNames(t *testing.T) {
	n, err := selfSignedNames("127.0.0.1:51677", "https://cp.example:8443")
	require.NoError(t, err)
	for _, want := range []string{"localhost", "localhost:51677", "127.0.0.1:51677", "cp.example", "cp.example:8443", "cp.example:51677"} {
		assert.Contains(t, n.dns, want)
	}
	assert.True(t, containsIP(n.ips, "127.0.0.1"))
	assert.True(t, containsIP(n.ips, "::1"))

	n, err = selfSignedNames("0.0.0.0:51677", "")
	require.NoError(t, err)
	assert.Greater(t, len(n.ips), 1, "listening on every address: every interface address is named")
	_, err = selfSignedNames("no-port", "")
	assert.Error(t, err)
}

func containsIP(ips []net.IP, s string) bool {
	for _, ip := range ips {
		if ip.Equal(net.ParseIP(s)) {
			return true
		}
	}
	return false
}

// TestSelfSignedKeepsTheCA: a restart keeps both files; new names or a
// certificate near its end get a new certificate from the same CA, so agents
// that trust the CA keep trusting the control plane.
func TestSelfSignedKeepsTheCA(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	names, err := selfSignedNames("127.0.0.1:51677", "")
	require.NoError(t, err)
	files, err := ensureSelfSigned(dir, names, now)
	require.NoError(t, err)
	ca, cert := readFile(t, files.CAFile), readFile(t, files.CertFile)
	for _, f := range []string{files.CAKeyFile, files.KeyFile} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "%s is private", f)
	}

	_, err = ensureSelfSigned(dir, names, now.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, ca, readFile(t, files.CAFile))
	assert.Equal(t, cert, readFile(t, files.CertFile), "a restart keeps a good certificate")

	more, err := selfSignedNames("127.0.0.1:51677", "https://cp.example:8443")
	require.NoError(t, err)
	_, err = ensureSelfSigned(dir, more, now.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, ca, readFile(t, files.CAFile))
	assert.NotEqual(t, cert, readFile(t, files.CertFile), "a new name needs a new certificate")

	cert = readFile(t, files.CertFile)
	_, err = ensureSelfSigned(dir, more, now.Add(certValidity-certRenewBefore/2))
	require.NoError(t, err)
	assert.Equal(t, ca, readFile(t, files.CAFile))
	assert.NotEqual(t, cert, readFile(t, files.CertFile), "a certificate near its end is renewed")
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

// TestSelfSignedServesBothAgents: with TLSSelfSigned the API answers over
// HTTPS to a client that trusts only the generated CA, and the certificate
// verifies both for the host (our agent, the SDKs) and for "host:port",
// the name Amazon's agent checks on its websocket dial.
func TestSelfSignedServesBothAgents(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dir := t.TempDir()
	srv, err := New(Options{DataDir: dir, Listen: ln.Addr().String(), TLSSelfSigned: true,
		Credentials: authz.Keyring{testKey: {SecretAccessKey: testSecret}}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; _ = srv.Close() })

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(readFile(t, selfSignedFiles(dir).CAFile))))
	for _, name := range []string{"127.0.0.1", ln.Addr().String(), "localhost"} {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12})
		if assert.NoError(t, err, "server name %q", name) {
			conn.Close()
		}
	}

	url := "https://" + ln.Addr().String()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		HTTPClient:  &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	client := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(url) })
	_, err = client.ListClusters(t.Context(), &ecs.ListClustersInput{})
	require.NoError(t, err)
}

func TestSelfSignedExcludesOwnCertificate(t *testing.T) {
	_, err := New(Options{DataDir: t.TempDir(), TLSSelfSigned: true, TLSCert: "c.pem", TLSKey: "k.pem",
		Credentials: authz.Keyring{testKey: {SecretAccessKey: testSecret}}})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "-tls-self-signed excludes -tls-cert"), err.Error())
}
