package acsserver

// Tests that run the agent's ACS client (package acs) against this server
// over real 127.0.0.1 sockets.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs"
	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
)

const testRegion = "us-east-1"

var testCreds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG", SessionToken: "session-token"}

// verifySigV4 authenticates an upgrade by signing the same request again
// with the known secret and comparing Authorization headers.
func verifySigV4(r *http.Request) (authz.Principal, error) {
	agent := authz.Principal{AccessKeyID: testCreds.AccessKeyID, Role: authz.RoleAgent}
	return agent, checkSigV4(r)
}

func checkSigV4(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	wantScope := "/" + testRegion + "/ecs/aws4_request"
	if !strings.Contains(auth, "Credential="+testCreds.AccessKeyID+"/") || !strings.Contains(auth, wantScope) {
		return fmt.Errorf("bad credential scope in %q", auth)
	}
	if r.Header.Get("X-Amz-Security-Token") != testCreds.SessionToken {
		return errors.New("missing session token")
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	again, err := http.NewRequest(http.MethodGet, "https://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, again, emptySHA256, "ecs", testRegion, when); err != nil {
		return err
	}
	if again.Header.Get("Authorization") != auth {
		return errors.New("signature mismatch")
	}
	return nil
}

// agent is an acs.Session under test with channels for what it observed.
type agent struct {
	session   *acs.Session
	connected chan struct{} // one value per successful handshake
	inactive  atomic.Int32
	msgs      chan any
	cancel    context.CancelFunc
	done      chan struct{} // closed when Run returned
	err       error         // Run's result, valid after done
}

func startAgent(t *testing.T, endpoint func() string, mut func(*acs.Options)) *agent {
	t.Helper()
	a := &agent{connected: make(chan struct{}, 16), msgs: make(chan any, 16), done: make(chan struct{})}
	o := acs.Options{
		DiscoverEndpoint:     func(context.Context) (string, error) { return endpoint(), nil },
		Cluster:              "default",
		ContainerInstanceARN: testARN,
		AgentVersion:         "0.1.0",
		AgentHash:            "deadbeef",
		DockerVersion:        "20.10.5",
		Region:               testRegion,
		Credentials:          aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testCreds, nil }),
		HeartbeatTimeout:     10 * time.Second,
		MaxLifetime:          time.Hour,
		BackoffMin:           5 * time.Millisecond,
		BackoffMax:           50 * time.Millisecond,
		OnConnected:          func() { a.connected <- struct{}{} },
		OnInactiveInstance:   func() { a.inactive.Add(1) },
		Handler:              func(_ context.Context, msg any) { a.msgs <- msg },
	}
	if mut != nil {
		mut(&o)
	}
	a.session = acs.NewSession(o)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { a.err = a.session.Run(ctx); close(a.done) }()
	t.Cleanup(func() { a.stop(t) })
	return a
}

// stop cancels Run and waits for it; it is idempotent.
func (a *agent) stop(t *testing.T) error {
	t.Helper()
	a.cancel()
	select {
	case <-a.done:
		return a.err
	case <-time.After(15 * time.Second):
		t.Fatal("acs.Session.Run did not return")
		return nil
	}
}

func TestAgentSessionHeartbeatsAndConnectedFlag(t *testing.T) {
	reg := newStubRegistry()
	acks := make(chan string, 64)
	srv := New(Options{Registry: reg, Authenticate: verifySigV4, HeartbeatInterval: 10 * time.Millisecond, MissedAcksBeforeClose: 2})
	srv.onAck = func(arn, id string) {
		assert.Equal(t, testARN, arn)
		select {
		case acks <- id:
		default:
		}
	}
	hs := startServer(t, srv)
	a := startAgent(t, func() string { return hs.URL }, nil)

	recv(t, a.connected)
	for range 5 { // several heartbeats in a row are acked, so the session survives MissedAcksBeforeClose
		assert.NotEmpty(t, recv(t, acks))
	}
	assert.True(t, srv.Connected(testARN))
	assert.Equal(t, []bool{true}, reg.connectedCalls())
	assert.Empty(t, a.connected, "no reconnects")

	require.NoError(t, a.stop(t))
	await(t, "agent marked disconnected", func() bool { return len(reg.connectedCalls()) == 2 })
	assert.Equal(t, []bool{true, false}, reg.connectedCalls())
	assert.False(t, srv.Connected(testARN))
}

func TestAgentRunEndsOnUnretriableRejection(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  func(*stubRegistry)
		auth func(*http.Request) (authz.Principal, error)
		exc  any
	}{
		{"invalid instance", func(r *stubRegistry) { delete(r.instances, testARN) }, nil, &wire.InvalidInstanceException{}},
		{"access denied", nil, func(*http.Request) (authz.Principal, error) { return authz.Principal{}, errors.New("denied") }, &wire.AccessDeniedException{}},
		{"another key's instance", func(r *stubRegistry) {
			r.set(testARN, &authz.DeniedError{Principal: authz.Principal{ARN: "arn:aws:iam::0:user/other"}, Action: authz.ActionPoll, Reason: "x"})
		}, nil, &wire.AccessDeniedException{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newStubRegistry()
			if tc.reg != nil {
				tc.reg(reg)
			}
			hs := startServer(t, New(Options{Registry: reg, Authenticate: tc.auth}))
			a := startAgent(t, func() string { return hs.URL }, nil)
			recv(t, a.done)
			require.ErrorIs(t, a.err, acs.ErrTerminal)
			var exc wire.Exception
			require.ErrorAs(t, a.err, &exc)
			assert.IsType(t, tc.exc, exc)
		})
	}

	t.Run("invalid cluster", func(t *testing.T) {
		hs := startServer(t, New(Options{Registry: newStubRegistry()}))
		a := startAgent(t, func() string { return hs.URL }, func(o *acs.Options) { o.Cluster = "elsewhere" })
		recv(t, a.done)
		require.ErrorIs(t, a.err, acs.ErrTerminal)
		var ic *wire.InvalidClusterException
		require.ErrorAs(t, a.err, &ic)
		assert.Equal(t, "Invalid cluster", ic.Message)
	})
}

func TestMaxLifetimeMakesAgentReconnect(t *testing.T) {
	reg := newStubRegistry()
	srv := New(Options{Registry: reg, Authenticate: verifySigV4, MaxConnectionLifetime: 50 * time.Millisecond})
	hs := startServer(t, srv)
	a := startAgent(t, func() string { return hs.URL }, nil)

	recv(t, a.connected)
	msg := recv(t, a.msgs)
	assert.Equal(t, &wire.CloseMessage{Message: "ConnectionExpired: Reconnect to continue"}, msg)
	recv(t, a.connected)
	await(t, "reconnected session registered", func() bool { return srv.Connected(testARN) })
}

func TestServerCloseAndRestartOnSameAddress(t *testing.T) {
	reg := newStubRegistry()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	serve := func(ln net.Listener) (*Server, *httptest.Server) {
		srv := New(Options{Registry: reg, Authenticate: verifySigV4})
		hs := httptest.NewUnstartedServer(srv)
		hs.Listener = ln
		hs.Start()
		return srv, hs
	}
	srv1, hs1 := serve(ln)
	a := startAgent(t, func() string { return "http://" + addr }, nil)
	recv(t, a.connected)

	srv1.Close()
	hs1.Close()
	assert.False(t, srv1.Connected(testARN))

	var ln2 net.Listener
	await(t, "address free again", func() bool {
		ln2, err = net.Listen("tcp", addr)
		return err == nil
	})
	srv2, hs2 := serve(ln2)
	t.Cleanup(func() { srv2.Close(); hs2.Close() })

	recv(t, a.connected)
	await(t, "agent back on the new server", func() bool { return srv2.Connected(testARN) })
}

func TestSendAndOnMessage(t *testing.T) {
	reg := newStubRegistry()
	inbound := make(chan any, 4)
	srv := New(Options{Registry: reg, OnMessage: func(arn string, msg any) {
		assert.Equal(t, testARN, arn)
		inbound <- msg
	}})
	hs := startServer(t, srv)
	var session atomic.Pointer[acs.Session]
	a := startAgent(t, func() string { return hs.URL }, func(o *acs.Options) {
		o.Handler = func(ctx context.Context, msg any) {
			if p, ok := msg.(*wire.PayloadMessage); ok {
				assert.NoError(t, session.Load().Send(ctx, &wire.AckRequest{
					Cluster: p.ClusterARN, ContainerInstance: p.ContainerInstanceARN, MessageID: p.MessageID,
				}))
			}
		}
	})
	session.Store(a.session)
	recv(t, a.connected)
	await(t, "session registered", func() bool { return srv.Connected(testARN) })

	require.NoError(t, srv.Send(testARN, &wire.PayloadMessage{
		ClusterARN: testCluster, ContainerInstanceARN: testARN, MessageID: "m-1", SeqNum: 1,
		Tasks: []wire.Task{{ARN: "arn:aws:ecs:us-east-1:123456789012:task/default/abc", Family: "web", Version: "1", DesiredStatus: "RUNNING"}},
	}))
	assert.Equal(t, &wire.AckRequest{Cluster: testCluster, ContainerInstance: testARN, MessageID: "m-1"}, recv(t, inbound))
}

func TestDisconnectOfDeregisteredInstance(t *testing.T) {
	reg := newStubRegistry()
	srv := New(Options{Registry: reg})
	hs := startServer(t, srv)
	a := startAgent(t, func() string { return hs.URL }, nil)
	recv(t, a.connected)
	await(t, "session registered", func() bool { return srv.Connected(testARN) })

	reg.set(testARN, ErrInactiveInstance)
	srv.Disconnect(testARN)
	await(t, "agent told it is inactive", func() bool { return a.inactive.Load() == 1 })
	await(t, "registry told", func() bool { return len(reg.connectedCalls()) == 2 })
	assert.Equal(t, []bool{true, false}, reg.connectedCalls())
	assert.False(t, srv.Connected(testARN))
}

// The sessions of different instances are independent.
func TestTwoInstances(t *testing.T) {
	reg := newStubRegistry()
	other := strings.Replace(testARN, "0123", "9999", 1)
	reg.set(other, nil)
	srv := New(Options{Registry: reg, HeartbeatInterval: 10 * time.Millisecond})
	hs := startServer(t, srv)
	a := startAgent(t, func() string { return hs.URL }, nil)
	b := startAgent(t, func() string { return hs.URL }, func(o *acs.Options) { o.ContainerInstanceARN = other })
	recv(t, a.connected)
	recv(t, b.connected)
	await(t, "both registered", func() bool { return srv.Connected(testARN) && srv.Connected(other) })

	srv.Disconnect(other)
	recv(t, b.connected) // b reconnects; a is untouched
	assert.Empty(t, a.connected)
}

func TestAgentOverTLS(t *testing.T) {
	reg := newStubRegistry()
	srv := New(Options{Registry: reg, Authenticate: verifySigV4})
	hs := httptest.NewTLSServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())

	a := startAgent(t, func() string { return hs.URL }, func(o *acs.Options) {
		o.TLSConfig = &tls.Config{RootCAs: roots}
	})
	recv(t, a.connected)
	await(t, "session registered", func() bool { return srv.Connected(testARN) })
}

func TestAgentRejectsUntrustedCertificate(t *testing.T) {
	srv := New(Options{Registry: newStubRegistry()})
	hs := httptest.NewTLSServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	var discovered atomic.Int32
	a := startAgent(t, func() string { discovered.Add(1); return hs.URL }, nil)
	await(t, "a few failed attempts", func() bool { return discovered.Load() >= 3 })
	assert.Empty(t, a.connected)
	assert.False(t, srv.Connected(testARN))
}

// An agent asks for credentials on the first connection of its process
// only (sendCredentials=true); the server says so once per such session.
func TestOnSendCredentialsOnlyOnAsk(t *testing.T) {
	reg := newStubRegistry()
	asked := make(chan string, 4)
	connects := make(chan string, 8)
	srv := New(Options{Registry: reg, Authenticate: verifySigV4, MaxConnectionLifetime: 100 * time.Millisecond,
		OnConnect:         func(arn string) { connects <- arn },
		OnSendCredentials: func(arn string) { asked <- arn }})
	hs := startServer(t, srv)
	startAgent(t, func() string { return hs.URL }, nil)
	assert.Equal(t, testARN, recv(t, connects))
	assert.Equal(t, testARN, recv(t, asked), "the first connection asks")
	// Sessions end at their lifetime and the agent reconnects. A session
	// calls OnSendCredentials before it serves, so once the third one has
	// connected, the second would have asked already.
	recv(t, connects)
	recv(t, connects)
	select {
	case arn := <-asked:
		t.Fatalf("a later connection asked for credentials again (%s)", arn)
	default:
	}
}
