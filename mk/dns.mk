# CoreDNS with the egressoperator plugin (cmd/coredns, dnsplugin/): its
# binary. Its benchmark (bench/dns) is the top-level Makefile's bench-dns.
# Included by the top-level Makefile.

# Go sources compiled into bin/coredns. Its other inputs are go.mod and go.sum.
DNS_SOURCES := $(shell find cmd/coredns dnsplugin api -name '*.go' -not -name '*_test.go')

BUILD_TARGETS += $(BIN)/coredns
TEST_DEPS += $(BIN)/coredns

##@ DNS

# go build leaves an up-to-date binary untouched; touch it so make sees it
# newer than its inputs.
$(BIN)/coredns: $(DNS_SOURCES) go.mod go.sum
	@echo ">> building CoreDNS with egressoperator (the first build takes a few minutes)"
	go build -ldflags "$(VERSION_LDFLAGS)" -o $@ ./cmd/coredns
	@touch $@

.PHONY: build-dns
build-dns: $(BIN)/coredns ## Build CoreDNS with the egressoperator plugin into bin/coredns.
