package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/urfave/cli/v2"
)

func (e *cliEnv) msgCommand() *cli.Command {
	return &cli.Command{
		Name:  "msg",
		Usage: "publish and receive messages over the cluster (not stored)",
		Description: "TOPIC is a path of strings ('home.door'); a monitor gets the messages sent to exactly\n" +
			"that topic, on any node, from when it starts.",
		Action: needCommand,
		Subcommands: []*cli.Command{
			{Name: "send", Usage: "send VALUE (YAML, as for 'client set') to TOPIC's monitors", ArgsUsage: "TOPIC VALUE",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "string", Usage: "VALUE is a string, not YAML"}}, Action: e.msgSend},
			{Name: "monitor", Usage: "print the messages sent to TOPIC, one per line, until interrupted", ArgsUsage: "TOPIC",
				Flags: []cli.Flag{jsonFlag()}, Action: e.msgMonitor},
		},
	}
}

// topicArg reads TOPIC (and checks the argument count): a path of strings.
func topicArg(c *cli.Context, names ...string) ([]string, error) {
	p, err := pathArgs(c, names...)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, usagef("TOPIC must not be empty")
	}
	t := make([]string, len(p))
	for i, el := range p {
		if el.Kind() != node.KindString {
			return nil, usagef("TOPIC element %d is not a string", i)
		}
		t[i] = el.StrVal()
	}
	return t, nil
}

func (e *cliEnv) msgSend(c *cli.Context) error {
	topic, err := topicArg(c, "TOPIC", "VALUE")
	if err != nil {
		return err
	}
	raw, err := valueArg(c.Args().Get(1), c.Bool("string"), e.in)
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		return cl.MsgSend(ctx, topic, raw)
	})
}

func (e *cliEnv) msgMonitor(c *cli.Context) error {
	topic, err := topicArg(c, "TOPIC")
	if err != nil {
		return err
	}
	js := wantJSON(c)
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		ms, err := cl.MsgMonitor(ctx, topic)
		if err != nil {
			return err
		}
		for {
			m, err := ms.Next(ctx)
			if err != nil && ctx.Err() != nil {
				// Interrupted: the normal way to end a monitor.
				sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
				ms.Close(sctx)
				cancel()
				return nil
			}
			if errors.Is(err, client.ErrEnd) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("monitor ended: %w", err)
			}
			var v any = m.Undecodable
			if m.Data != nil {
				v = decodeLenient(m.Data)
			}
			line := formatInline(v)
			if js {
				line = string(appendJSON(nil, v))
			}
			if _, err := io.WriteString(e.out, line+"\n"); err != nil {
				return err
			}
		}
	})
}
