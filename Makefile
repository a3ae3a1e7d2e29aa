# The call bridge: five daemons, callctl, simulators and tests.
#
#   make            every daemon, callctl and simulator into build/debug/bin/
#   make test       unit + integration tests on a throwaway PostgreSQL
#   make demo       one simulated call end to end
#   make run        the five daemons and a local PostgreSQL in the foreground
#   make bench      the audio-path load test (bounded in calls and time;
#                   BENCH_BASE=<rev> runs it on <rev>'s build first)
#   make asan       the test suite under AddressSanitizer and UBSan
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (tests/fuzz/)
#   make lint       clang-format check, cppcheck, banned calls
#   make docs       regenerate docs/configuration.md and docs/ipc.md's reference
#
# MODE is one of: debug release asan tsan fuzz.  BUILD may be overridden so that
# several builds can share one work tree.
MODE	?= debug
BUILD	?= build/$(MODE)
GEN	:= $(BUILD)/gen
BIN	:= $(BUILD)/bin

CC	?= cc
OPT.debug   := -O1
OPT.release := -O2 -DNDEBUG
OPT.asan    := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	       -fno-sanitize-recover=undefined
OPT.tsan    := -O1 -fsanitize=thread
# libFuzzer targets: everything they link is instrumented; only the
# harness's link adds libFuzzer's main.
OPT.fuzz    := -O1 -fsanitize=fuzzer-no-link,address,undefined \
	       -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_CC	?= clang
ifeq ($(MODE),fuzz)
CC	:= $(FUZZ_CC)
endif
CFLAGS	:= -std=c11 -D_GNU_SOURCE -g -Icommon -I$(GEN) \
	   -I/usr/include/postgresql \
	   -MMD -MP -Wall -Wextra -Wshadow \
	   -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	   -Wno-unused-parameter $(OPT.$(MODE)) $(EXTRA_CFLAGS)
# Test and simulator headers: for objects under tests/ only, so that no
# daemon can come to depend on them.
TEST_INC := -Itests/lib -Itests/sim/lib
LDFLAGS	:= $(filter -fsanitize=%,$(OPT.$(MODE)))
# Debian's libnng-dev ships no pkg-config file.
LDLIBS	:= -lnng -lwebsockets -lprotobuf-c -ljansson -lcurl -lpq -lssl \
	   -lcrypto -lpthread -lm

ifneq ($(V),1)
Q_CC	= @echo "  CC      $@";
Q_LD	= @echo "  LD      $@";
Q_GEN	= @echo "  PROTOC  $<";
endif

# Every services/<name>/ with a main.c is a program.
SERVICES := $(patsubst services/%/main.c,%,$(wildcard services/*/main.c))
SIMS	 := $(notdir $(wildcard tests/sim/sim-*))

PROTOS	 := $(wildcard proto/*.proto)
PROTO_C	 := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PROTO_H	 := $(PROTO_C:.c=.h)
PROTO_O	 := $(PROTO_C:.c=.o)

objs	  = $(addprefix $(BUILD)/,$(patsubst %.c,%.o,$(1)))
COMMON_O := $(call objs,$(wildcard common/*.c)) $(PROTO_O)
SIMLIB_O := $(call objs,$(wildcard tests/sim/lib/*.c))
TESTLIB_O := $(call objs,$(wildcard tests/lib/*.c))
svc_o	  = $(call objs,$(wildcard services/$(1)/*.c))
svc_lib_o = $(filter-out %/main.o,$(call svc_o,$(1)))

DAEMONS	:= $(addprefix $(BIN)/,$(SERVICES))
SIMBINS	:= $(addprefix $(BIN)/,$(SIMS))
UNIT_SRC := $(wildcard tests/unit/*_test.c tests/unit/*/*_test.c)
INT_SRC	 := $(wildcard tests/integration/*_test.c)
UNIT_BIN := $(patsubst %.c,$(BUILD)/%,$(UNIT_SRC))
INT_BIN	 := $(patsubst %.c,$(BUILD)/%,$(INT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/*_fuzz.c)
FUZZ_BIN := $(patsubst %.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 600

# Keep generated sources and objects: nothing here is a throwaway.
.SECONDARY:

.PHONY: all deps proto test test-unit test-integration test-conformance demo run chaos \
	bench asan tsan lint clean tests fuzz fuzz-targets test-fuzz
all: deps $(DAEMONS) $(SIMBINS)
tests: all $(UNIT_BIN) $(INT_BIN)

deps:
	@scripts/deps.sh build

proto: $(PROTO_C)

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	$(Q_GEN)protoc-c --proto_path=proto --c_out=$(GEN) $<

$(GEN)/%.pb-c.o: $(GEN)/%.pb-c.c
	$(Q_CC)$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

# The dashboard's page, embedded into media-edge at build time
# (services/media-edge/embed.sh; dash.c serves it).
DASH_FILES := $(sort $(wildcard services/media-edge/dashboard/*.html \
	services/media-edge/dashboard/*.css services/media-edge/dashboard/*.js \
	services/media-edge/dashboard/*.svg))
$(GEN)/dash_assets.h: $(DASH_FILES) services/media-edge/embed.sh
	@mkdir -p $(@D)
	@echo "  EMBED   $@"
	@services/media-edge/embed.sh $@ $(DASH_FILES)
$(BUILD)/services/media-edge/dash.o: $(GEN)/dash_assets.h

$(BUILD)/%.o: %.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(Q_CC)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(Q_CC)$(CC) $(CFLAGS) $(TEST_INC) -c -o $@ $<

.SECONDEXPANSION:
define program
$(BIN)/$(1): $(2) $(COMMON_O)
	@mkdir -p $$(@D)
	$$(Q_LD)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
# callctl doctor loads the daemons' own settings tables (their defaults
# included), media-edge's provider registry (tel*.c), and sends
# ai-session's own session.update.
EXTRA_O.callctl := $(call objs,services/media-edge/config.c \
	services/media-edge/proxy.c \
	services/ai-session/config.c services/ai-session/oai_json.c \
	services/reasoner/config.c services/persister/config.c \
	services/persister/migrate.c services/rate-limiter/config.c \
	$(wildcard services/media-edge/tel*.c) services/media-edge/form.c)
$(foreach s,$(SERVICES),$(eval $(call program,$(s),$(call svc_o,$(s)) \
	$(EXTRA_O.$(s)))))
$(foreach s,$(SIMS),$(eval $(call program,$(s),\
	$(call objs,$(wildcard tests/sim/$(s)/*.c)) $(SIMLIB_O))))

# tests/unit/foo_test.c links common/; tests/unit/<service>/foo_test.c also
# links that service's objects minus main.o.
$(BUILD)/tests/unit/%_test: $(BUILD)/tests/unit/%_test.o \
	$$(if $$(findstring /,$$*),$$(call svc_lib_o,$$(firstword \
	$$(subst /, ,$$*)))) $(COMMON_O)
	@mkdir -p $(@D)
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

$(BUILD)/tests/integration/%_test: $(BUILD)/tests/integration/%_test.o \
	$(TESTLIB_O) $(COMMON_O)
	@mkdir -p $(@D)
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

# tests/fuzz/<name>_fuzz.c links common/ and the service sources named
# in FUZZ.<name> (the parser under test; the rest is the harness's).
ME	:= services/media-edge
AI	:= services/ai-session
FUZZ.fastjson := $(ME)/fastjson.c
FUZZ.stream   := $(ME)/stream.c $(ME)/fastjson.c $(ME)/token.c \
		 $(ME)/stats.c $(wildcard $(ME)/tel*.c) $(ME)/form.c
FUZZ.form     := $(ME)/form.c
FUZZ.token    := $(ME)/token.c
FUZZ.realtime := $(AI)/rt_openai.c $(AI)/oai_json.c $(AI)/stats.c \
		 $(AI)/usage.c
FUZZ.anthropic := $(filter-out %/main.c,$(wildcard services/reasoner/*.c))
FUZZ.wire     :=
FUZZ.abatch   :=
FUZZ.pbjson   :=
FUZZ.log      :=

$(BUILD)/tests/fuzz/%_fuzz: $(BUILD)/tests/fuzz/%_fuzz.o \
	$$(call objs,$$(FUZZ.$$*)) $(COMMON_O)
	@mkdir -p $(@D)
	$(Q_LD)$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

fuzz-targets: deps-test
	@$(MAKE) --no-print-directory MODE=fuzz BUILD=build/fuzz $(FUZZ_BIN)

# Each target for FUZZ_SECONDS, one after the other; findings are left in
# build/fuzz/findings/ (see tests/fuzz/README.md).
fuzz: fuzz-targets
	@BUILD=build/fuzz tests/fuzz/run.sh $(FUZZ_SECONDS)

# The test runner starts a throwaway PostgreSQL unless TEST_PG_DSN is set;
# it also replays each fuzz target's corpus for a few seconds.
test: deps-test tests fuzz-targets
	@BUILD=$(BUILD) tests/run.sh all

test-unit: deps-test tests
	@BUILD=$(BUILD) tests/run.sh unit

test-fuzz: fuzz-targets
	@BUILD=$(BUILD) tests/run.sh fuzz

test-integration: deps-test tests
	@BUILD=$(BUILD) tests/run.sh integration

test-conformance: deps-test tests
	@BUILD=$(BUILD) tests/run.sh conformance

# tests/integration/ops_chaos_test at the scale of a deploy: 40 calls of
# 25 s, about 13 at once, longer outages (its short version runs in make
# test).  About two minutes.
chaos: deps-test tests
	@TOP_DIR=$(CURDIR) BIN_DIR=$(CURDIR)/$(BIN) CHAOS_LONG=1 \
	    $(BUILD)/tests/integration/ops_chaos_test

deps-test:
	@scripts/deps.sh test

# Regenerate the references made from --help and bus.proto (ops_deploy_test
# fails while they are stale).
docs: all
	@scripts/gen-config-doc.sh $(BIN) > docs/configuration.md
	@{ sed '/^<!-- BEGIN generated/q' docs/ipc.md; \
	   scripts/gen-ipc-doc.sh; \
	   sed -n '/^<!-- END generated/,$$p' docs/ipc.md; } > docs/ipc.md.new
	@mv docs/ipc.md.new docs/ipc.md
	@echo "docs: configuration.md and ipc.md regenerated"

demo: all
	@BUILD=$(BUILD) scripts/demo.sh

run: all
	@BUILD=$(BUILD) scripts/run.sh

# BENCH_BASE=<rev>: first the same bench on <rev>'s release build (its files
# exported under build/bench-base/), for a side-by-side comparison.
bench:
	@$(MAKE) --no-print-directory MODE=release all
	@if [ -n "$(BENCH_BASE)" ]; then scripts/bench-base.sh "$(BENCH_BASE)"; fi
	@BUILD=build/release scripts/bench.sh

asan:
	@$(MAKE) --no-print-directory MODE=asan test

tsan:
	@$(MAKE) --no-print-directory MODE=tsan test

LINT_SRC = $(shell git ls-files '*.c' '*.h')
lint:
	@clang-format --dry-run -Werror $(LINT_SRC)
	@cppcheck --quiet --error-exitcode=1 --inline-suppr \
		--enable=warning,portability --std=c11 \
		--suppress=missingIncludeSystem \
		--library=scripts/cppcheck/jansson.cfg -Icommon $(LINT_SRC)
	@! grep -nE '\<(sprintf|strcpy|strcat|gets|atoi|strtok|vsprintf) *\(' \
		$(LINT_SRC) || { echo "lint: banned call"; exit 1; }
	@echo "lint: ok"

clean:
	rm -rf build

.PHONY: deps-test docs
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# persister embeds its migrations with .incbin.
$(BUILD)/services/persister/migrate.o: \
	$(wildcard services/persister/migrations/*.sql)
