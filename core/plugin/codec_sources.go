package plugin

import (
	"context"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/registry"
)

// CodecSources returns a registry source for every codec plugin
// (zpipe-codec-*) in dirs, in search order, leaving out binaries shadowed by
// an earlier directory. Each source starts its plugin with StartCodec and
// cfg, Path and Name filled in; the registry starts them only when it needs
// them. The error reports directories that could not be read.
func CodecSources(dirs []string, cfg HostConfig) ([]registry.Source, error) {
	found, err := List(dirs)
	var out []registry.Source
	for _, f := range found {
		if f.Kind != "codec" || f.Shadowed {
			continue
		}
		c := cfg
		c.Path, c.Name = f.Path, f.Kind+"-"+f.Name
		out = append(out, registry.Source{
			Name: c.Name,
			Start: func(ctx context.Context) (batch.Codec, error) {
				h, err := StartCodec(ctx, c)
				if err != nil {
					return nil, err
				}
				return h, nil
			},
		})
	}
	return out, err
}
