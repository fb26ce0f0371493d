# egressgate — every task a developer runs has a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := build

BIN := $(CURDIR)/bin

K8S_VERSION := v1.37.2
K8S_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37
CONTROLLER_GEN_VERSION := v0.23.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)

# Binaries the tests run; other makefiles in mk/ add to these lists.
TOOLS := $(BIN)/etcd $(BIN)/kube-apiserver $(CONTROLLER_GEN)
BUILD_TARGETS := $(BIN)/egress-operator $(BIN)/egressctl
TEST_DEPS :=

# What every binary reports with --version (egressctl version, CoreDNS's
# -version line): the nearest tag, commits since and the commit, from git.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VERSION_LDFLAGS := -X github.com/egressgate/egressgate/internal/version.version=$(VERSION) \
	-X github.com/egressgate/egressgate/internal/version.commit=$(COMMIT)

GO_SOURCES := $(shell find . -name '*.go' -not -path './hack/*' -not -path './bench/*' -not -path './bin/*') go.mod go.sum

-include mk/*.mk

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

##@ Tools: real binaries built from Go modules into bin/, only when missing or stale.

.PHONY: tools
tools: $(TOOLS) ## Build every binary the tests and `make run` use into bin/ (etcd, Kubernetes, kwok, istiod, controller-gen).

# hack/tools/k8s pins k8s.io/kubernetes and etcd; its go.mod is the version stamp.
$(BIN)/etcd: hack/tools/k8s/go.mod hack/tools/k8s/go.sum
	@echo ">> building etcd from hack/tools/k8s (the first build takes about a minute)"
	cd hack/tools/k8s && go build -o $@ go.etcd.io/etcd/server/v3

$(BIN)/kube-%: hack/tools/k8s/go.mod hack/tools/k8s/go.sum
	@echo ">> building kube-$* $(K8S_VERSION) from hack/tools/k8s (the first build takes a few minutes)"
	cd hack/tools/k8s && go build -ldflags "$(K8S_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-$*

$(CONTROLLER_GEN):
	@echo ">> installing controller-gen $(CONTROLLER_GEN_VERSION)"
	GOBIN=$(BIN)/.cg go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/.cg/controller-gen $@ && rmdir $(BIN)/.cg

##@ Run

# SAMPLES=0 starts everything without applying samples/.
SAMPLES ?= 1
.PHONY: run
run: tools $(BIN)/coredns ## Start the local cluster with istiod, the operator and CoreDNS, apply samples/, stay up until Ctrl-C.
	@hack/ensure-packages.sh kubectl:kubernetes-client dig:bind9-dnsutils
	go run ./cmd/egressctl dev up $(if $(filter 0,$(SAMPLES)),--no-samples)

##@ Build

.PHONY: build
build: $(BUILD_TARGETS) ## Build the binaries into bin/.

$(BIN)/egress-operator: $(GO_SOURCES)
	go build -ldflags "$(VERSION_LDFLAGS)" -o $@ ./cmd/egress-operator

$(BIN)/egressctl: $(GO_SOURCES)
	go build -ldflags "$(VERSION_LDFLAGS)" -o $@ ./cmd/egressctl

##@ Generated files

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy, CRDs (crds/), RBAC (config/rbac), the chart's generated parts and golden files.
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=crds
	$(CONTROLLER_GEN) rbac:roleName=egress-operator paths=./controllers/... output:rbac:artifacts:config=config/rbac
	go test ./translate -run TestGolden -update >/dev/null
	go test ./cmd/egressctl -run TestTranslateSamples -update >/dev/null
	go test ./cmd/egressctl -run TestImport -update >/dev/null
	go test ./cmd/egressctl -run TestObserveGolden -update >/dev/null
	go test ./charts -run TestGenerated -update >/dev/null
	@# The ServiceMonitor CRD the chart test installs, from the prometheus-operator's Go types.
	$(CONTROLLER_GEN) crd paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:artifacts:config=charts/testdata/crds/.all
	mv charts/testdata/crds/.all/monitoring.coreos.com_servicemonitors.yaml charts/testdata/crds/ && rm -r charts/testdata/crds/.all

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when a generated file differs from what `make generate` writes.
	hack/verify-generated.sh

##@ Test

.PHONY: lint
lint: ## gofmt and go vet.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "run gofmt -w on the files above"; exit 1; }
	go vet ./...

# Packages that start an API server run one at a time (-p 1): two at once
# would fight over 2 cores. The conformance package alone takes about 6
# minutes on such a machine, so the timeout is explicit rather than go
# test's default 10 minutes per package.
TEST_TIMEOUT ?= 30m
.PHONY: test
test: tools $(TEST_DEPS) verify-generated lint ## Run every test against real components (the CI command).
	go test -p 1 -count=1 -timeout $(TEST_TIMEOUT) ./...

# Every fuzz target, as package:Target. `make test` runs their seed corpora
# (f.Add and testdata/fuzz) as ordinary tests; `make fuzz` fuzzes each for
# FUZZTIME, one after another. A crash is written to the package's
# testdata/fuzz and so becomes a test.
FUZZ_TARGETS := ./translate:FuzzTranslate ./dnsplugin:FuzzServeDNS ./dnsplugin:FuzzParse ./dnsplugin:FuzzObserve ./cmd/egressctl:FuzzImport
FUZZTIME ?= 1m

.PHONY: fuzz
fuzz: ## Fuzz every target for FUZZTIME each (default 1m), e.g. make fuzz FUZZTIME=10m.
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; target=$${t##*:}; \
	  echo ">> fuzzing $$target in $$pkg for $(FUZZTIME)"; \
	  go test $$pkg -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

##@ Benchmarks

# Every benchmark is a program under bench/, one folder each; each prints
# one table.
.PHONY: bench
bench: bench-controller bench-dns bench-convergence ## Run every benchmark (bench/) and print their tables.

# N ExternalServices, RUNS runs (the table shows each and the medians):
# `make bench-controller N=10000 RUNS=1` for the large one.
N ?= 1000
RUNS ?= 3

.PHONY: bench-controller
bench-controller: tools ## N=1000 ExternalServices on a real API server against the fair limits L1/L2: time, writes, no-op writes, RSS.
	go run ./bench/controller -n $(N) -runs $(RUNS)

# dnsperf comes from Debian; installing it needs root, as on CI and dev machines.
.PHONY: bench-dns
bench-dns: $(BIN)/coredns $(BIN)/etcd $(BIN)/kube-apiserver ## DNS benchmark: egressoperator vs hosts, pass-through cost, heap with 10,000 ExternalServices.
	@command -v dnsperf >/dev/null || { echo ">> installing dnsperf from Debian"; apt-get update && apt-get install -y dnsperf; }
	go run ./bench/dns -coredns $(BIN)/coredns

.PHONY: bench-convergence
bench-convergence: tools $(BIN)/coredns ## 50 ExternalServices on the local cluster with istiod: create → hijacked DNS answer.
	go run ./bench/convergence

##@ Soak

# How long the soak's load runs after its setup: `make soak DURATION=10m`.
DURATION ?= 10m

.PHONY: soak
soak: tools $(BIN)/coredns $(BIN)/egress-operator ## 200 ExternalServices churning under DNS load for DURATION (10m) on the embedded cluster, with operator, leader, istiod and API server disruptions: leaks, wrong answers, settle times, memory growth.
	go run ./conformance/soak/cmd -duration $(DURATION)
