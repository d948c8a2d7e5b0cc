package controlplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Self-signed TLS (-tls-self-signed): a private CA and a server certificate
// it signs, kept in <DataDir>/tls so that agents which trust the CA once
// keep trusting the control plane across restarts.
const (
	selfSignedDir = "tls"
	caValidity    = 10 * 365 * 24 * time.Hour
	certValidity  = 397 * 24 * time.Hour // the longest lifetime clients accept
	// certRenewBefore: a certificate closer than this to its end is
	// reissued at start-up, signed by the same CA.
	certRenewBefore = 30 * 24 * time.Hour
)

// SelfSignedFiles are the PEM files -tls-self-signed maintains. CAFile is
// what agents and the aws CLI must trust (the host's trust store,
// SSL_CERT_FILE, or AWS_CA_BUNDLE, which Amazon's agent refuses);
// CAKeyFile and KeyFile are private (mode 0600).
type SelfSignedFiles struct {
	CAFile, CAKeyFile, CertFile, KeyFile string
}

func selfSignedFiles(dataDir string) SelfSignedFiles {
	dir := filepath.Join(dataDir, selfSignedDir)
	return SelfSignedFiles{
		CAFile:    filepath.Join(dir, "ca.pem"),
		CAKeyFile: filepath.Join(dir, "ca-key.pem"),
		CertFile:  filepath.Join(dir, "cert.pem"),
		KeyFile:   filepath.Join(dir, "key.pem"),
	}
}

// useSelfSigned points o.TLSCert and o.TLSKey at the self-signed pair,
// creating it when needed, and logs the CA file that clients must trust.
func useSelfSigned(o *Options, now time.Time) error {
	if o.TLSCert != "" || o.TLSKey != "" {
		return errors.New("-tls-self-signed excludes -tls-cert and -tls-key: use either your own certificate or a generated one")
	}
	if o.DataDir == "" {
		return errors.New("a data directory is required")
	}
	names, err := selfSignedNames(o.Listen, o.AdvertiseURL)
	if err != nil {
		return err
	}
	files, err := ensureSelfSigned(o.DataDir, names, now)
	if err != nil {
		return err
	}
	o.TLSCert, o.TLSKey = files.CertFile, files.KeyFile
	o.Logger.Info("serving TLS with a self-signed certificate; agents and the aws CLI must trust its CA: "+
		"the host's trust store, SSL_CERT_FILE (both agents) or AWS_CA_BUNDLE (this agent and the aws CLI, not Amazon's agent)",
		logging.KeyFile, files.CAFile, logging.KeyCount, len(names.dns)+len(names.ips))
	return nil
}

// certNames are the names a certificate must hold.
type certNames struct {
	dns []string
	ips []net.IP
}

// selfSignedNames lists the names agents may dial: localhost, the host
// name, the listen address (every interface address when it listens on all
// of them) and the advertise URL's host. Each name is also given as
// "name:port": Amazon's agent checks the certificate for host:port on its
// websocket dial, and Go's verifier accepts an exact match of such a name.
func selfSignedNames(listen, advertise string) (certNames, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return certNames{}, fmt.Errorf("listen address %q: %w", listen, err)
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	ports := []string{port}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return certNames{}, fmt.Errorf("list the interface addresses for the certificate: %w", err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, n.IP.String())
			}
		}
	} else {
		hosts = append(hosts, host)
	}
	if advertise != "" {
		u, err := url.Parse(advertise)
		if err != nil {
			return certNames{}, fmt.Errorf("advertise URL %q: %w", advertise, err)
		}
		hosts = append(hosts, u.Hostname())
		if p := u.Port(); p != "" {
			ports = append(ports, p)
		}
	}
	var n certNames
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(n.ips, ip.Equal) {
				n.ips = append(n.ips, ip)
			}
		} else if !slices.Contains(n.dns, h) {
			n.dns = append(n.dns, h)
		}
		for _, p := range ports {
			if hp := net.JoinHostPort(h, p); !slices.Contains(n.dns, hp) {
				n.dns = append(n.dns, hp)
			}
		}
	}
	return n, nil
}

// ensureSelfSigned makes sure the CA and a server certificate for the
// names exist in dataDir and are valid at now. It keeps what is still good:
// the CA always, while it is valid; the certificate while it covers every
// name and is not about to expire.
func ensureSelfSigned(dataDir string, names certNames, now time.Time) (SelfSignedFiles, error) {
	files := selfSignedFiles(dataDir)
	if err := os.MkdirAll(filepath.Dir(files.CAFile), 0o700); err != nil {
		return files, fmt.Errorf("self-signed TLS: %w", err)
	}
	ca, caKey, err := loadPair(files.CAFile, files.CAKeyFile)
	if err != nil || !ca.IsCA || !matches(ca, caKey) || now.After(ca.NotAfter.Add(-certValidity)) {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return files, fmt.Errorf("self-signed TLS: %w (move %s away to start with a new CA)", err, filepath.Dir(files.CAFile))
		}
		ca, caKey, err = newCA(now)
		if err != nil {
			return files, err
		}
		if err := writePair(files.CAFile, files.CAKeyFile, ca.Raw, caKey); err != nil {
			return files, err
		}
	}
	if cert, key, err := loadPair(files.CertFile, files.KeyFile); err == nil && matches(cert, key) && covers(cert, ca, names, now) {
		return files, nil
	}
	der, key, err := newServerCert(ca, caKey, names, now)
	if err != nil {
		return files, err
	}
	return files, writePair(files.CertFile, files.KeyFile, der, key)
}

// matches reports whether key is the private key of cert (a crash between
// the two renames of writePair can leave a new key beside an old cert).
func matches(cert *x509.Certificate, key *ecdsa.PrivateKey) bool {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	return ok && pub.Equal(key.Public())
}

// covers reports whether cert is signed by ca, valid well beyond now, and
// holds every name.
func covers(cert, ca *x509.Certificate, names certNames, now time.Time) bool {
	if cert.CheckSignatureFrom(ca) != nil || now.Before(cert.NotBefore) || now.After(cert.NotAfter.Add(-certRenewBefore)) {
		return false
	}
	for _, d := range names.dns {
		if !slices.Contains(cert.DNSNames, d) {
			return false
		}
	}
	for _, ip := range names.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed TLS: CA key: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ecs-controlplane CA " + host, Organization: []string{"Open ECS"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed TLS: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func newServerCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, names certNames, now time.Time) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed TLS: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "ecs-controlplane", Organization: []string{"Open ECS"}},
		DNSNames:     names.dns,
		IPAddresses:  names.ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed TLS: certificate: %w", err)
	}
	return der, key, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the runtime treats this as fatal too
	}
	return n
}

// loadPair reads a PEM certificate and its EC private key.
func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certFile, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	return cert, key, nil
}

// writePair writes the key first (0600) and the certificate last, each
// through a rename, so a crash leaves either the old pair or the new one.
func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("self-signed TLS: %w", err)
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("self-signed TLS: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("self-signed TLS: %w", err)
	}
	return nil
}
