# Container images of the three binaries (hack/images, internal/ociimage):
# one multi-platform OCI image per binary, written as an OCI image layout
# in a tar, bin/images/<name>.tar, without Docker or a base image; and
# their push to a registry. Included by the top-level Makefile.

IMAGES_DIR := $(BIN)/images
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
REGISTRY ?= ghcr.io/egressgate
# Every timestamp in the images: the commit's time unless SOURCE_DATE_EPOCH
# is set, so the same commit always gives the same digests.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct $(COMMIT) 2>/dev/null || echo 0)
# hack/images cross-compiles (CGO_ENABLED=0, -trimpath, -ldflags "-s -w
# $(VERSION_LDFLAGS)") and assembles; these are its build flags.
IMAGES_BUILD := go run ./hack/images build --platforms $(IMAGE_PLATFORMS) --version '$(VERSION)' \
	--commit '$(COMMIT)' --created '$(SOURCE_DATE_EPOCH)' --registry '$(REGISTRY)' --ldflags '$(VERSION_LDFLAGS)'

##@ Images

.PHONY: images
images: ## Build the images (egress-operator, coredns, egressctl; IMAGE_PLATFORMS linux/amd64,linux/arm64) into bin/images/<name>.tar, and print their digests.
	$(IMAGES_BUILD) --out $(IMAGES_DIR)
	go run ./hack/images digests --out $(IMAGES_DIR)

.PHONY: push
push: images ## Push the images to REGISTRY/<name>:VERSION (default ghcr.io/egressgate; credentials from `docker login`), print ref@digest.
	go run ./hack/images push --out $(IMAGES_DIR) --registry '$(REGISTRY)' --version '$(VERSION)'

# The second build runs with an empty Go build cache, so nothing is reused
# from the first; both digest tables are printed and must be equal, and the
# archives byte for byte.
.PHONY: images-reproducible
images-reproducible: images ## Rebuild every image from an empty Go build cache into a second directory and compare its digests with bin/images.
	@set -e; second=$$(mktemp -d); cache=$$(mktemp -d); trap 'rm -rf "$$second" "$$cache"' EXIT; \
	echo ">> second build into $$second with GOCACHE=$$cache (empty)"; \
	GOCACHE=$$cache $(IMAGES_BUILD) --out $$second; \
	go run ./hack/images digests --out $(IMAGES_DIR) > $$second/first.txt; \
	go run ./hack/images digests --out $$second > $$second/second.txt; \
	echo ">> first build ($(IMAGES_DIR))"; cat $$second/first.txt; \
	echo ">> second build (empty build cache)"; cat $$second/second.txt; \
	diff $$second/first.txt $$second/second.txt || { echo ">> the digests differ: the images are not reproducible"; exit 1; }; \
	for f in $(IMAGES_DIR)/*.tar; do cmp "$$f" "$$second/$$(basename $$f)"; done; \
	echo ">> reproducible: same digests and identical archives"
