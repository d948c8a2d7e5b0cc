package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkVerify measures the control plane's cost of authenticating one
// ECS API request (a signed RegisterContainerInstance-sized body).
func BenchmarkVerify(b *testing.B) {
	body := []byte(`{"cluster":"default","totalResources":[{"name":"CPU","type":"INTEGER","integerValue":2048}],` +
		strings.Repeat(`{"name":"com.amazonaws.ecs.capability.docker-remote-api.1.17"},`, 20) + `"x":1}`)
	sum := sha256.Sum256(body)
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:51677/", strings.NewReader(string(body)))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	now := time.Now()
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", region, now); err != nil {
		b.Fatal(err)
	}
	v := testVerifier()
	v.Now = func() time.Time { return now }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(req, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefuseHeaderAmplification is the request of issue 9: about
// 100 KB of headers whose SignedHeaders lists one 20 KB header 20,000
// times, signed with a known access key ID and a made-up signature. Before
// the canonical request was built in one bounded pass this allocated
// 2.3 GB and took 6 s of CPU; B/op shows what it costs now.
func BenchmarkRefuseHeaderAmplification(b *testing.B) {
	now := time.Now().UTC()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:51677/", strings.NewReader("{}"))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 20<<10))
	req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
	names := strings.TrimSuffix(strings.Repeat("x-big;", 20000), ";")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKey+"/"+now.Format("20060102")+"/"+region+
		"/ecs/aws4_request, SignedHeaders=host;"+names+", Signature="+strings.Repeat("0", 64))
	v := testVerifier()
	v.Now = func() time.Time { return now }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(req, []byte("{}")); err == nil {
			b.Fatal("accepted")
		}
	}
}
