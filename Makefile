# swarmscope — the two commands of the README's Quick start, each installing what it needs.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := opentracker aria2 iproute2 util-linux chrony openssl poppler-utils libpango-1.0-0 libpangoft2-1.0-0 \
            fonts-dejavu-core postgresql chromium

.PHONY: demo demo-serve test check sysdeps venv bench bench-probe bench-memory bench-swarms bench-dht soak fuzz golden clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,demo,speed]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages for the real-software tests and the demo (root installs them; others are told how).
sysdeps:
	@if command -v opentracker >/dev/null && command -v aria2c >/dev/null && command -v ip >/dev/null \
	  && command -v chronyd >/dev/null && command -v openssl >/dev/null && command -v pdftotext >/dev/null \
	  && command -v chromium >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PKGS) >/dev/null; \
	else echo "note: run 'sudo apt-get install $(APT_PKGS)' for the real-tracker tests and demo"; fi

demo: sysdeps $(STAMP)
	$(BIN)/swarmscope demo

# The demo, then the web console on its database (URL and a one-time admin password printed; Ctrl-C stops it).
demo-serve: sysdeps $(STAMP)
	$(BIN)/swarmscope demo --serve

check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src/swarmscope

test: sysdeps $(STAMP)
	$(MAKE) --no-print-directory check
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile

# The "Hurt Locker" benchmark (bench/README.md): C ceiling, libtorrent and the monitor at M = 50,000 peers.
# BENCH_ARGS passes options, e.g. BENCH_ARGS='--M 5000 --runs 3'.
BENCH_ARGS ?=
bench: sysdeps $(STAMP)
	$(BIN)/python bench/hurtlocker.py $(BENCH_ARGS)

# The probe-rate matrix (bench/README.md "Probe-rate benchmark"): engine and monitor vs raw Python and C.
bench-probe: sysdeps $(STAMP)
	$(BIN)/python bench/probe.py

# Memory per tracked peer at 1,000,000 peers over 1,000 swarms, by RSS growth (bench/README.md "Memory").
bench-memory: $(STAMP)
	nice -n 10 $(BIN)/python bench/memory.py

# 1,000 swarms at once against the stub farm: re-probe lag and probes/s (bench/README.md "Swarms").
bench-swarms: sysdeps $(STAMP)
	nice -n 10 $(BIN)/python bench/swarms.py

# KRPC queries parsed and answered per second per core, beside the UDP echo ceiling (bench/README.md "DHT").
bench-dht: $(STAMP)
	nice -n 10 $(BIN)/python bench/dht.py

# The monitor against the stub farm for MINUTES, RSS and fds sampled every minute (bench/README.md "Soak").
MINUTES ?= 30
soak: sysdeps $(STAMP)
	nice -n 10 $(BIN)/python bench/soak.py --minutes $(MINUTES)

# Every parser under atheris, SECONDS each, or until RUNS inputs when RUNS > 0 (tests/fuzz/run.py);
# crashers land in .fuzz/crashers/<target>/.
SECONDS ?= 60
RUNS ?= 0
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --seconds $(SECONDS) --runs $(RUNS) --workdir .fuzz $(TARGETS)

# After adding a field to a sealed record (README "Adding a field"): pin the golden vectors of the new
# canonical format version (tests/evidence/record_vectors.json); refuses to change a vector already pinned.
golden: $(STAMP)
	$(BIN)/python -m tests.evidence.golden_vectors

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .fuzz
