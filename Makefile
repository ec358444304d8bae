# distkv: build, run, test. `make test` is what CI runs (.ci/run).
GO          ?= go
BIN         := $(CURDIR)/bin
STATICCHECK := $(BIN)/staticcheck
# Pinned: a new staticcheck release must not break the build on its own.
STATICCHECK_VERSION := v0.8.2
FUZZTIME    ?= 5s
PKGS        := ./...

.PHONY: build run test deps lint cross vet fmt-check staticcheck race fuzz fuzz-short soak bench man compare scale clean

# The commit goes in by -ldflags too: GOFLAGS may say -buildvcs=false (distkv version shows it).
COMMIT      := $(shell git rev-parse --short=12 HEAD 2>/dev/null)

build:
	$(GO) build -ldflags "-X main.commit=$(COMMIT)" -o $(BIN)/distkv ./cmd/distkv

# A working single node on 127.0.0.1:27586 with the embedded defaults.
run: build
	$(BIN)/distkv server

# deps first: it installs chromium for the status page's browser test (root only; else it skips).
test: deps lint race fuzz-short

deps:
	@scripts/deps.sh

lint: fmt-check vet staticcheck cross

# The server must keep building where it is not tested: macOS and Windows hosts run it too.
cross:
	GOOS=darwin $(GO) build -o /dev/null ./cmd/distkv
	GOOS=windows $(GO) build -o /dev/null ./cmd/distkv

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# bench/compare is a module of its own (below): ./... does not reach it.
vet:
	$(GO) vet $(PKGS)
	$(GO) -C bench/compare vet ./...

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)
	cd bench/compare && $(STATICCHECK) ./...

race:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(GO) -C bench/compare test -race -count=1 -timeout 10m ./...

# Every fuzz target briefly (make test), or longer: make fuzz FUZZTIME=2m
fuzz-short:
	@scripts/fuzz.sh $(FUZZTIME)

fuzz:
	@scripts/fuzz.sh $(if $(filter 5s,$(FUZZTIME)),60s,$(FUZZTIME))

# The randomized fault test with a long schedule (root; see docs/operations.md, Testing). A
# seed from a failure replays it: make soak DISTKV_FAULT_SEED=N
SOAK_STEPS ?= 200
soak:
	DISTKV_FAULT_STEPS=$(SOAK_STEPS) $(GO) test -race -count=1 -timeout 60m -run 'TestFault$$' -v ./tests/

bench:
	$(GO) test -run=NONE -bench=. -benchmem $(PKGS)

# The man page, generated from the commands and flags (cmd/distkv/man.go).
man:
	$(GO) run ./cmd/distkv man > docs/distkv.1

# distkv side by side with Redis and a 3-member etcd (Debian's, installed by scripts/compare-deps.sh),
# and how distkv's costs grow with nodes and keys: bench/compare, a module of its own so that the
# server keeps its small dependency set (docs/performance.md). make test runs its tests (race,
# vet, staticcheck, fuzz), not the comparison.
ROUNDS       ?= 3
DURATION     ?= 10s
CLIENTS      ?= 64
COMPARE_JSON ?= $(BIN)/compare.json
SCALE_JSON   ?= $(BIN)/scale.json
NODES        ?= 3,5,10
SIZES        ?= 10000,1000000
COMPARE_RUN   = $(BIN)/compare -distkv $(BIN)/distkv -rounds $(ROUNDS) -duration $(DURATION) -clients $(CLIENTS)

$(BIN)/compare: build
	$(GO) build -C bench/compare -o $(BIN)/compare .

compare: build $(BIN)/compare
	@scripts/compare-deps.sh
	$(COMPARE_RUN) -json $(COMPARE_JSON)

scale: build $(BIN)/compare
	$(COMPARE_RUN) -mode scale -nodes $(NODES) -sizes $(SIZES) -json $(SCALE_JSON)

clean:
	rm -rf $(BIN)
