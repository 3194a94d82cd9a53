package filesink

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/builtin"
	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/internal/zeektest"
)

// connBatch returns a log-write message holding n conn records (22
// fields), made from the captured 7-record batch.
func connBatch(b *testing.B, n int) *message.Batch {
	b.Helper()
	frames, err := zeektest.LoadVector("zeek-log-conn-7rec.hex")
	if err != nil {
		b.Fatal(err)
	}
	lb, err := zeeklog.Decode(frames[3])
	if err != nil {
		b.Fatal(err)
	}
	rows := lb.Records
	lb.Records = nil
	for len(lb.Records) < n {
		lb.Records = append(lb.Records, rows[len(lb.Records)%len(rows)])
	}
	payload, err := zeeklog.Append(nil, lb)
	if err != nil {
		b.Fatal(err)
	}
	var m message.Batch
	m.Append(frames[0], frames[1], frames[2], payload)
	return &m
}

var (
	codecPluginOnce sync.Once
	codecPluginPath string
	codecPluginErr  error
)

// codecPlugin builds zpipe-codec-zeek once for the benchmarks.
func codecPlugin(b *testing.B) string {
	b.Helper()
	codecPluginOnce.Do(func() {
		dir, err := os.MkdirTemp("", "zpipe-filesink-bench")
		if err != nil {
			codecPluginErr = err
			return
		}
		codecPluginPath = filepath.Join(dir, "zpipe-codec-zeek")
		out, err := exec.Command("go", "build", "-o", codecPluginPath, "../../../plugins/codec-zeek").CombinedOutput()
		if err != nil {
			codecPluginErr = &buildError{err: err, out: string(out)}
		}
	})
	if codecPluginErr != nil {
		b.Fatal(codecPluginErr)
	}
	return codecPluginPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "build codec-zeek: " + e.err.Error() + "\n" + e.out }

// BenchmarkLogger measures the logger's path from log-write messages to
// the file, through the codec plugin (as zpipe runs it: the plugin renders
// the lines) beside the same rendering in process, the baseline, in TSV
// and JSON, for conn batches of 7, 100 and 1000 records (pushes of about
// 7000 records each). records/s counts conn records; MB/s the payload.
//
//	go test -run '^$' -bench Logger ./core/stage/filesink/
func BenchmarkLogger(b *testing.B) {
	for _, n := range []int{7, 100, 1000} {
		msg := connBatch(b, n)
		in := &message.Batch{}
		for range max(1, 7000/n) {
			for it := msg.Iter(); it.Next(); {
				in.Append(it.Frames(nil)...)
			}
		}
		records, payloadBytes := in.Len()*n, 0
		for it := in.Iter(); it.Next(); {
			payloadBytes += len(it.Frame(3))
		}
		for _, format := range []string{"tsv", "json"} {
			for _, where := range []string{"in-process", "plugin"} {
				b.Run(fmt.Sprintf("%d/%s/%s", n, format, where), func(b *testing.B) {
					var codecs *registry.Registry
					if where == "plugin" {
						h, err := plugin.StartCodec(context.Background(), plugin.HostConfig{Path: codecPlugin(b), Name: "codec-zeek"})
						if err != nil {
							b.Fatal(err)
						}
						codecs = registry.New(nil, registry.LocalSource("codec-zeek", h))
						b.Cleanup(func() { _ = h.Shutdown() })
					} else {
						local, err := batch.NewLocal("codecs", "bench", builtin.Zeek()...)
						if err != nil {
							b.Fatal(err)
						}
						codecs = registry.New(nil, registry.LocalSource("codecs", local))
					}
					env := stagetest.Env(b, nil)
					env.Codecs = codecs
					raw, _ := json.Marshal(map[string]any{"dir": b.TempDir(), "format": format, "rotate_interval": "0s", "rotate_size": 0, "file": ""})
					s, err := Kind.New(env, raw)
					if err != nil {
						b.Fatal(err)
					}
					b.SetBytes(int64(payloadBytes))
					ctx := context.Background()
					for b.Loop() {
						if err := s.Push(ctx, in); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
					if st := s.Stats(); st.Dropped[stage.DropMalformed] != 0 || st.Sent == 0 {
						b.Fatalf("stats %+v", st)
					}
					s.CloseInput()
					if err := s.Run(ctx); err != nil {
						b.Fatal(err)
					}
				})
			}
		}
	}
}
