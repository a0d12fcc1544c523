# make bench: the figures of issue 12 on this machine (see scripts/bench.py). Included by
# the Makefile (`include bench.mk`), which defines BIN and DLA.
#
#   make bench                                  every phase at national scale
#   make bench BENCH_ARGS="--quick"             a smoke run (500 LAOs, 3 nights)
#   make bench BENCH_ARGS="--only loader,memory --nights 10"
#
# Like the Makefile's DATE/ARGS: BENCH_ARGS never reaches a shell or make as code. Its raw
# text ($(value ...), not expanded by make) is exported as DLA_BENCH_ARGS, and bench.py
# splits it like a command line and validates every option itself.
# Results: a table on stdout, data/bench/<date>.json and data/bench/profile-<date>.txt;
# the bench uses a database of its own (dla_bench, or DLA_BENCH_DB) on the same server.
unexport BENCH_ARGS
export DLA_BENCH_ARGS := $(value BENCH_ARGS)

.PHONY: bench
bench: ## benchmark: loader vs COPY ceiling, national night, backfill, incremental, memory
	$(DLA) warehouse start
	$(BIN)/python scripts/bench.py
