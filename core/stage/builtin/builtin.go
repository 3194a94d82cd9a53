// Package builtin lists the stage kinds built into zpipe.
package builtin

import (
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/filter"
	"github.com/zpipe/zpipe/core/stage/queue"
	"github.com/zpipe/zpipe/core/stage/transcode"
)

// Kinds returns every built-in stage kind.
func Kinds() []stage.Kind {
	return []stage.Kind{queue.Onloop, queue.HWM, filter.Kind, transcode.Kind}
}

// Registry returns a registry of the built-in stage kinds.
func Registry() (*stage.Registry, error) {
	return stage.NewRegistry(Kinds()...)
}
