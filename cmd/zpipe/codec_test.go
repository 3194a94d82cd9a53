package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/internal/vectors"
)

var (
	codecPluginsOnce sync.Once
	codecPluginsDir  string
	codecPluginsErr  error
)

// codecPlugins builds the three codec plugins, once, into a directory
// inside the test plugin directory (removed by TestMain).
func codecPlugins(t *testing.T) string {
	t.Helper()
	codecPluginsOnce.Do(func() {
		dir := filepath.Join(pluginDir, "codecs")
		if codecPluginsErr = os.MkdirAll(dir, 0o755); codecPluginsErr != nil {
			return
		}
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i, name := range []string{"zeek", "json", "msgpack"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "zpipe-codec-"+name), "../../plugins/codec-"+name)
				if out, err := cmd.CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("build zpipe-codec-%s: %v\n%s", name, err, out)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil && codecPluginsErr == nil {
				codecPluginsErr = err
			}
		}
		codecPluginsDir = dir
	})
	if codecPluginsErr != nil {
		t.Fatal(codecPluginsErr)
	}
	return codecPluginsDir
}

// zpipeCodec runs the CLI in-process with the codec plugins and stdin.
func zpipeCodec(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	dir := codecPlugins(t)
	var out, errOut bytes.Buffer
	env := []string{"ZPIPE_PLUGIN_DIR=" + pluginDir}
	code := execute(append([]string{"--plugin-dir", dir}, args...), bytes.NewReader(stdin), &out, &errOut, env)
	return result{code, out.String(), errOut.String()}
}

// Vectors that are single payloads, by the format they are in.
var payloadFormats = map[string]string{
	"broker-bin-unit-test-node_status.hex": "broker-bin-v1",
	"event-all-types-bin.hex":              "broker-bin-v1",
	"event-all-types-json.hex":             "broker-json-v1",
	"zeek-bin-unit-test-log.hex":           "zeek-bin-serializer",
}

// Vectors that are no codec payloads, and why.
var notPayloads = map[string]string{
	"sub-nodeid.hex":                "an XSUB subscription message, not a payload",
	"unsub-nodeid.hex":              "an XSUB unsubscription message, not a payload",
	"zeek-sub-custom-topic.hex":     "an XSUB subscription message, not a payload",
	"zeek-sub-node.hex":             "an XSUB subscription message, not a payload",
	"zeek-sub-nodeid.hex":           "an XSUB subscription message, not a payload",
	"zeek-sub-pool-worker.hex":      "an XSUB subscription message, not a payload",
	"zeek-sub-role-manager.hex":     "an XSUB subscription message, not a payload",
	"zeek-sub-role-worker.hex":      "an XSUB subscription message, not a payload",
	"zeek-unsub-nodeid.hex":         "an XSUB unsubscription message, not a payload",
	"proxy-statistics-reply-le.hex": "the broker's STATISTICS control reply, not a payload",
}

// TestDecodeEncodeEveryVector runs 'decode --hex | encode --hex' on every
// vector file: each payload and message comes back byte for byte. Every
// format is canonical for the vectors (Zeek's own output and the derived
// ones); the files that are not codec payloads are listed in
// notPayloads with the reason.
func TestDecodeEncodeEveryVector(t *testing.T) {
	files := append(vectors.Glob(t, "captured/*.hex"), vectors.Glob(t, "derived/*.hex")...)
	sort.Strings(files)
	if len(files) < 29 {
		t.Fatalf("found %d vector files, want the 29 of %s", len(files), vectors.Dir)
	}
	checked := 0
	for _, path := range files {
		name := filepath.Base(path)
		if why, skip := notPayloads[name]; skip {
			t.Logf("%s: not round-tripped: %s", name, why)
			continue
		}
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"decode", "--hex", path}
			if f, ok := payloadFormats[name]; ok {
				args = append(args, "--format", f)
			}
			dec := zpipeCodec(t, nil, args...)
			if dec.code != exitOK {
				t.Fatalf("decode: exit %d\n%s", dec.code, dec.stderr)
			}
			enc := zpipeCodec(t, []byte(dec.stdout), "encode", "--hex")
			if enc.code != exitOK {
				t.Fatalf("encode: exit %d\n%s\ninput %s", enc.code, enc.stderr, dec.stdout)
			}
			if enc.stdout != string(want) {
				t.Fatalf("decode | encode differs from %s:\n got %s\nwant %s\nJSON %s", name, enc.stdout, want, dec.stdout)
			}
		})
		checked++
	}
	if checked != 19 {
		t.Fatalf("round-tripped %d vectors, want 19", checked)
	}
}

// TestDecodeMessageJSON checks what decode prints for a captured message.
func TestDecodeMessageJSON(t *testing.T) {
	r := zpipeCodec(t, nil, "decode", "--hex", vectors.Path(t, "derived/event-zmq-hello.hex"))
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := `{"topic":"zeek.cluster.nodeid.zeromq_worker-1_zeek1_4242_N3xQ.","sender":"zeromq_manager_zeek1_4100_N9kP",` +
		`"format":"broker-bin-v1","event":{"name":"Cluster::Backend::ZeroMQ::hello","args":[` +
		`{"@type":"string","value":"manager"},{"@type":"string","value":"zeromq_manager_zeek1_4100_N9kP"}]}}` + "\n"
	if r.stdout != want {
		t.Fatalf("got  %s\nwant %s", r.stdout, want)
	}
	r = zpipeCodec(t, nil, "decode", "--hex", vectors.Path(t, "captured/zeek-log-test.hex"))
	var doc map[string]json.RawMessage
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &doc) != nil || string(doc["topic"]) != `"log-write"` || doc["log"] == nil {
		t.Fatalf("log message: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestDecodeRawPayload decodes a bare payload from standard input, then
// converts the event into other formats and back.
func TestDecodeRawPayload(t *testing.T) {
	frames := vectors.Load(t, "derived/event-zmq-hello.hex")
	payload := frames[3]
	r := zpipeCodec(t, payload, "decode", "--format", "broker-bin-v1")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, `{"format":"broker-bin-v1","event":{"name":"Cluster::Backend::ZeroMQ::hello"`) {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Raw bytes out reproduce the payload.
	if enc := zpipeCodec(t, []byte(r.stdout), "encode"); enc.code != exitOK || enc.stdout != string(payload) {
		t.Fatalf("raw encode: exit %d %q %s", enc.code, enc.stdout, enc.stderr)
	}
	// broker-bin-v1 → broker-json-v1 gives the derived JSON twin.
	jsonTwin := vectors.Load(t, "derived/event-zmq-hello-json.hex")[3]
	doc := strings.Replace(r.stdout, `"format":"broker-bin-v1"`, `"format":"broker-json-v1"`, 1)
	if enc := zpipeCodec(t, []byte(doc), "encode"); enc.code != exitOK || enc.stdout != string(jsonTwin) {
		t.Fatalf("to JSON: exit %d\n%s\n%s", enc.code, enc.stdout, enc.stderr)
	}
	// → zpipe-msgpack-v1 and back through decode.
	doc = strings.Replace(r.stdout, `"format":"broker-bin-v1"`, `"format":"zpipe-msgpack-v1"`, 1)
	msgpack := zpipeCodec(t, []byte(doc), "encode")
	if msgpack.code != exitOK {
		t.Fatalf("to msgpack: exit %d %s", msgpack.code, msgpack.stderr)
	}
	back := zpipeCodec(t, []byte(msgpack.stdout), "decode", "--format", "zpipe-msgpack-v1")
	if back.code != exitOK || back.stdout != doc {
		t.Fatalf("msgpack round trip:\n got %s\nwant %s\n%s", back.stdout, doc, back.stderr)
	}
}

// TestEncodeJSONLines renders a captured log batch as Zeek's JSON log lines.
func TestEncodeJSONLines(t *testing.T) {
	dec := zpipeCodec(t, nil, "decode", "--hex", vectors.Path(t, "captured/zeek-log-test.hex"))
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(dec.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	bare, _ := json.Marshal(map[string]json.RawMessage{"log": doc["log"]})
	r := zpipeCodec(t, bare, "encode", "--format", "zpipe-jsonl-v1")
	want, err := os.ReadFile(vectors.Path(t, "captured/expected/json/test.log"))
	if err != nil {
		t.Fatal(err)
	}
	if r.code != exitOK || r.stdout != string(want) {
		t.Fatalf("exit %d\n got %s\nwant %s\n%s", r.code, r.stdout, want, r.stderr)
	}
}

func TestCodecCommandErrors(t *testing.T) {
	hello := vectors.Path(t, "derived/event-zmq-hello.hex")
	badHex := writeFile(t, "bad.hex", "0e03\nzz\n")
	threeFrames := writeFile(t, "three.hex", "61\n62\n63\n")
	truncated := writeFile(t, "trunc.hex", hex.EncodeToString(vectors.Load(t, "derived/event-zmq-hello.hex")[3][:30])+"\n")
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"bare payload without a format", "", []string{"decode", "--hex", truncated}, exitUsage, "a bare payload needs --format"},
		{"format disagrees with frame 2", "", []string{"decode", "--hex", "--format", "broker-json-v1", hello}, exitError, `--format "broker-json-v1", but frame 2 of the message names "broker-bin-v1"`},
		{"bad hex", "", []string{"decode", "--hex", badHex}, exitError, "hex input line 2"},
		{"three frames", "", []string{"decode", "--hex", threeFrames}, exitError, "input has 3 frames: want 1 (a payload) or 4"},
		{"malformed payload", "", []string{"decode", "--hex", "--format", "broker-bin-v1", truncated}, exitError, "payload does not decode as broker-bin-v1: brokerbin: offset 24: want 31 bytes of event name, have 6"},
		{"unknown format", "", []string{"decode", "--hex", "--format", "broker-bin-v7", truncated}, exitError, `no codec can decode format "broker-bin-v7" (formats known: broker-bin-v1, broker-json-v1, zeek-bin-serializer, zpipe-msgpack-v1)`},
		{"missing file", "", []string{"decode", "--hex", filepath.Join(t.TempDir(), "nope.hex")}, exitError, "no such file"},
		{"two files", "", []string{"decode", hello, hello}, exitUsage, "accepts at most 1 arg"},
		{"not JSON", "{", []string{"encode"}, exitError, "input is not a document as 'zpipe decode' prints it"},
		{"unknown key", `{"format":"broker-bin-v1","evnt":{}}`, []string{"encode"}, exitError, `unknown field "evnt"`},
		{"no format", `{"event":{"name":"x","args":[]}}`, []string{"encode"}, exitUsage, `the document has no "format"`},
		{"formats disagree", `{"format":"broker-bin-v1","event":{"name":"x","args":[]}}`, []string{"encode", "--format", "broker-json-v1"}, exitError, `--format "broker-json-v1", but the document's format is "broker-bin-v1"`},
		{"neither event nor log", `{"format":"broker-bin-v1"}`, []string{"encode"}, exitError, `exactly one of "event" and "log"`},
		{"bad typed value", `{"format":"broker-bin-v1","event":{"name":"x","args":[{"@type":"port","value":"80/sctp"}]}}`, []string{"encode"}, exitError, `unknown protocol "sctp"`},
		{"message without --hex", `{"topic":"t","sender":"s","format":"broker-bin-v1","event":{"name":"x","args":[]}}`, []string{"encode"}, exitError, "use --hex"},
		{"log as an event format", `{"format":"broker-bin-v1","log":{"stream":"S","writer":"W","filter":"f","path":"p","fields":[],"records":[]}}`, []string{"encode"}, exitError, "does not encode as broker-bin-v1"},
		{"two documents", `{"format":"x"} {}`, []string{"encode"}, exitError, "more than one JSON document"},
		{"empty frame", `{"topic":"","sender":"s","format":"broker-bin-v1","event":{"name":"x","args":[]}}`, []string{"encode", "--hex"}, exitError, "frame 0 is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := zpipeCodec(t, []byte(c.stdin), c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d (want %d)\nstderr %s\nwant it to contain %q", r.code, c.code, r.stderr, c.want)
			}
		})
	}
}

func TestCodecCommandsHelp(t *testing.T) {
	for _, cmd := range []string{"decode", "encode"} {
		r := zpipe(t, cmd, "--help")
		if r.code != exitOK || !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "--hex") {
			t.Errorf("zpipe %s --help: exit %d\n%s", cmd, r.code, r.stdout)
		}
	}
}

// TestNoCodecPlugins runs decode where no codec plugin is.
func TestNoCodecPlugins(t *testing.T) {
	empty := t.TempDir()
	var out, errOut bytes.Buffer
	code := execute([]string{"decode", "--plugin-dir", empty, "--format", "broker-bin-v1"}, strings.NewReader("x"), &out, &errOut, nil)
	if code != exitError || !strings.Contains(errOut.String(), "no codec plugins (zpipe-codec-*) found in "+empty) {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

// FuzzHexFrames parses arbitrary input as hex frames: it fails cleanly or
// gives frames that print back to the same parse.
func FuzzHexFrames(f *testing.F) {
	f.Add([]byte("0e03\n0200\n"))
	f.Add([]byte("  ab \n\n cd\r\n"))
	f.Add([]byte("zz\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := message.ParseHexFrames(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		for _, fr := range frames {
			if len(fr) == 0 {
				t.Fatalf("empty frame from %q", data)
			}
			buf.WriteString(hex.EncodeToString(fr) + "\n")
		}
		again, err := message.ParseHexFrames(buf.Bytes())
		if err != nil || len(again) != len(frames) {
			t.Fatalf("reparse of %q: %v", buf.Bytes(), err)
		}
		for i := range frames {
			if !bytes.Equal(frames[i], again[i]) {
				t.Fatalf("frame %d changed", i)
			}
		}
	})
}

// FuzzEncodeDocument feeds arbitrary JSON to the document parser of
// 'zpipe encode' (value's typed JSON below it): it fails with an error or
// gives a document that marshals again, never a panic.
func FuzzEncodeDocument(f *testing.F) {
	f.Add([]byte(`{"format":"broker-bin-v1","event":{"name":"x","args":[{"@type":"count","value":"1"}]}}`))
	f.Add([]byte(`{"topic_base64":"/w==","sender":"s","format":"f","log":{"stream":"S","writer":"W","filter":"f","path":"p","fields":[{"name":"a","type":"count","subtype":"void","optional":false}],"records":[[{"@type":"count","value":"2"}]]}}`))
	f.Add([]byte(`{"format":"x","event":{"name":"e","args":[{"@type":"table","value":[{"key":{"@type":"addr","value":"::1"},"value":{"@type":"subnet","value":"10.0.0.0/8"}}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var doc codecDocument
		if err := dec.Decode(&doc); err != nil {
			return
		}
		if _, err := json.Marshal(&doc); err != nil && !strings.Contains(err.Error(), "not UTF-8") {
			t.Fatalf("decoded document does not marshal: %v", err)
		}
	})
}

// TestCodecPluginsDescribeThemselves starts each built codec plugin and
// checks the formats it announces.
func TestCodecPluginsDescribeThemselves(t *testing.T) {
	dir := codecPlugins(t)
	want := map[string]string{
		"zeek":    "broker-bin-v1/event/de zeek-bin-serializer/log/de",
		"json":    "broker-json-v1/event/de zpipe-jsonl-v1/event/e zpipe-jsonl-v1/log/e",
		"msgpack": "zpipe-msgpack-v1/event/de zpipe-msgpack-v1/log/de",
	}
	for name, formats := range want {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			h, err := plugin.StartCodec(ctx, plugin.HostConfig{Path: filepath.Join(dir, "zpipe-codec-"+name)})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Shutdown()
			d, err := h.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range d.Formats {
				ops := ""
				if f.Decode {
					ops += "d"
				}
				if f.Encode {
					ops += "e"
				}
				got = append(got, f.Name+"/"+string(f.Kind)+"/"+ops)
				if f.Description == "" {
					t.Errorf("format %s has no description", f.Name)
				}
			}
			if d.Name != name || d.Version == "" || strings.Join(got, " ") != formats {
				t.Fatalf("%s %s announces %s, want %s", d.Name, d.Version, strings.Join(got, " "), formats)
			}
		})
	}
}

func TestPluginsListsCodecFormats(t *testing.T) {
	r := zpipeCodec(t, nil, "plugins")
	if r.code != exitOK {
		t.Fatalf("plugins: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"codec-zeek", "broker-bin-v1(event:decode+encode)", "zeek-bin-serializer(log:decode+encode)",
		"codec-json", "broker-json-v1(event:decode+encode)",
		"codec-msgpack", "zpipe-msgpack-v1(log:decode+encode)",
		"transport-cgo",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plugins output lacks %q:\n%s", want, r.stdout)
		}
	}
}
