# The conformance suite (conformance/): `make conformance` runs it on the
# embedded local cluster, with the operator binary as two replicas and
# CoreDNS with the plugin. Included by the top-level Makefile.

TEST_DEPS += $(BIN)/egress-operator

##@ Conformance

CONFORMANCE_REPORT := $(BIN)/conformance-report.yaml

# go test prints a passing package's output only with -v, so the summary
# table the run writes next to the report is printed afterwards.
.PHONY: conformance
conformance: tools $(BIN)/coredns $(BIN)/egress-operator ## Run the conformance suite on the embedded cluster; prints the summary, writes bin/conformance-report.yaml.
	@rm -f $(CONFORMANCE_REPORT:.yaml=.txt)
	go test ./conformance -count=1 -timeout 40m -args -report $(CONFORMANCE_REPORT); status=$$?; \
	  cat $(CONFORMANCE_REPORT:.yaml=.txt) 2>/dev/null; exit $$status
