// Package builtin lists the stage kinds, and the sink kinds running in
// zpipe's core, built into zpipe.
package builtin

import (
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/discard"
	"github.com/zpipe/zpipe/core/stage/filesink"
	"github.com/zpipe/zpipe/core/stage/filesource"
	"github.com/zpipe/zpipe/core/stage/filter"
	"github.com/zpipe/zpipe/core/stage/hello"
	"github.com/zpipe/zpipe/core/stage/otlpsink"
	"github.com/zpipe/zpipe/core/stage/queue"
	"github.com/zpipe/zpipe/core/stage/subscribe"
	"github.com/zpipe/zpipe/core/stage/transcode"
)

// Kinds returns every built-in stage kind, and the sink and source kinds
// that run in zpipe's core.
func Kinds() []stage.Kind {
	return []stage.Kind{queue.Onloop, queue.HWM, filter.Kind, transcode.Kind, hello.Kind, subscribe.Kind, discard.Kind, filesink.Kind, otlpsink.Kind, filesource.Kind}
}

// Registry returns a registry of the built-in stage kinds.
func Registry() (*stage.Registry, error) {
	return stage.NewRegistry(Kinds()...)
}
