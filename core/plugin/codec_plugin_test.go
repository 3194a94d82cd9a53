package plugin

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/builtin"
)

// The test binary doubles as a codec plugin: started by a CodecHost (which
// sets the codec cookie), it serves every built-in codec plus the test
// formats below instead of running tests.
func init() {
	if os.Getenv(MagicCookieKey) == CodecCookieValue {
		ServeCodec(testCodec())
		os.Exit(0) // zpipe stopped the plugin; never run the tests
	}
	if os.Getenv(codecByHandEnv) != "" {
		ServeCodec(testCodec()) // without the cookie: says what it is and exits
	}
}

// codecByHandEnv makes the test binary call ServeCodec without having been
// started by zpipe.
const codecByHandEnv = "ZPIPE_CODEC_TEST_BY_HAND"

// Test formats of the test codec plugin.
const (
	// testEcho decodes and encodes every payload to itself.
	testEcho = "test-echo"
	// testExit exits the plugin process on the payload "exit", and on a
	// payload naming a file that does not exist yet, after creating it.
	testExit = "test-exit"
	// testSlow sleeps for the duration a payload names ("10s", or
	// "10s:FILE" to create FILE afterwards), then echoes it.
	testSlow = "test-slow"
)

func testCodec() batch.Codec {
	echo := func(dst, p []byte) ([]byte, error) { return append(dst, p...), nil }
	exit := func(dst, p []byte) ([]byte, error) {
		switch s := string(p); {
		case s == "exit":
			os.Exit(3)
		case strings.HasPrefix(s, "once:"):
			f, err := os.OpenFile(strings.TrimPrefix(s, "once:"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err == nil {
				f.Close()
				os.Exit(3)
			}
		}
		return append(dst, p...), nil
	}
	slow := func(dst, p []byte) ([]byte, error) {
		dur, marker, _ := strings.Cut(string(p), ":")
		d, err := time.ParseDuration(dur)
		if err != nil {
			return dst, err
		}
		time.Sleep(d)
		if marker != "" {
			if err := os.WriteFile(marker, nil, 0o600); err != nil {
				return dst, err
			}
		}
		return append(dst, p...), nil
	}
	handlers := append(builtin.All(),
		batch.Handler{Name: testEcho, Kinds: []batch.Kind{batch.KindEvent}, Decode: echo, Encode: echo},
		batch.Handler{Name: testExit, Kinds: []batch.Kind{batch.KindEvent}, Decode: exit},
		batch.Handler{Name: testSlow, Kinds: []batch.Kind{batch.KindEvent}, Decode: slow},
	)
	c, err := batch.NewLocal("test", "1.2.3", handlers...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return c
}

// startCodecHost starts the test binary as a codec plugin; the host is shut
// down at the end of the test.
func startCodecHost(t testing.TB, cfg HostConfig) *CodecHost {
	t.Helper()
	if cfg.Path == "" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Path = exe
	}
	if cfg.Logger == nil {
		if tt, ok := t.(*testing.T); ok {
			cfg.Logger, _ = testLogger(tt)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := StartCodec(ctx, cfg)
	if err != nil {
		t.Fatalf("StartCodec: %v", err)
	}
	t.Cleanup(func() { _ = h.Shutdown() })
	return h
}
