package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Shell completion: cli's dynamic completion (the hidden --generate-bash-completion flag lists
// the commands and flags at the cursor) for bash and zsh, and its generated script for fish.
// Install: distkv completion bash > /etc/bash_completion.d/distkv, and see docs/operations.md.

const bashCompletion = `# bash completion for distkv
_distkv_complete() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  return 0
}
complete -o bashdefault -o default -F _distkv_complete distkv
`

const zshCompletion = `#compdef distkv
# zsh completion for distkv
_distkv() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} "$cur" --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _distkv distkv
`

func (e *cliEnv) completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "bash: distkv completion bash > /etc/bash_completion.d/distkv\n" +
			"zsh:  distkv completion zsh > \"${fpath[1]}/_distkv\"\n" +
			"fish: distkv completion fish > ~/.config/fish/completions/distkv.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("completion takes one argument: bash, zsh or fish")
			}
			switch sh := c.Args().First(); sh {
			case "bash":
				fmt.Fprint(e.out, bashCompletion)
			case "zsh":
				fmt.Fprint(e.out, zshCompletion)
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return failf("fish completion: %v", err)
				}
				fmt.Fprint(e.out, s)
			default:
				return usagef("completion %q: want bash, zsh or fish", sh)
			}
			return nil
		},
	}
}
