package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/zpipe/zpipe/core/plugin/internal/slogbridge"
	"github.com/zpipe/zpipe/core/transport"
)

// parentPollInterval is how often a plugin checks that zpipe still runs.
const parentPollInterval = time.Second

// ServeTransport serves impl as a zpipe transport plugin; it is all a
// transport plugin's main function does:
//
//	func main() { plugin.ServeTransport(mytransport.New()) }
//
// Run by hand instead of by zpipe, the binary says what it is and exits with
// status 1. The plugin exits when zpipe does: zpipe asks the kernel to kill
// it when its parent dies, and the plugin also watches its parent process.
// It ignores SIGTERM and SIGINT: zpipe stops it once its own drain is done.
// A panic in impl ends the plugin process; zpipe then starts a fresh one.
func ServeTransport(impl transport.Server) {
	exitUnlessStartedByZpipe("transport", TransportCookieValue)
	if impl == nil {
		fmt.Fprintln(os.Stderr, "zpipe plugin: ServeTransport called with a nil transport")
		os.Exit(1)
	}
	serve(TransportHandshake(), transportPluginSet(impl))
}

// exitUnlessStartedByZpipe ends a plugin binary run by hand, saying what
// it is, with status 1.
func exitUnlessStartedByZpipe(kind, cookie string) {
	if os.Getenv(MagicCookieKey) == cookie {
		return
	}
	fmt.Fprintf(os.Stderr,
		"%s is a zpipe %s plugin: zpipe starts it, it is not run by hand.\n"+
			"Put it next to the zpipe executable, in --plugin-dir or in $ZPIPE_PLUGIN_DIR,\n"+
			"then run zpipe (`zpipe plugins` lists the plugins zpipe finds).\n",
		filepath.Base(os.Args[0]), kind)
	os.Exit(1)
}

// serve serves plugins over go-plugin until zpipe ends the process, and
// exits when zpipe is gone.
func serve(handshake goplugin.HandshakeConfig, plugins goplugin.PluginSet) {
	// zpipe decides when its plugins stop. A SIGTERM or SIGINT sent to the
	// whole process group or cgroup (Ctrl-C at a terminal, systemctl stop)
	// reaches the plugins too; were they to exit at once, the messages
	// zpipe is still draining on its way out would be lost.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go watchParent(ctx, os.Getppid(), parentPollInterval, func() {
		fmt.Fprintln(os.Stderr, "zpipe plugin: parent process is gone, exiting")
		os.Exit(1)
	})
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         plugins,
		GRPCServer:      newGRPCServer,
	})
}

func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.MaxRecvMsgSize(maxMessageSize), grpc.MaxSendMsgSize(maxMessageSize))
	return grpc.NewServer(opts...)
}

// watchParent calls gone when the parent process is no longer ppid (the
// parent died and the process was re-parented), checking every interval
// until ctx ends.
func watchParent(ctx context.Context, ppid int, interval time.Duration, gone func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != ppid {
				gone()
				return
			}
		}
	}
}

// NewLogger returns a logger for plugin code. Its records show up in zpipe's
// log with their level and attributes, tagged with the plugin's name. Call it
// before ServeTransport: it writes to the process's stderr as it is then.
func NewLogger(level slog.Leveler) *slog.Logger {
	return slog.New(slogbridge.NewHCLogJSONHandler(os.Stderr, level))
}
