package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// TestCurveKeysOffTheCommandLine runs the ready broker file with CURVE as
// the README shows it: the server's secret key from a file (--var-file),
// the client's public key from the environment. Nodes with the client
// keys get through, others do not (testCurveBroker). The secret key
// variable is sensitive: validate never prints it, and giving it with
// --var draws a warning.
func TestCurveKeysOffTheCommandLine(t *testing.T) {
	if !zmq.HasCurve() {
		t.Fatal("this libzmq has no CURVE support; zpipe's broker needs it for this test")
	}
	base, ok := brokers.commands[brokerproc.Zpipe]
	if !ok {
		t.Fatalf("this test needs the zpipe broker on the cgo transport; %s selects %v", envBrokers, brokers.kinds)
	}
	serverPub, serverSec := keypair(t)
	clientPub, clientSec := keypair(t)
	roguePub, rogueSec := keypair(t)
	keyFile := filepath.Join(t.TempDir(), "server.key")
	if err := os.WriteFile(keyFile, []byte(serverSec+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ZPIPE_VAR_curve_client_publickey=" + clientPub}

	root, err := zeektest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	pipeline := filepath.Join(root, "pipelines", "zeek-broker.hcl")
	r := runZpipe(t, env, "validate", "--var-file", "curve_server_secretkey="+keyFile, pipeline)
	if r.code != 0 || strings.Contains(r.output, serverSec) || strings.Contains(r.output, "warning") {
		t.Errorf("validate with the key in a file: exit %d, want 0 without warnings or the key:\n%s", r.code, r.output)
	}
	r = runZpipe(t, env, "validate", "--var", "curve_server_secretkey="+serverSec, pipeline)
	if r.code != 0 || strings.Contains(r.output, serverSec) ||
		!strings.Contains(unwrapped(r.output), `warning: Sensitive value on the command line`) ||
		!strings.Contains(unwrapped(r.output), `Give it with --var-file curve_server_secretkey=PATH or the environment variable ZPIPE_VAR_curve_server_secretkey instead.`) {
		t.Errorf("validate with the key on the command line: exit %d, want 0 with a warning, without the key:\n%s", r.code, r.output)
	}

	cmd := base
	cmd.Curve = &brokerproc.CurveClient{ServerKey: serverPub, PublicKey: clientPub, SecretKey: clientSec}
	cmd.Env = append(slices.Clone(base.Env), env...)
	cmd.Args = func(ep brokerproc.Endpoints) []string {
		args := append(base.Args(ep), "--var-file", "curve_server_secretkey="+keyFile)
		if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, serverSec) }) {
			t.Fatalf("the broker's command line holds the secret key: %v", args)
		}
		return args
	}
	testCurveBroker(t, cmd, serverPub, clientPub, clientSec, roguePub, rogueSec)
}
