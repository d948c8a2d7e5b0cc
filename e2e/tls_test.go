package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testCA is a private certificate authority and a server certificate it
// signed for 127.0.0.1, written as PEM files.
type testCA struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "e2e test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "cert.pem"),
		keyFile:  filepath.Join(dir, "key.pem"),
		pool:     x509.NewCertPool(),
	}
	ca.pool.AddCert(caCert)
	writePEM(t, ca.caFile, "CERTIFICATE", caDER)
	writePEM(t, ca.certFile, "CERTIFICATE", der)
	writePEM(t, ca.keyFile, "EC PRIVATE KEY", keyDER)
	return ca
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// client is an HTTP client that trusts the CA.
func (ca *testCA) client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}}}
}

// TestE2ETLS runs the control plane over HTTPS and WSS. An agent that trusts
// its CA (AWS_CA_BUNDLE) registers and connects; one that does not refuses the
// certificate, unless the operator turned verification off with -k.
func TestE2ETLS(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	cp := startControlPlaneWith(t, newTestCA(t))
	cp.createCluster(t, "tls")

	trusting := newAgent(t, cp, "tls", "AWS_CA_BUNDLE="+cp.tls.caFile)
	trusting.start(t)
	md := trusting.awaitMetadata(t)
	cp.awaitInstance(t, "tls", "the agent to connect over WSS", func(ci containerInstance) bool { return ci.AgentConnected })
	trusting.stop(t, syscall.SIGTERM)

	// Without the CA: the certificate is refused and the agent never registers.
	// It shares the trusting agent's data dir, so a success would reuse the ARN.
	untrusting := newAgent(t, cp, "tls")
	untrusting.dataDir = trusting.dataDir
	untrusting.env = append(withoutEnv(untrusting.env, "ECS_DATADIR"), "ECS_DATADIR="+trusting.dataDir)
	untrusting.start(t)
	waitFor(t, 30*time.Second, "the agent to report the untrusted certificate", func() bool {
		return strings.Contains(untrusting.proc.out.String(), "certificate signed by unknown authority")
	})
	if resp, err := http.Get("http://" + untrusting.introspection + "/v1/metadata"); err == nil {
		resp.Body.Close()
		t.Fatalf("an agent that does not trust the control plane's certificate serves introspection: it registered")
	}
	untrusting.stop(t, syscall.SIGTERM)

	// -k: verification off, by the operator's explicit choice.
	insecure := newAgent(t, cp, "tls")
	insecure.env = append(withoutEnv(insecure.env, "ECS_DATADIR"), "ECS_DATADIR="+trusting.dataDir)
	insecure.proc = start(t, binDir+"/ecs-agent", insecure.env, "-config", insecure.configFile, "-k")
	if again := insecure.awaitMetadata(t); again.ContainerInstanceArn != md.ContainerInstanceArn {
		t.Fatalf("agent with -k registered as %s, want %s", again.ContainerInstanceArn, md.ContainerInstanceArn)
	}
	cp.awaitInstance(t, "tls", "the -k agent to connect over WSS", func(ci containerInstance) bool { return ci.AgentConnected })
}
