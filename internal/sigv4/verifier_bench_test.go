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
