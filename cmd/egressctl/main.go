// Command egressctl is egressgate's command-line tool. `egressctl dev up`
// runs the whole system on this machine: a real local cluster with istiod,
// the operator, and CoreDNS with the egressoperator plugin.
package main

import (
	"fmt"
	"os"

	"github.com/egressgate/egressgate/internal/version"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "egressctl:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "egressctl",
		Short:         "Work with egressgate ExternalServices",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String("egressctl"),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	dev := &cobra.Command{Use: "dev", Short: "Run egressgate on this machine"}
	dev.AddCommand(newDevUpCommand())
	root.AddCommand(newTranslateCommand(), newImportCommand(), newStatusCommand(), newDNSCommand(), &cobra.Command{
		Use:   "version",
		Short: "Print egressctl's version and the commit it was built from",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), version.String("egressctl")) },
	})
	root.AddCommand(dev)
	root.AddCommand(newObserveCommand())
	return root
}
