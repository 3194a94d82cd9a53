package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/internal/testutil"
	"github.com/zpipe/zpipe/internal/zmqtest"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// TestCurveBroker runs the broker with Zeek's CURVE setup: both sockets
// are CURVE servers with the cluster's server secret key and accept only
// the cluster's client key (ZAP). A node with the client keys exchanges
// subscriptions and events; a node with another key is refused. A
// transport without CURVE (purego) refuses the pipeline before anything
// starts, naming the option and the transport.
func TestCurveBroker(t *testing.T) {
	if !zmq.HasCurve() {
		t.Fatal("this libzmq has no CURVE support; zpipe's broker needs it for this test")
	}
	serverPub, serverSec := keypair(t)
	clientPub, clientSec := keypair(t)
	roguePub, rogueSec := keypair(t)

	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		base := brokers.commands[kind]
		cmd := base
		cmd.Curve = &brokerproc.CurveClient{ServerKey: serverPub, PublicKey: clientPub, SecretKey: clientSec}
		// The way the README gives keys: the environment (or --var-file),
		// never --var, which would show the secret in the process list.
		cmd.Env = append(slices.Clone(base.Env),
			"ZPIPE_VAR_curve_server_secretkey="+serverSec,
			"ZPIPE_VAR_curve_client_publickey="+clientPub)
		if kind == brokerproc.ZpipePurego {
			testCurveRefused(t, cmd, "purego")
			return
		}
		testCurveBroker(t, cmd, serverPub, clientPub, clientSec, roguePub, rogueSec)
	})
}

// testCurveRefused: a transport without the curve capability makes zpipe
// exit with status 1 and a diagnostic for each CURVE option.
func testCurveRefused(t *testing.T, cmd brokerproc.Command, transport string) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	args := cmd.Args(brokerproc.Endpoints{XSub: "tcp://127.0.0.1:1", XPub: "tcp://127.0.0.1:2", Metrics: "127.0.0.1:0"})
	run := exec.CommandContext(ctx, cmd.Path, args...)
	run.Env = append(os.Environ(), cmd.Env...)
	out, err := run.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("zpipe %v: %v, want exit status 1; output:\n%s", args, err, out)
	}
	for _, option := range []string{"curve_server", "curve_secretkey"} {
		want := fmt.Sprintf("The option %q needs the \"curve\" capability, which transport %q does not have.", option, transport)
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	root, err := zeektest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "pipelines", "zeek-broker.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	line := 0
	for i, l := range strings.Split(string(src), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "curve_server" && f[1] == "=" {
			line = i + 1
			break
		}
	}
	if want := fmt.Sprintf("zeek-broker.hcl:%d:", line); line == 0 || !strings.Contains(string(out), want) {
		t.Errorf("output does not point at the pipeline file's line (%s):\n%s", want, out)
	}
}

func testCurveBroker(t *testing.T, cmd brokerproc.Command, serverPub, clientPub, clientSec, roguePub, rogueSec string) {
	b := startBrokerCommand(t, cmd)
	ep := b.Endpoints()

	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = zctx.Term() }) // runs after the sockets' cleanups
	curveClient := func(typ zmq.Type, endpoint, pub, sec string) *zmq.Socket {
		s, err := zctx.NewSocket(typ)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		for _, err := range []error{
			s.SetLinger(0), s.SetCurveServerkey(serverPub), s.SetCurvePublickey(pub), s.SetCurveSecretkey(sec),
			s.Connect(endpoint),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		return s
	}

	// A rogue node: its handshake must fail authentication (ZAP 400).
	rogueMon := "inproc://rogue-monitor"
	rogue, err := zctx.NewSocket(zmq.XSUB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rogue.Close() })
	if err := rogue.Monitor(rogueMon, zmq.EVENT_HANDSHAKE_FAILED_AUTH|zmq.EVENT_HANDSHAKE_SUCCEEDED); err != nil {
		t.Fatal(err)
	}
	mon, err := zctx.NewSocket(zmq.PAIR)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	if err := mon.Connect(rogueMon); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		rogue.SetLinger(0), rogue.SetCurveServerkey(serverPub), rogue.SetCurvePublickey(roguePub),
		rogue.SetCurveSecretkey(rogueSec), rogue.Connect(ep.XPub),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := mon.SetRcvtimeo(waitTimeout); err != nil {
		t.Fatal(err)
	}
	event, _, _, err := mon.RecvEvent(0)
	if err != nil {
		t.Fatalf("no handshake event for the rogue node: %v", err)
	}
	if event != zmq.EVENT_HANDSHAKE_FAILED_AUTH {
		t.Fatalf("rogue node's handshake ended with event %v, want HANDSHAKE_FAILED_AUTH", event)
	}
	// The broker says so at the default log level, naming the key, and
	// counts it.
	testutil.Eventually(t, waitTimeout, "the refusal counted as auth_failed", func() bool {
		for _, s := range metricSeries(t, b, "zpipe_socket_events_total") {
			if s.labels["event"] == "auth_failed" && s.labels["component"] == "sink.xpub.subscribers" && s.value >= 1 {
				return true
			}
		}
		return false
	})
	testutil.Eventually(t, waitTimeout, "a warning naming the refused key "+roguePub, func() bool { return len(warnLines(b, roguePub)) > 0 })

	// The cluster's node: subscriptions up, events down, through CURVE.
	xsub := curveClient(zmq.XSUB, ep.XPub, clientPub, clientSec)
	xpub := curveClient(zmq.XPUB, ep.XSub, clientPub, clientSec)
	sub := []byte("\x01zeek.cluster.worker")
	if _, err := xsub.SendBytes(sub, 0); err != nil {
		t.Fatal(err)
	}
	if got := zmqtest.Recv(t, waitTimeout, xpub, xsub); !bytes.Equal(got[0], sub) {
		t.Fatalf("subscription arrived as %q", got)
	}
	ev := [][]byte{[]byte("zeek.cluster.worker"), []byte("node"), []byte("broker-bin-v1"), []byte("secret payload")}
	if _, err := xpub.SendMessage(ev); err != nil {
		t.Fatal(err)
	}
	if got := zmqtest.Recv(t, waitTimeout, xsub, xpub); !slices.EqualFunc(got, ev, bytes.Equal) {
		t.Fatalf("event arrived as %q", got)
	}
}

func keypair(t *testing.T) (pub, sec string) {
	t.Helper()
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	return pub, sec
}
