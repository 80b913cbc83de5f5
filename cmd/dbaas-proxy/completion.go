package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// compCommand is what completion knows of a command: its flags and operands.
type compCommand struct {
	name, summary string
	flags         []compFlag
	operands      []string
}

type compFlag struct {
	name, usage string
	file        bool // takes a file name
	value       bool // takes a value (not a boolean)
}

// completionModel reads every command's flags from its FlagSet, so the scripts cannot drift.
func completionModel() []compCommand {
	var out []compCommand
	for _, c := range commands() {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.setup(fs)
		cc := compCommand{name: c.name, summary: c.summary, operands: c.operands}
		if c.name == "help" {
			for _, o := range commands() {
				cc.operands = append(cc.operands, o.name)
			}
		}
		fs.VisitAll(func(f *flag.Flag) {
			arg, usage := flag.UnquoteUsage(f)
			b, isBool := f.Value.(interface{ IsBoolFlag() bool })
			cc.flags = append(cc.flags, compFlag{name: f.Name, usage: firstClause(usage), file: arg == "file", value: !isBool || !b.IsBoolFlag()})
		})
		out = append(out, cc)
	}
	return out
}

func firstClause(s string) string {
	if i := strings.IndexAny(s, "(;:"); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(strings.NewReplacer("'", "", `"`, "", "[", "", "]", "", "`", "").Replace(s))
}

func setupCompletion(*flag.FlagSet) runFunc {
	return func(_ context.Context, sys system, args []string) error {
		if len(args) != 1 {
			return usageErr(errors.New("completion: name the shell: bash, zsh, fish or powershell"))
		}
		m := completionModel()
		switch args[0] {
		case "bash":
			bashCompletion(sys.stdout, m)
		case "zsh":
			zshCompletion(sys.stdout, m)
		case "fish":
			fishCompletion(sys.stdout, m)
		case "powershell":
			powershellCompletion(sys.stdout, m)
		default:
			return usageErr(fmt.Errorf("completion: no script for %q; say bash, zsh, fish or powershell", args[0]))
		}
		return nil
	}
}

func names(m []compCommand) string {
	var n []string
	for _, c := range m {
		n = append(n, c.name)
	}
	return strings.Join(n, " ")
}

func bashCompletion(w io.Writer, m []compCommand) {
	fmt.Fprintf(w, `# bash completion for dbaas-proxy. Load it with: source <(dbaas-proxy completion bash)
_dbaas_proxy() {
    local cur prev cmd words
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd=run
    if [[ ${COMP_CWORD} -gt 1 && ${COMP_WORDS[1]} != -* ]]; then
        cmd="${COMP_WORDS[1]}"
    fi
    if [[ ${COMP_CWORD} -eq 1 && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "%s" -- "$cur"))
        return
    fi
    case "$cmd:$prev" in
`, names(m))
	for _, c := range m {
		var files, values []string
		for _, f := range c.flags {
			if f.file {
				files = append(files, c.name+":-"+f.name, c.name+":--"+f.name)
			} else if f.value {
				values = append(values, c.name+":-"+f.name, c.name+":--"+f.name)
			}
		}
		if len(files) > 0 {
			fmt.Fprintf(w, "        %s) COMPREPLY=($(compgen -f -- \"$cur\")); return;;\n", strings.Join(files, "|"))
		}
		if len(values) > 0 {
			fmt.Fprintf(w, "        %s) COMPREPLY=(); return;;\n", strings.Join(values, "|"))
		}
	}
	fmt.Fprint(w, "    esac\n    case \"$cmd\" in\n")
	for _, c := range m {
		var words []string
		for _, f := range c.flags {
			words = append(words, "-"+f.name)
		}
		words = append(words, c.operands...)
		fmt.Fprintf(w, "        %s) words=%q;;\n", c.name, strings.Join(words, " "))
	}
	fmt.Fprint(w, `        *) words="";;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _dbaas_proxy dbaas-proxy
`)
}

func zshCompletion(w io.Writer, m []compCommand) {
	fmt.Fprint(w, `#compdef dbaas-proxy
# zsh completion for dbaas-proxy. Load it with: source <(dbaas-proxy completion zsh)
# or save it as _dbaas-proxy in a folder of $fpath.
_dbaas_proxy() {
  local -a commands
  commands=(
`)
	for _, c := range m {
		fmt.Fprintf(w, "    %s\n", zshQuote(c.name+":"+c.summary))
	}
	fmt.Fprint(w, `  )
  local cmd=run
  if (( CURRENT == 2 )) && [[ ${words[2]} != -* ]]; then
    _describe 'command' commands
    return
  fi
  if [[ ${words[2]} != -* ]]; then
    cmd=${words[2]}
    shift words
    (( CURRENT-- ))
  fi
  case $cmd in
`)
	for _, c := range m {
		var specs []string
		for _, f := range c.flags {
			spec := "-" + f.name + "[" + f.usage + "]"
			switch {
			case f.file:
				spec += ":file:_files"
			case f.value:
				spec += ":value: "
			}
			specs = append(specs, zshQuote(spec))
		}
		if len(c.operands) > 0 {
			specs = append(specs, zshQuote("1:operand:("+strings.Join(c.operands, " ")+")"))
		}
		fmt.Fprintf(w, "    %s) _arguments %s ;;\n", c.name, strings.Join(specs, " "))
	}
	fmt.Fprint(w, `  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _dbaas_proxy "$@"
else
  compdef _dbaas_proxy dbaas-proxy
fi
`)
}

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fishCompletion(w io.Writer, m []compCommand) {
	fmt.Fprintf(w, "# fish completion for dbaas-proxy. Save it as ~/.config/fish/completions/dbaas-proxy.fish\ncomplete -c dbaas-proxy -f\n")
	for _, c := range m {
		fmt.Fprintf(w, "complete -c dbaas-proxy -n __fish_use_subcommand -a %s -d %s\n", c.name, zshQuote(c.summary))
	}
	for _, c := range m {
		cond := "__fish_seen_subcommand_from " + c.name
		if c.name == "run" { // the default command: its flags work without the word run
			cond = "__fish_use_subcommand; or " + cond
		}
		for _, f := range c.flags {
			extra := ""
			switch {
			case f.file:
				extra = " -r -F"
			case f.value:
				extra = " -x"
			}
			fmt.Fprintf(w, "complete -c dbaas-proxy -n %s -o %s%s -d %s\n", zshQuote(cond), f.name, extra, zshQuote(f.usage))
		}
		if len(c.operands) > 0 {
			fmt.Fprintf(w, "complete -c dbaas-proxy -n %s -a %s\n", zshQuote(cond), zshQuote(strings.Join(c.operands, " ")))
		}
	}
}

func powershellCompletion(w io.Writer, m []compCommand) {
	fmt.Fprint(w, `# PowerShell completion for dbaas-proxy. Load it with:
#   dbaas-proxy completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName dbaas-proxy, dbaas-proxy.exe -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements | ForEach-Object { $_.ToString() })
    $commands = @(`)
	for i, c := range m {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprintf(w, "'%s'", c.name)
	}
	fmt.Fprint(w, `)
    $words_of = @{
`)
	for _, c := range m {
		var words []string
		for _, f := range c.flags {
			words = append(words, "'-"+f.name+"'")
		}
		for _, o := range c.operands {
			words = append(words, "'"+o+"'")
		}
		fmt.Fprintf(w, "        '%s' = @(%s)\n", c.name, strings.Join(words, ", "))
	}
	fmt.Fprint(w, `    }
    $typed = if ($wordToComplete -eq '') { $words.Count } else { $words.Count - 1 }
    if ($typed -le 1 -and -not $wordToComplete.StartsWith('-')) {
        $candidates = $commands
    } else {
        $cmd = if ($words.Count -gt 1 -and -not $words[1].StartsWith('-')) { $words[1] } else { 'run' }
        $prev = if ($wordToComplete -eq '') { $words[-1] } else { $words[-2] }
        if ($prev -eq '-config') { return }  # file names: PowerShell's own completion
        $candidates = $words_of[$cmd]
    }
    $candidates | Where-Object { $_ -like "$wordToComplete*" } | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
}
`)
}
