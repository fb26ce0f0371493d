# egressgate — every task a developer runs has a target here.
SHELL := /bin/bash
.DEFAULT_GOAL := build

BIN := $(CURDIR)/bin
export GOBIN := $(BIN)

K8S_VERSION := v1.37.2
K8S_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37
CONTROLLER_GEN_VERSION := v0.23.0

K8S_TOOLS := $(BIN)/etcd $(BIN)/kube-apiserver
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)

# Packages whose tests start a real API server; they run one package at a time.
CLUSTER_TEST_PKGS := ./controllers/...

.PHONY: tools
tools: $(K8S_TOOLS) $(CONTROLLER_GEN) ## Build etcd, kube-apiserver and controller-gen into bin/ (only what is missing or stale).

# The tools module pins k8s.io/kubernetes and etcd; its go.mod is the version stamp.
$(BIN)/etcd: hack/tools/k8s/go.mod hack/tools/k8s/go.sum
	@echo ">> building etcd from hack/tools/k8s (first build takes about a minute)"
	cd hack/tools/k8s && go build -o $@ go.etcd.io/etcd/server/v3

$(BIN)/kube-%: hack/tools/k8s/go.mod hack/tools/k8s/go.sum
	@echo ">> building kube-$* $(K8S_VERSION) from hack/tools/k8s (first build takes a few minutes)"
	cd hack/tools/k8s && go build -ldflags "$(K8S_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-$*

$(CONTROLLER_GEN):
	@echo ">> installing controller-gen $(CONTROLLER_GEN_VERSION)"
	GOBIN=$(BIN)/.cg go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/.cg/controller-gen $@ && rmdir $(BIN)/.cg

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy, CRDs (crds/), RBAC (config/rbac) and golden files.
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=crds
	$(CONTROLLER_GEN) rbac:roleName=egress-operator paths=./controllers/... output:rbac:artifacts:config=config/rbac
	go test ./translate -run TestGolden -update >/dev/null

.PHONY: verify-generated
verify-generated: generate ## Fail when generated files are stale.
	@git diff --exit-code -- api crds config translate/testdata || \
	  { echo "generated files are stale: run 'make generate' and commit the result"; exit 1; }
	@test -z "$$(git status --porcelain -- api crds config translate/testdata)" || \
	  { git status --porcelain -- api crds config translate/testdata; echo "untracked generated files: run 'make generate' and commit them"; exit 1; }
