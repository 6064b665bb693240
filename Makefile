# Luukku: the two commands of the README (`make run`, `make test`) do all the
# set-up on a fresh Debian 12 with Swift 6.3. `make help` lists every target.

SHELL := /bin/bash
export PATH := $(PATH):/opt/swift/usr/bin

# Debian packages: libsrtp2 and OpenSSL for the relay, SQLite for the ledger (GRDB), pkg-config to find
# them, protoc for `make proto`, openssl for the development certificates,
# GStreamer for the clients' media (docs/media.md: gst-launch-1.0 in tools; vp8enc, opus, v4l2src, pulsesrc,
# videoanalyse, spectrum in base and good; kmssink, webrtcdsp, srtpenc/srtpdec in bad; ximagesink for
# autovideosink's window in -x; alsasrc/alsasink where no PulseAudio runs in -alsa), ffmpeg and GStreamer as
# the real media peers of the interop tests, socat for the status socket (docs/operations.md) and its test.
SYSTEM_PACKAGES := libsrtp2-dev libssl-dev libsqlite3-dev pkg-config protobuf-compiler openssl ca-certificates \
  ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
  gstreamer1.0-x gstreamer1.0-alsa socat tmux

CONFIG ?= config/luukku.example.json
CERTS_DIR ?= certs/dev
SECONDS ?= 60
PROTOBUF_VERSION := 1.39.0
PROTOC_GEN_SWIFT := .build-protoc/swift-protobuf/.build/release/protoc-gen-swift
TARGET ?= frame

PREFIX ?= /usr/local
DESTDIR ?=
# Where install-files takes the executables from (install builds them in release first).
BIN_DIR ?= .build/release
UNIT_DIR ?= $(PREFIX)/lib/systemd/system

.PHONY: help deps build docs-luukkuctl run test install install-files test-tsan stress bench-matcher bench-relay bench-media bench-signaling soak lint format proto fuzz model certs clean

help:
	@echo "make run        install what is missing, build, make dev certificates, start luukkud (prints client commands)"
	@echo "make test       install what is missing, build with warnings as errors, run every test + TSan pass"
	@echo "make test-tsan  the matcher tests under ThreadSanitizer (also run, short, by make test)"
	@echo "make stress     the concurrent matcher stress and ordering tests in their long mode (millions of operations)"
	@echo "make bench-matcher  lock-free matcher vs locked and actor baselines at 1, 2, 4 threads; writes docs/benchmarks.md"
	@echo "make bench-relay  our SRTP relay (GCM, AES-CM) vs rtpengine and a bare forwarder, pinned; writes docs/benchmarks.md"
	@echo "make bench-media  one 640x360 VP8 + Opus session both ways through the local daemon: fps, CPU, latency; writes docs/benchmarks.md"
	@echo "make soak HOURS=1  the national day with media for HOURS: RSS, fds, relay sockets, ledger and WAL every 10 s; docs/soak.csv and .png"
	@echo "make bench-signaling  luukku-load against a release luukkud: request->Offer p99 at 200/500/1000/s, 20,000 idle connections, CPU per session; writes docs/benchmarks.md"
	@echo "make lint       swift format lint (.swift-format, line length 120)"
	@echo "make format     rewrite the sources in place with swift format"
	@echo "make proto      regenerate Sources/LuukkuProtocol/Generated from proto/"
	@echo "make fuzz       fuzz a decoder for SECONDS (default 60): make fuzz TARGET=frame|rtp|status|configuration SECONDS=600"
	@echo "make model      check the matcher's claim protocol with spin (models/matcher.pml, models/handover.pml)"
	@echo "make certs      development CA and certificates in $(CERTS_DIR)"
	@echo "make install    release build, then binaries, systemd unit, sysusers/tmpfiles, docs under PREFIX (default /usr/local)"
	@echo "make docs-luukkuctl  rewrite docs/luukkuctl.md from luukkuctl --help"
	@echo "make clean      remove build outputs"

deps:
	@scripts/install-system-packages $(SYSTEM_PACKAGES)

build: deps
	swift build

# Made once; `certs/make-dev-certs --force certs/dev` starts over.
certs: $(CERTS_DIR)/server.pem

$(CERTS_DIR)/server.pem: | deps
	certs/make-dev-certs $(CERTS_DIR)

# The demo: luukkud on config/luukku.example.json (listen 0.0.0.0:7400, ledger
# and status socket under state/, dev certificates in certs/dev), in the
# foreground; Ctrl-C drains and stops it.
run: build certs
	@mkdir -p state
	@echo "luukkud starts below. In other terminals, from this folder:"
	@echo "  an expert:  .build/debug/luukku-console --expert kela-bjorn   (full screen; --auto-accept for a scripted one)"
	@echo "  a terminal: .build/debug/luukku-terminal request --agency kela --language sv --point parainen --feedback 5"
	@echo "  each sees and hears the other (camera and microphone, else a test pattern and tone; docs/media.md)"
	@echo "  an operator: .build/debug/luukkuctl queues --socket state/luukkud.sock   (metrics: curl 127.0.0.1:9464/metrics)"
	@echo "  (other ids: certs/dev/*.pem; luukku-terminal --help, luukku-console --help, luukkuctl --help)"
	.build/debug/luukkud --config $(CONFIG)

test: deps
	swift build --build-tests
	@# GStreamer scans its plugins into ~/.cache/gstreamer-1.0 on first use (seconds on a fresh machine, and
	@# a first media test's child waited for it): once here, before the tests.
	gst-inspect-1.0 >/dev/null
	swift test --skip-build
	$(MAKE) --no-print-directory test-tsan

# ThreadSanitizer over the concurrent code (the matcher), in its own build
# folder; halt_on_error makes any report fail the run. The same build
# perturbs the schedule (MATCHER_SCHEDULE_CHAOS: threads yield at random
# atomic operations), so the concurrent tests meet the races they look for.
TSAN_FLAGS := --sanitize=thread --build-path .build-tsan -Xswiftc -DMATCHER_SCHEDULE_CHAOS
test-tsan: deps
	swift build --build-tests $(TSAN_FLAGS)
	TSAN_OPTIONS=halt_on_error=1 swift test --skip-build $(TSAN_FLAGS) --filter LuukkuMatchingTests

bench-matcher: deps
	Benchmarks/bench-matcher

# Installs rtpengine-daemon (the comparison) itself; about 5 minutes.
bench-relay: deps
	Benchmarks/bench-relay

bench-media: deps
	Benchmarks/bench-media

bench-signaling: deps
	Benchmarks/bench-signaling

# Not in `make test`: HOURS of load (default 1); fails on growth, a missing record, or a leak.
HOURS ?= 1
soak: deps
	HOURS=$(HOURS) Benchmarks/soak

stress: deps
	swift build --build-tests
	LUUKKU_STRESS_LONG=1 swift test --skip-build --filter "ConcurrentMatcherStressTests|ConcurrentOrderTests"

lint:
	swift format lint --strict --parallel --configuration .swift-format \
	  Package.swift $$(find Sources Tests Benchmarks -name '*.swift' -not -path '*/Generated/*')

format:
	swift format format -i --parallel --configuration .swift-format \
	  Package.swift $$(find Sources Tests Benchmarks -name '*.swift' -not -path '*/Generated/*')

# protoc-gen-swift is built once from the mirrored swift-protobuf tag into
# .build-protoc/; the generated code is committed, so builds never need it.
$(PROTOC_GEN_SWIFT):
	@mkdir -p .build-protoc
	@[ -d .build-protoc/swift-protobuf ] || git clone -q --depth 1 --branch $(PROTOBUF_VERSION) \
	  https://github.com/apple/swift-protobuf .build-protoc/swift-protobuf
	cd .build-protoc/swift-protobuf && swift build -c release --product protoc-gen-swift

proto: deps $(PROTOC_GEN_SWIFT)
	rm -f Sources/LuukkuProtocol/Generated/*.pb.swift
	protoc -I proto --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) \
	  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
	  --swift_out=Sources/LuukkuProtocol/Generated proto/luukku/v1/*.proto
	sha256sum proto/luukku/v1/*.proto > Sources/LuukkuProtocol/Generated/proto.sha256

# libFuzzer over one decoder (docs/fuzzing.md): TARGET=frame (default), rtp,
# status or configuration, for SECONDS. A release build: in a debug build with
# ASan the coverage counters come out empty here. Findings land in
# .build-fuzz/<target>/artifacts/.
fuzz: deps
	scripts/fuzz $(TARGET) $(SECONDS)

# Exhaustive model check of the claim protocol, plus broken variants that
# must fail (models/check). spin is only needed here.
model: deps
	@scripts/install-system-packages spin gcc
	models/check

# `make install PREFIX=/usr DESTDIR=pkgroot` for packaging. After a real install:
# systemd-sysusers; systemd-tmpfiles --create; put luukku.json and the TLS files
# in /etc/luukku; systemctl enable --now luukkud (docs/server.md, "Installing").
install: deps
	swift build -c release --product luukkud
	swift build -c release --product luukku-terminal
	swift build -c release --product luukku-console
	swift build -c release --product luukkuctl
	$(MAKE) --no-print-directory install-files BIN_DIR=.build/release

install-files:
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNIT_DIR) $(DESTDIR)$(PREFIX)/lib/sysusers.d \
	  $(DESTDIR)$(PREFIX)/lib/tmpfiles.d $(DESTDIR)$(PREFIX)/share/doc/luukku $(DESTDIR)$(PREFIX)/share/luukku
	install -m 0755 $(BIN_DIR)/luukkud $(BIN_DIR)/luukkuctl $(BIN_DIR)/luukku-terminal $(BIN_DIR)/luukku-console \
	  $(DESTDIR)$(PREFIX)/bin/
	sed 's|@PREFIX@|$(PREFIX)|g' systemd/luukkud.service.in > $(DESTDIR)$(UNIT_DIR)/luukkud.service
	chmod 0644 $(DESTDIR)$(UNIT_DIR)/luukkud.service
	install -m 0644 systemd/luukkud.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/luukkud.conf
	install -m 0644 systemd/luukkud.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/luukkud.conf
	install -m 0644 docs/server.md docs/configuration.md docs/protocol.md docs/ledger.md docs/relay.md docs/terminal.md \
	  docs/media.md docs/operations.md docs/luukkuctl.md ops/grafana/luukku-dashboard.json $(DESTDIR)$(PREFIX)/share/doc/luukku/
	# The wire contract beside protocol.md: the schema and the golden frames.
	install -d $(DESTDIR)$(PREFIX)/share/doc/luukku/proto/luukku/v1/frames
	install -m 0644 proto/luukku/v1/*.proto $(DESTDIR)$(PREFIX)/share/doc/luukku/proto/luukku/v1/
	install -m 0644 proto/luukku/v1/frames/* $(DESTDIR)$(PREFIX)/share/doc/luukku/proto/luukku/v1/frames/
	install -m 0644 config/luukku.example.json $(DESTDIR)$(PREFIX)/share/luukku/

docs-luukkuctl: build
	scripts/luukkuctl-doc

clean:
	rm -rf .build .build-fuzz .build-tsan
