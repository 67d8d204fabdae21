package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector"
	"github.com/genaimeter/genaimeter/exporter/genaibillingexporter"
	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter"
	"github.com/genaimeter/genaimeter/internal/configcheck"
	"github.com/genaimeter/genaimeter/internal/printable"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor"
)

func init() {
	register("check-config", command{
		summary: "check a collector config FILE offline: files exist and parse, storage extension ids exist, prices are sane",
		run:     runCheckConfig,
	})
}

const checkConfigUsage = `usage: genaimeter check-config FILE

Runs the checks that the collector's "validate" does not make, because a
component's Validate must not read files, and that fail the collector at
start: for the genaimeter components in the service's pipelines, their
configuration decodes and validates, the price files exist and parse
without errors (a negative price is one), the plans and customers maps
exist and parse, and the files they write can be created. For every
component in a pipeline, a "storage" key (attribution.ancestors.storage,
sending_queue.storage, ...) must name an extension that is declared under
extensions and listed in service.extensions. ${env:VAR} and ${file:PATH}
are resolved as the collector does. URL price sources are not fetched.

Prints one line per problem, "KEY: problem", KEY being the dotted path of
the configuration key. Exit status: 0 no problem, 1 problems, 2 usage.
Run "otelcol-genaimeter validate --config FILE" as well: it checks the rest.`

// checkable is a component configuration with offline checks.
type checkable interface {
	CheckOffline() configcheck.Problems
}

// ourFactories are the genaimeter components, by kind and type.
var ourFactories = map[string]map[string]func() component.Config{
	"processors": {genaicostprocessor.NewFactory().Type().String(): genaicostprocessor.NewFactory().CreateDefaultConfig},
	"connectors": {genaiusageconnector.NewFactory().Type().String(): genaiusageconnector.NewFactory().CreateDefaultConfig},
	"exporters": {
		genailedgerexporter.NewFactory().Type().String():  genailedgerexporter.NewFactory().CreateDefaultConfig,
		genaibillingexporter.NewFactory().Type().String(): genaibillingexporter.NewFactory().CreateDefaultConfig,
	},
}

func runCheckConfig(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, checkConfigUsage)
			return nil
		}
		return usageError{fmt.Errorf("%v\n%s", err, checkConfigUsage)}
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("want one FILE\n%s", checkConfigUsage)}
	}
	path := fs.Arg(0)
	conf, err := resolveConfig(path)
	if err != nil {
		return err
	}
	probs := checkConfig(conf)
	for _, p := range probs {
		fmt.Fprintln(stdout, printable.Escape(p.String()))
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s: %d problems", path, len(probs))
	}
	fmt.Fprintf(stdout, "%s: ok\n", printable.Escape(path))
	return nil
}

// resolveConfig reads the file as the collector does: ${env:...},
// ${file:...} and ${yaml:...} are expanded.
func resolveConfig(path string) (*confmap.Conf, error) {
	r, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:              []string{"file:" + path},
		ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory()},
		DefaultScheme:     "env",
	})
	if err != nil {
		return nil, err
	}
	conf, err := r.Resolve(context.Background())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return conf, nil
}

// checkConfig returns every problem found, sorted by key.
func checkConfig(conf *confmap.Conf) configcheck.Problems {
	raw := conf.ToStringMap()
	var ps configcheck.Problems
	service, _ := raw["service"].(map[string]any)
	declared := func(kind string) map[string]any { m, _ := raw[kind].(map[string]any); return m }
	enabledExt := map[string]bool{}
	if list, ok := service["extensions"].([]any); ok {
		for _, e := range list {
			enabledExt[fmt.Sprint(e)] = true
		}
	}

	// The components the pipelines use: a component only declared is never
	// started. Connectors appear as exporters and receivers of pipelines.
	used := map[string]map[string]bool{"receivers": {}, "processors": {}, "exporters": {}, "connectors": {}}
	pipelines, _ := service["pipelines"].(map[string]any)
	for _, pl := range pipelines {
		plm, _ := pl.(map[string]any)
		for _, kind := range []string{"receivers", "processors", "exporters"} {
			list, _ := plm[kind].([]any)
			for _, c := range list {
				id := fmt.Sprint(c)
				if _, isConn := declared("connectors")[id]; isConn && kind != "processors" {
					used["connectors"][id] = true
				} else {
					used[kind][id] = true
				}
			}
		}
	}

	for _, kind := range []string{"receivers", "processors", "exporters", "connectors"} {
		for _, idStr := range sortedSet(used[kind]) {
			prefix := kind + "." + idStr
			cfgRaw, isDeclared := declared(kind)[idStr]
			if !isDeclared {
				continue // "validate" reports a component used but not declared
			}
			ps = append(ps, storageRefs(prefix, cfgRaw, declared("extensions"), enabledExt)...)

			var id component.ID
			if err := id.UnmarshalText([]byte(idStr)); err != nil {
				continue
			}
			newCfg, ours := ourFactories[kind][id.Type().String()]
			if !ours {
				continue
			}
			cfg := newCfg()
			sub, err := conf.Sub(kind + "::" + idStr)
			if err == nil {
				err = sub.Unmarshal(cfg)
			}
			if err != nil {
				ps.Add(prefix, err)
				continue
			}
			if err := confmap.Validate(cfg); err != nil {
				// One problem per line of the joined errors.
				for _, line := range strings.Split(err.Error(), "\n") {
					if line != "" {
						ps.Add(prefix, errors.New(line))
					}
				}
			}
			if c, ok := cfg.(checkable); ok {
				ps = append(ps, c.CheckOffline().Prefixed(prefix)...)
			}
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Key < ps[j].Key })
	return ps
}

// storageRefs finds every "storage" key naming an extension in a
// component's configuration (the processor's attribution.ancestors.storage,
// an exporter's sending_queue.storage, a receiver's storage) and checks that
// the extension is declared and enabled: otherwise the collector fails at
// start. A sending_queue with enabled: false is not started.
func storageRefs(prefix string, v any, extensions map[string]any, enabled map[string]bool) configcheck.Problems {
	var ps configcheck.Problems
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if e, ok := m["enabled"].(bool); ok && !e {
		return nil
	}
	for _, k := range sortedKeys(m) {
		key := prefix + "." + k
		if s, ok := m[k].(string); ok && k == "storage" && s != "" {
			switch _, decl := extensions[s]; {
			case !decl:
				ps.Add(key, fmt.Errorf("extension %q is not declared under extensions", s))
			case !enabled[s]:
				ps.Add(key, fmt.Errorf("extension %q is declared but not listed in service.extensions: it is not started", s))
			}
			continue
		}
		ps = append(ps, storageRefs(key, m[k], extensions, enabled)...)
	}
	return ps
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
