package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/brokerjson"
	"github.com/zpipe/zpipe/core/codec/builtin"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
	cpb "github.com/zpipe/zpipe/core/plugin/proto/codecv1"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/testutil"
)

func itemsOf(ps ...[]byte) *batch.Items {
	var it batch.Items
	for _, p := range ps {
		it.Append(p)
	}
	return &it
}

func localCodec(t testing.TB) *batch.Local {
	t.Helper()
	l, err := batch.NewLocal("local", "1", builtin.All()...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// generatedPayloads returns n payloads of generated events or log batches
// in each format that decodes: broker-bin-v1, broker-json-v1 (with values
// the JSON form carries exactly), zeek-bin-serializer, and
// zpipe-msgpack-v1 events and log batches.
func generatedPayloads(t testing.TB, seed uint64, n int) map[string]*batch.Items {
	t.Helper()
	out := map[string]*batch.Items{}
	add := func(format string, p []byte, err error) {
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if out[format] == nil {
			out[format] = &batch.Items{}
		}
		out[format].Append(p)
	}
	g := valuetest.New(seed)
	for range n {
		ev := g.Event()
		p, err := brokerbin.AppendEvent(nil, &ev)
		add("broker-bin-v1", p, err)
		p, err = zmsgpack.AppendEvent(nil, &ev)
		add("zpipe-msgpack-v1", p, err)
	}
	g.Millis = true
	for range n {
		ev := g.Event()
		p, err := brokerjson.AppendEvent(nil, &ev)
		add("broker-json-v1", p, err)
	}
	g.Millis, g.Seconds = false, true
	out["zeek-bin-serializer"] = &batch.Items{}
	for out["zeek-bin-serializer"].Len() < n {
		b := g.LogBatch()
		p, err := zeeklog.Append(nil, b)
		if err != nil {
			continue // generated sets may hold duplicates; Zeek's format refuses them
		}
		add("zeek-bin-serializer", p, nil)
		p, err = zmsgpack.AppendLogBatch(nil, b)
		add("zpipe-msgpack-v1", p, err)
	}
	return out
}

func TestCodecDescribe(t *testing.T) {
	t.Parallel()
	h := startCodecHost(t, HostConfig{})
	d, err := h.Describe(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := localCodec(t).Describe(context.Background())
	if d.Name != "test" || d.Version != "1.2.3" || d.Protocol != batch.ProtocolVersion {
		t.Fatalf("description %+v", d)
	}
	for i, f := range want.Formats {
		if !reflect.DeepEqual(d.Formats[i], f) {
			t.Fatalf("format %d = %+v, want %+v", i, d.Formats[i], f)
		}
	}
	if h.Name() == "" || !h.Up() || h.PID() == 0 || h.PID() == os.Getpid() {
		t.Fatalf("name %q up %v pid %d", h.Name(), h.Up(), h.PID())
	}
}

// TestCodecMatchesInProcess decodes and encodes generated events and log
// batches of every format through the plugin and in process: the documents
// and payloads are identical, and every payload survives the round trip.
func TestCodecMatchesInProcess(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startCodecHost(t, HostConfig{})
	local := localCodec(t)
	for format, in := range generatedPayloads(t, 11, 300) {
		var viaPlugin, inProcess batch.Result
		if err := h.Decode(ctx, format, in, &viaPlugin); err != nil {
			t.Fatal(err)
		}
		if err := local.Decode(ctx, format, in, &inProcess); err != nil {
			t.Fatal(err)
		}
		if len(viaPlugin.Errors) != 0 || !bytes.Equal(viaPlugin.Items.Data, inProcess.Items.Data) {
			t.Fatalf("%s: documents differ (errors %v)", format, viaPlugin.Errors)
		}
		var back batch.Result
		if err := h.Encode(ctx, format, &viaPlugin.Items, &back); err != nil {
			t.Fatal(err)
		}
		if len(back.Errors) != 0 || back.Items.Len() != in.Len() {
			t.Fatalf("%s: encode errors %v", format, back.Errors)
		}
		want := in.Slices()
		for i, p := range back.Items.All() {
			if !bytes.Equal(p, want[i]) {
				t.Fatalf("%s: payload %d differs after the round trip:\n% x\n% x", format, i, p, want[i])
			}
		}
	}
}

// TestCodecItemErrorsCrossTheBoundary sends a batch with malformed payloads
// among good ones: the good ones decode, the bad ones come back with their
// offsets and messages.
func TestCodecItemErrorsCrossTheBoundary(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startCodecHost(t, HostConfig{})
	ev := value.Event{Name: "Cluster::hello", Args: []value.Value{value.String("worker-1"), value.String("id")}}
	good, err := brokerbin.AppendEvent(nil, &ev)
	if err != nil {
		t.Fatal(err)
	}
	var out batch.Result
	if err := h.Decode(ctx, "broker-bin-v1", itemsOf(good, good[:20], good, []byte{0x0f}), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 2 {
		t.Fatalf("errors %+v", out.Errors)
	}
	if e := out.Err(1); e == nil || e.Offset != 20 || !strings.Contains(e.Msg, "brokerbin: offset 20: want 1 bytes of event content vector tag") {
		t.Fatalf("item 1: %+v", e)
	}
	if e := out.Err(3); e == nil || e.Offset != 0 || !strings.Contains(e.Msg, "want event vector tag 0x0e") {
		t.Fatalf("item 3: %+v", e)
	}
	docs := out.Items.Slices()
	for _, i := range []int{0, 2} {
		got, err := zmsgpack.DecodeEvent(docs[i])
		if err != nil || got.Name != ev.Name || got.Args[0].Str() != "worker-1" {
			t.Fatalf("document %d: %+v, %v", i, got, err)
		}
	}
}

func TestCodecWholeCallErrors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startCodecHost(t, HostConfig{})
	var out batch.Result
	err := h.Decode(ctx, "broker-bin-v9", itemsOf([]byte("x")), &out)
	if !errors.Is(err, batch.ErrUnknownFormat) || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `decode "broker-bin-v9"`) {
		t.Fatalf("unknown format: %v", err)
	}
	err = h.Decode(ctx, "zpipe-jsonl-v1", itemsOf([]byte("x")), &out)
	if !errors.Is(err, batch.ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("decoding an output format: %v", err)
	}
	bad := &batch.Items{Data: []byte("ab"), Sizes: []uint32{9}}
	if err := h.Decode(ctx, testEcho, bad, &out); err == nil || !strings.Contains(err.Error(), "sizes add up to 9 bytes") {
		t.Fatalf("inconsistent items: %v", err)
	}
	// The stream survives failed requests.
	if err := h.Decode(ctx, testEcho, itemsOf([]byte("still here")), &out); err != nil || string(out.Items.Data) != "still here" {
		t.Fatalf("after errors: %q, %v", out.Items.Data, err)
	}
}

// TestCodecConcurrentCalls shares one host between goroutines; every
// caller gets the answer to its own batch.
func TestCodecConcurrentCalls(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startCodecHost(t, HostConfig{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				var in batch.Items
				for j := range 1 + (w*7+i)%40 {
					in.Append(fmt.Appendf(nil, "w%d-b%d-i%d", w, i, j))
				}
				var out batch.Result
				op := h.Decode
				if i%2 == 1 {
					op = h.Encode
				}
				if err := op(ctx, testEcho, &in, &out); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(out.Items.Data, in.Data) || out.Items.Len() != in.Len() {
					errs <- fmt.Errorf("worker %d batch %d: got %q", w, i, out.Items.Data)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestCodecRestartsAfterKill kills the idle plugin: the host restarts it
// and the next call works.
func TestCodecRestartsAfterKill(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	restarted := make(chan error, 1)
	h := startCodecHost(t, HostConfig{OnRestart: func(_ int, err error) { restarted <- err }})
	var out batch.Result
	if err := h.Decode(ctx, testEcho, itemsOf([]byte("before")), &out); err != nil {
		t.Fatal(err)
	}
	pid := h.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-restarted:
		if !strings.Contains(err.Error(), fmt.Sprint(pid)) {
			t.Errorf("restart cause %v does not name the process", err)
		}
	case <-ctx.Done():
		t.Fatal("no restart")
	}
	if err := h.Decode(ctx, testEcho, itemsOf([]byte("after")), &out); err != nil || string(out.Items.Data) != "after" {
		t.Fatalf("after the restart: %q, %v", out.Items.Data, err)
	}
	if h.Restarts() != 1 || h.PID() == pid {
		t.Fatalf("restarts %d, pid %d (was %d)", h.Restarts(), h.PID(), pid)
	}
}

// TestCodecBatchSurvivesACrash crashes the plugin while it decodes a batch:
// the batch is sent again to the next process and succeeds. A batch that
// crashes every process it meets fails after CodecAttempts tries, and the
// host goes on.
func TestCodecBatchSurvivesACrash(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startCodecHost(t, HostConfig{Backoff: Backoff{Initial: 10 * time.Millisecond}})
	marker := filepath.Join(t.TempDir(), "crashed")
	var out batch.Result
	in := itemsOf([]byte("a"), []byte("once:"+marker), []byte("c"))
	if err := h.Decode(ctx, testExit, in, &out); err != nil {
		t.Fatalf("batch through a crash: %v", err)
	}
	if !bytes.Equal(out.Items.Data, in.Data) || h.Restarts() != 1 {
		t.Fatalf("got %q after %d restarts", out.Items.Data, h.Restarts())
	}
	err := h.Decode(ctx, testExit, itemsOf([]byte("exit")), &out)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the plugin exited %d times while the batch was in flight", CodecAttempts)) {
		t.Fatalf("poison batch: %v", err)
	}
	if err := h.Decode(ctx, testEcho, itemsOf([]byte("ok")), &out); err != nil || string(out.Items.Data) != "ok" {
		t.Fatalf("after the poison batch: %q, %v", out.Items.Data, err)
	}
}

// TestCodecCancelledCall gives up on a slow batch: the call returns while
// the plugin is still at work on it, and the host goes on serving.
func TestCodecCancelledCall(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startCodecHost(t, HostConfig{})
	marker := filepath.Join(t.TempDir(), "done")
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	var out batch.Result
	err := h.Decode(short, testSlow, itemsOf([]byte("20s:"+marker)), &out)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow call: %v", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the call returned only after the plugin finished the batch (%v)", err)
	}
	if err := h.Encode(ctx, testEcho, itemsOf([]byte("meanwhile")), &out); err != nil || string(out.Items.Data) != "meanwhile" {
		t.Fatalf("after the cancelled call: %q, %v", out.Items.Data, err)
	}
}

func TestCodecShutdown(t *testing.T) {
	t.Parallel()
	h := startCodecHost(t, HostConfig{})
	pid := h.PID()
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	var out batch.Result
	if err := h.Decode(testContext(t), testEcho, itemsOf([]byte("x")), &out); !errors.Is(err, ErrHostClosed) {
		t.Fatalf("after shutdown: %v", err)
	}
	if _, err := h.Describe(testContext(t)); !errors.Is(err, ErrHostClosed) {
		t.Fatalf("describe after shutdown: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, "the plugin process to end", func() bool { return processGone(pid) })
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// TestCodecStartFailures starts things that are not codec plugins.
func TestCodecStartFailures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, path string
		want       string
	}{
		{"no path", "", "no path given"},
		{"exits at once", "/bin/true", "is it a zpipe codec plugin of protocol version 1?"},
		{"a transport plugin", testPluginPath, "is it a zpipe codec plugin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			logger, _ := testLogger(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			h, err := StartCodec(ctx, HostConfig{Path: c.path, Logger: logger})
			if err == nil {
				_ = h.Shutdown()
				t.Fatal("StartCodec succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// TestCodecPluginRunByHand runs the plugin without zpipe: it says what it
// is and exits with status 1.
func TestCodecPluginRunByHand(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), codecByHandEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "is a zpipe codec plugin: zpipe starts it") {
		t.Fatalf("run by hand: %v\n%s", err, out)
	}
}

func TestCodecDescriptionChecks(t *testing.T) {
	for _, c := range []struct {
		r    *cpb.DescribeResponse
		want string
	}{
		{&cpb.DescribeResponse{Name: "x", Protocol: 7}, "speaks codec protocol 7, this zpipe speaks 1"},
		{&cpb.DescribeResponse{Name: "x", Protocol: 1, Formats: []*cpb.Format{{Name: "f", Kind: "stream", Decode: true}}}, `unknown kind "stream"`},
		{&cpb.DescribeResponse{Name: "x", Protocol: 1, Formats: []*cpb.Format{{Name: "f", Kind: "event"}}}, "neither decodes nor encodes"},
		{&cpb.DescribeResponse{Protocol: 1}, "without a name"},
	} {
		if _, err := codecDescriptionFromProto("p", c.r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.r, err, c.want)
		}
	}
}

func TestCodecResponseChecks(t *testing.T) {
	var r batch.Result
	for _, c := range []struct {
		resp *cpb.CodecResponse
		n    int
		want string
	}{
		{&cpb.CodecResponse{Items: &cpb.Items{Data: []byte("a"), Sizes: []uint32{1}}}, 2, "1 items for 2 inputs"},
		{&cpb.CodecResponse{Items: &cpb.Items{Data: []byte("a"), Sizes: []uint32{2}}}, 1, "sizes add up to 2 bytes"},
		{&cpb.CodecResponse{Items: &cpb.Items{Sizes: []uint32{0}}, Errors: []*cpb.ItemError{{Index: 0, Offset: -7}}}, 1, "at offset -7"},
		{&cpb.CodecResponse{Items: &cpb.Items{Sizes: []uint32{0}}, Errors: []*cpb.ItemError{{Index: 3}}}, 1, "beyond the 1 inputs"},
	} {
		if err := resultFromProto(&r, c.resp, c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}
