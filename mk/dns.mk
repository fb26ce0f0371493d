# CoreDNS with the egressoperator plugin (cmd/coredns, dnsplugin/): its
# binary and its benchmark. Included by the top-level Makefile.

# Go sources compiled into bin/coredns. Its other inputs are go.mod and go.sum.
DNS_SOURCES := $(shell find cmd/coredns dnsplugin api -name '*.go' -not -name '*_test.go' \
	-not -path 'dnsplugin/bench/*' -not -path 'dnsplugin/internal/*')

BUILD_TARGETS += $(BIN)/coredns
TEST_DEPS += $(BIN)/coredns

##@ DNS

# go build leaves an up-to-date binary untouched; touch it so make sees it
# newer than its inputs.
$(BIN)/coredns: $(DNS_SOURCES) go.mod go.sum
	@echo ">> building CoreDNS with egressoperator (the first build takes a few minutes)"
	go build -o $@ ./cmd/coredns
	@touch $@

.PHONY: build-dns
build-dns: $(BIN)/coredns ## Build CoreDNS with the egressoperator plugin into bin/coredns.

# dnsperf comes from Debian; installing it needs root, as on CI and dev machines.
.PHONY: bench-dns
bench-dns: $(BIN)/coredns $(BIN)/etcd $(BIN)/kube-apiserver ## DNS benchmark: egressoperator vs hosts, pass-through cost, heap with 10,000 ExternalServices.
	@command -v dnsperf >/dev/null || { echo ">> installing dnsperf from Debian"; apt-get update && apt-get install -y dnsperf; }
	go run ./dnsplugin/bench -coredns $(BIN)/coredns

bench: bench-dns
