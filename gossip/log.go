package gossip

import (
	"context"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"
)

// newStdLogger returns a *log.Logger (what serf and memberlist take) that
// forwards each line to l. They prefix lines with a level tag and their name:
// "[WARN] memberlist: Refuting a suspect message". WARN and ERR lines keep
// their level; DEBUG, INFO and untagged lines go to debug, because serf logs
// routine membership changes at INFO and the application reports those
// itself from events.
//
// Once closing is set, every line goes to debug: while and after the node
// shuts down, memberlist's timers still fire for a moment and log errors
// about the transport it has just closed. (Shutdown logs the one warning that
// matters then itself.)
func newStdLogger(l *slog.Logger, closing *atomic.Bool) *log.Logger {
	return log.New(slogWriter{l, closing}, "", 0)
}

type slogWriter struct {
	l       *slog.Logger
	closing *atomic.Bool
}

// Write handles one log line: log.Logger calls it once per message.
func (w slogWriter) Write(p []byte) (int, error) {
	level, component, msg := parseLogLine(string(p))
	if w.closing.Load() {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if w.l.Enabled(ctx, level) {
		w.l.Log(ctx, level, msg, "component", component)
	}
	return len(p), nil
}

// parseLogLine splits "[LEVEL] component: message\n" into its parts.
func parseLogLine(line string) (slog.Level, string, string) {
	msg := strings.TrimRight(line, "\r\n")
	level := slog.LevelDebug
	if rest, ok := strings.CutPrefix(msg, "["); ok {
		if tag, text, ok := strings.Cut(rest, "]"); ok {
			switch tag {
			case "WARN":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			}
			msg = strings.TrimSpace(text)
		}
	}
	component := "gossip" // untagged lines name no component
	for _, c := range []string{"serf", "memberlist"} {
		if rest, ok := strings.CutPrefix(msg, c+": "); ok {
			component, msg = c, rest
			break
		}
	}
	return level, component, msg
}
