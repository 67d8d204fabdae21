// Command genaimeter is the command-line companion of the genaimeter collector
// components: it prices calls from the same catalog the processor uses and reads
// the usage ledger the exporter writes.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand. Each lives in its own file and registers itself in
// init, so that subcommands can be added without touching this file.
type command struct {
	summary string
	run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code: 0 on
// success, 1 when the command failed, 2 on a usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "genaimeter: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stdin, stdout, stderr); err != nil {
		if e, ok := err.(usageError); ok {
			fmt.Fprintf(stderr, "genaimeter %s: %v\n", args[0], e.error)
			return 2
		}
		fmt.Fprintf(stderr, "genaimeter %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError marks a bad command line (exit code 2) as opposed to a failure.
type usageError struct{ error }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: genaimeter COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}
