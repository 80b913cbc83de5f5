package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// scripts ask `dbaas-proxy __complete WORDS...` for candidates; ":file" means file names.
var scripts = map[string]string{
	"bash": `# bash completion for dbaas-proxy. Load it with: source <(dbaas-proxy completion bash)
_dbaas_proxy() {
    local out
    out=$(dbaas-proxy __complete "${COMP_WORDS[@]:1:COMP_CWORD}")
    if [[ $out == ":file" ]]; then
        COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
    else
        COMPREPLY=($out)
    fi
}
complete -o default -F _dbaas_proxy dbaas-proxy
`,
	"zsh": `#compdef dbaas-proxy
# zsh completion for dbaas-proxy. Load it with: source <(dbaas-proxy completion zsh)
_dbaas_proxy() {
  local -a c
  c=("${(@f)$(dbaas-proxy __complete "${(@)words[2,CURRENT]}")}")
  if [[ $c == ":file" ]]; then _files; else compadd -a c; fi
}
compdef _dbaas_proxy dbaas-proxy
`,
	"fish": `# fish completion for dbaas-proxy. Save it as ~/.config/fish/completions/dbaas-proxy.fish
complete -c dbaas-proxy -f -a '(set -l c (dbaas-proxy __complete (commandline -opc)[2..-1] (commandline -ct)); if test "$c" = ":file"; __fish_complete_path (commandline -ct); else; printf "%s\n" $c; end)'
`,
	"powershell": `# PowerShell completion for dbaas-proxy. Load it with:
#   dbaas-proxy completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName dbaas-proxy, dbaas-proxy.exe -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements | Select-Object -Skip 1 | ForEach-Object { $_.ToString() })
    if ($wordToComplete -eq '') { $words += '""' }
    $c = & dbaas-proxy __complete @words
    if ($c -eq ':file') { return }  # file names: PowerShell's own completion
    $c | ForEach-Object { [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_) }
}
`,
}

func setupCompletion(*flag.FlagSet) runFunc {
	return func(_ context.Context, sys system, args []string) error {
		if len(args) != 1 {
			return usageErr(errors.New("completion: name the shell: bash, zsh, fish or powershell"))
		}
		s, ok := scripts[args[0]]
		if !ok {
			return usageErr(errors.New("completion: no script for that shell; say bash, zsh, fish or powershell"))
		}
		_, err := io.WriteString(sys.stdout, s)
		return err
	}
}

// complete prints the candidates for the last of words, one a line; ":file" asks for file names.
func complete(w io.Writer, words []string) {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, prev := words[len(words)-1], ""
	if len(words) > 1 {
		prev = words[len(words)-2]
	}
	var cands []string
	c, isCmd := lookup(words[0])
	if !isCmd {
		c, _ = lookup("run")
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.setup(fs)
	if f := fs.Lookup(strings.TrimLeft(prev, "-")); f != nil && strings.HasPrefix(prev, "-") {
		if arg, _ := flag.UnquoteUsage(f); arg == "file" {
			fmt.Fprintln(w, ":file")
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			return // a value, which nothing can guess
		}
	}
	for _, o := range commands() {
		if len(words) == 1 || c.name == "help" {
			cands = append(cands, o.name)
		}
	}
	if len(words) > 1 || strings.HasPrefix(cur, "-") {
		fs.VisitAll(func(f *flag.Flag) { cands = append(cands, "-"+f.Name) })
		cands = append(cands, c.operands...)
	}
	for _, s := range cands {
		if strings.HasPrefix(s, cur) {
			fmt.Fprintln(w, s)
		}
	}
}
