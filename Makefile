# The two commands: `make demo` and `make check`. Both install the Debian
# packages that are missing (scripts/install-deps.sh), then build.
BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_FUZZ  ?= build-fuzz
SECONDS     ?= 60
MESON_FLAGS ?=

.PHONY: all build deps demo check check-fast fuzz bench deb soak format clean

all: build

deps:
	@scripts/install-deps.sh check

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true $(MESON_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	scripts/demo.sh $(BUILD)

# Every test, then every test again under AddressSanitizer and UBSan, then
# 60 s of fuzzing the configuration parser (clang, libFuzzer).
check: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	FUZZ_BUILD=$(BUILD_FUZZ) scripts/check.sh $(BUILD) $(BUILD_ASAN)

check-fast: build
	meson test -C $(BUILD) --print-errorlogs

# The configuration parser under libFuzzer for SECONDS (tests/README.md).
fuzz: deps
	FUZZ_BUILD=$(BUILD_FUZZ) scripts/fuzz.sh $(SECONDS)

bench:
	@scripts/install-deps.sh bench
	$(MAKE) build
	bench/run $(BUILD)
	bench/idle $(BUILD)
	bench/accept $(BUILD)

# The Debian package, built in a copy of the tree: $(BUILD)/deb/*.deb.
deb:
	@scripts/install-deps.sh deb
	scripts/deb.sh $(BUILD)/deb

# 1,000 stop/start and 1,000 freeze/thaw cycles of lighttpd under load, a
# re-exec every 100 (tests/integration/soak.py); not part of check, which
# runs 50 cycles (test_soak.py).
soak: build
	cd tests/integration && NSINETD=$(abspath $(BUILD))/supervisor/nsinetd \
	  NSINETCTL=$(abspath $(BUILD))/ctl/nsinetctl NSINETD_BUILD=$(abspath $(BUILD)) \
	  NSINETD_PROBE=$(abspath $(BUILD))/tests/nsinetd-probe NSINETD_SRC=$(abspath .) \
	  /usr/bin/python3 soak.py 1000 100

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
