package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/cluster"
	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/engine"
	"github.com/zpipe/zpipe/core/value"
)

// clusterFlags are the flags of the commands that talk to a Zeek cluster.
type clusterFlags struct {
	broker     string
	xpub, xsub string
	format     string
	transport  string
	timeout    time.Duration
}

func (f *clusterFlags) register(cmd *cobra.Command, withTimeout bool) {
	cmd.Flags().StringVar(&f.broker, "broker", "127.0.0.1", "host of the cluster's broker (its XPUB on port 5555, XSUB on 5556, Zeek's defaults)")
	cmd.Flags().StringVar(&f.xpub, "broker-xpub", "", "the broker's XPUB endpoint, overriding --broker (e.g. tcp://10.0.0.1:5555)")
	cmd.Flags().StringVar(&f.xsub, "broker-xsub", "", "the broker's XSUB endpoint, overriding --broker (e.g. tcp://10.0.0.1:5556)")
	cmd.Flags().StringVar(&f.format, "event-format", cluster.DefaultFormat, "the cluster's event format (Cluster::Backend::ZeroMQ event serializer)")
	cmd.Flags().StringVar(&f.transport, "transport", "cgo", "transport plugin to use (cgo or purego)")
	if withTimeout {
		cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "give up when the broker has not answered within this time")
	}
}

func (f *clusterFlags) config() (cluster.Config, error) {
	host := f.broker
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]" // an IPv6 address
	}
	c := cluster.Config{BrokerXPub: f.xpub, BrokerXSub: f.xsub, Format: f.format}
	if c.BrokerXPub == "" {
		c.BrokerXPub = "tcp://" + host + ":5555"
	}
	if c.BrokerXSub == "" {
		c.BrokerXSub = "tcp://" + host + ":5556"
	}
	for _, ep := range []string{c.BrokerXPub, c.BrokerXSub} {
		if !strings.HasPrefix(ep, "tcp://") && !strings.HasPrefix(ep, "ipc://") {
			return c, usageError{fmt.Errorf("endpoint %q: want tcp://HOST:PORT or ipc://PATH", ep)}
		}
	}
	return c, nil
}

// withCluster starts the transport and the codecs, runs fn with a cluster
// client and stops everything afterwards.
func (a *app) withCluster(ctx context.Context, f *clusterFlags, fn func(ctx context.Context, c *cluster.Client) error) error {
	cfg, err := f.config()
	if err != nil {
		return err
	}
	logger, err := a.logger()
	if err != nil {
		return err
	}
	cfg.Logger = logger
	eng := engine.New(a.pluginDirs(), logger)
	defer eng.Close()
	tr, _, err := eng.Transport(ctx, f.transport)
	if err != nil {
		return err
	}
	c, err := cluster.New(tr, eng.Codecs(), cfg)
	if err != nil {
		return err
	}
	return fn(ctx, c)
}

func newTailCmd(a *app) *cobra.Command {
	var f clusterFlags
	var topics []string
	var format string
	cmd := &cobra.Command{
		Use:   "tail [--broker HOST] [--topic PREFIX]... [--format json|text]",
		Short: "Print the events published in a Zeek cluster, one line each, until Ctrl-C",
		Long: `Tail connects to a Zeek cluster's broker as a quiet participant: it
subscribes to the given topic prefixes (every topic by default) but to no
node-id topic, so Zeek's nodes do not see it, and prints every event
decoded, one line each, until interrupted.

  zpipe tail --broker 10.0.0.1 --topic zeek.cluster.worker
  zpipe tail --format text`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "json" && format != "text" {
				return usageError{fmt.Errorf("--format %q: want json or text", format)}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.withCluster(ctx, &f, func(ctx context.Context, c *cluster.Client) error {
				return c.Tail(ctx, topics, func(m registry.Message) error {
					_, err := a.stdout.Write(renderMessage(nil, m, format))
					return err
				})
			})
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringArrayVar(&topics, "topic", nil, "topic prefix to subscribe to (repeatable; default: every topic)")
	cmd.Flags().StringVar(&format, "format", "json", "output: json (one object per line) or text")
	return cmd
}

// renderMessage renders one received message as a line.
func renderMessage(dst []byte, m registry.Message, format string) []byte {
	switch {
	case m.Event != nil && format == "json":
		return jsonl.AppendEvent(dst, jsonl.Envelope{Time: time.Now(), Topic: m.Topic, Sender: m.Sender, Format: m.Format}, m.Event)
	case m.Event != nil:
		args := make([]string, len(m.Event.Args))
		for i, v := range m.Event.Args {
			args[i] = v.String()
		}
		return fmt.Appendf(dst, "%s %s %s(%s)\n", time.Now().Format("15:04:05.000"), m.Topic, m.Event.Name, strings.Join(args, ", "))
	case m.Log != nil:
		return fmt.Appendf(dst, "{\"topic\":%q,\"log\":%q,\"records\":%d}\n", m.Topic, m.Log.Path, len(m.Log.Records))
	case m.Err != nil:
		return fmt.Appendf(dst, "{\"topic\":%q,\"format\":%q,\"error\":%q}\n", m.Topic, m.Format, m.Err.Error())
	default:
		return fmt.Appendf(dst, "{\"topic\":%q,\"format\":%q,\"undecoded\":true}\n", m.Topic, m.Format)
	}
}

func newPublishCmd(a *app) *cobra.Command {
	var f clusterFlags
	var topic, event string
	cmd := &cobra.Command{
		Use:   "publish --topic TOPIC --event NAME [ARGS-AS-JSON]",
		Short: "Publish one event in a Zeek cluster, if anyone subscribes to its topic",
		Long: `Publish sends one event to a Zeek cluster in the cluster's format. It first
waits until the broker has told it every subscription it holds (the probe of
Zeek's WebSocket component), so the event is not dropped for want of a
subscriber; if no subscription matches the topic it sends nothing, says so
and exits 1.

ARGS-AS-JSON is a JSON array of the event's arguments. Plain JSON maps to
Zeek types as: string → string, true/false → bool, a whole number → count
(or int when negative), any other number → double, array → vector,
null → none. Any other type is written in zpipe's typed form, as zpipe
decode prints it: {"@type":"port","value":"443/tcp"}.

  zpipe publish --topic zeek.cluster.worker --event Test::ping '["hello", 42]'`,
		Args: argsUsage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if topic == "" || event == "" {
				return usageError{errors.New("--topic and --event are required")}
			}
			ev := value.Event{Name: event}
			if len(args) == 1 {
				vals, err := parseArgs(args[0])
				if err != nil {
					return usageError{err}
				}
				ev.Args = vals
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			return a.withCluster(ctx, &f, func(ctx context.Context, c *cluster.Client) error {
				delivered, err := c.Publish(ctx, topic, &ev)
				if err != nil {
					return err
				}
				if !delivered {
					fmt.Fprintf(a.stderr, "zpipe: nobody subscribes to %q; the event was not sent\n", topic)
					return reportedError{exitError}
				}
				fmt.Fprintf(a.stdout, "published %s on %s as %s\n", event, topic, c.NodeID())
				return nil
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&topic, "topic", "", "topic to publish on (required)")
	cmd.Flags().StringVar(&event, "event", "", "event name, e.g. Cluster::hello or Test::ping (required)")
	return cmd
}

// parseArgs reads the event arguments given on the command line.
func parseArgs(text string) ([]value.Value, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("arguments: want a JSON array: %w", err)
	}
	out := make([]value.Value, 0, len(raw))
	for i, r := range raw {
		v, err := plainValue(r)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func plainValue(r json.RawMessage) (value.Value, error) {
	var x any
	dec := json.NewDecoder(strings.NewReader(string(r)))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return value.Value{}, err
	}
	switch t := x.(type) {
	case nil:
		return value.None(), nil
	case bool:
		return value.Bool(t), nil
	case string:
		return value.String(t), nil
	case json.Number:
		if !strings.ContainsAny(t.String(), ".eE") { // a whole number: count or int
			if n, err := strconv.ParseInt(t.String(), 10, 64); err == nil && n < 0 {
				return value.Int(n), nil
			}
			u, err := strconv.ParseUint(t.String(), 10, 64)
			if err != nil {
				return value.Value{}, fmt.Errorf("whole number %s is out of the range of count and int", t)
			}
			return value.Count(u), nil
		}
		f, err := t.Float64()
		if err != nil || math.IsInf(f, 0) {
			return value.Value{}, fmt.Errorf("number %s out of range", t)
		}
		return value.Real(f), nil
	case []any:
		var elems []json.RawMessage
		if err := json.Unmarshal(r, &elems); err != nil {
			return value.Value{}, err
		}
		vals := make([]value.Value, 0, len(elems))
		for _, e := range elems {
			v, err := plainValue(e)
			if err != nil {
				return value.Value{}, err
			}
			vals = append(vals, v)
		}
		return value.Vector(vals...), nil
	case map[string]any:
		var v value.Value
		if err := v.UnmarshalJSON(r); err != nil {
			return value.Value{}, err
		}
		return v, nil
	}
	return value.Value{}, fmt.Errorf("unsupported JSON %s", r)
}

func newNodesCmd(a *app) *cobra.Command {
	var f clusterFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "nodes [--broker HOST]",
		Short: "List the live nodes of a Zeek cluster",
		Long: `Nodes asks the cluster's broker for every subscription it holds and lists
the nodes whose node-id subscription (zeek.cluster.nodeid.<id>.) is live:
name, role, host and id. Names, hosts and roles are read from the ids
(zeromq_<name>_<host>_<pid>_<suffix>) and Zeek's default node names
(manager, logger-N, proxy-N, worker-N). zpipe stays invisible to the
cluster while it asks.`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			return a.withCluster(ctx, &f, func(ctx context.Context, c *cluster.Client) error {
				nodes, err := c.Nodes(ctx)
				if err != nil {
					return err
				}
				return printNodes(a.stdout, nodes, asJSON)
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per node")
	return cmd
}

func printNodes(w io.Writer, nodes []cluster.Node, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, n := range nodes {
			if err := enc.Encode(map[string]string{"name": n.Name, "role": n.Role, "host": n.Host, "id": n.ID}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tHOST\tID")
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Role, n.Host, n.ID)
	}
	return tw.Flush()
}
