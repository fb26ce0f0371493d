# The rest of the local cluster, beyond etcd and kube-apiserver: the
# controller-manager and scheduler (built by the top-level $(BIN)/kube-% rule),
# kwok with its Stage configs, istiod (pilot-discovery) and the injection
# config istiod's gateway deployment controller renders gateways from.
# Included by the top-level Makefile; `make tools` builds all of it.

ISTIO_TOOLS := hack/tools/istio
KWOK_VERSION := v0.8.0

# Each file here is only rebuilt when missing or older than its inputs; the
# first build on a cold machine takes minutes, later `make tools` runs nothing.
ISTIO_INJECT := $(BIN)/istio/inject/config $(BIN)/istio/inject/values
KWOK_STAGES := $(BIN)/kwok-stages.yaml
# The empty file whose name carries kwok's version: a new KWOK_VERSION has no
# stamp yet, which makes $(BIN)/kwok and $(KWOK_STAGES) out of date.
KWOK_STAMP := $(BIN)/.kwok-$(KWOK_VERSION)

TOOLS += $(BIN)/kube-controller-manager $(BIN)/kube-scheduler \
	$(BIN)/kwok $(KWOK_STAGES) $(BIN)/pilot-discovery $(ISTIO_INJECT)

##@ Local cluster tools

# `go build` leaves an up-to-date binary untouched, so touch it: make compares
# its time with go.mod's.
$(BIN)/pilot-discovery: $(ISTIO_TOOLS)/go.mod $(ISTIO_TOOLS)/go.sum
	@echo ">> building pilot-discovery (istiod) from $(ISTIO_TOOLS) (the first build takes 4 to 10 minutes)"
	cd $(ISTIO_TOOLS) && go build -o $@ istio.io/istio/pilot/cmd/pilot-discovery
	@touch $@

# The config and values keys of the istio-sidecar-injector ConfigMap, rendered
# from the charts of the istio.io/istio version $(ISTIO_TOOLS)/go.mod pins.
# istiod reads them from ./var/lib/istio/inject/ under its working directory.
$(ISTIO_INJECT) &: $(ISTIO_TOOLS)/go.mod $(ISTIO_TOOLS)/go.sum $(ISTIO_TOOLS)/render-inject/main.go
	@echo ">> rendering istiod's injection config (with the kube-gateway template) into $(BIN)/istio/inject"
	cd $(ISTIO_TOOLS) && go run ./render-inject -out $(BIN)/istio/inject

$(KWOK_STAMP):
	@mkdir -p $(@D)
	@rm -f $(BIN)/.kwok-v*
	@touch $@

# `go install` leaves an up-to-date binary untouched, so touch it.
$(BIN)/kwok: $(KWOK_STAMP)
	@echo ">> installing kwok $(KWOK_VERSION) (the first build takes a few minutes)"
	GOBIN=$(BIN) go install sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)
	@touch $@

# kwok's Stage objects (node initialize and lease heartbeat; pod ready,
# complete and delete: the pod-*.yaml beside kustomization.yaml) from the kwok
# module, as one multi-document file for `kwok --config`.
# Without the heartbeat stage the controller-manager taints the node
# unreachable. `go mod download` runs outside any module so it changes no go.sum.
$(KWOK_STAGES): $(KWOK_STAMP)
	@echo ">> writing kwok $(KWOK_VERSION)'s stages into $@"
	@dir=$$(cd / && go mod download -json sigs.k8s.io/kwok@$(KWOK_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$dir" || { echo "cannot find the sigs.k8s.io/kwok@$(KWOK_VERSION) module"; exit 1; }; \
	for f in "$$dir"/kustomize/stage/node/fast/node-initialize.yaml \
		"$$dir"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
		"$$dir"/kustomize/stage/pod/fast/pod-*.yaml; do \
		test -f "$$f" || { echo "missing $$f" >&2; exit 1; }; \
		echo "---"; echo "# sigs.k8s.io/kwok@$(KWOK_VERSION)/$${f#$$dir/}"; cat "$$f"; \
	done > $@.tmp && mv $@.tmp $@

.PHONY: cluster-tools
cluster-tools: $(BIN)/kube-controller-manager $(BIN)/kube-scheduler $(BIN)/kwok $(KWOK_STAGES) $(BIN)/pilot-discovery $(ISTIO_INJECT) ## Build only the local cluster's extra tools.
