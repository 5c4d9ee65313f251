# pinnacle_train: PGXS build of the extension. The torch core is built by CMake
# (CMakeLists.txt) into build/libpinnacle_core.a and linked in; the PostgreSQL layer
# (src/pg) is plain C and never includes a torch header.
EXTENSION = pinnacle_train
MODULE_big = pinnacle_train
DATA = src/sql/pinnacle_train--0.1.0.sql src/sql/pinnacle_train--0.1.0--0.2.0.sql

# src/pg is laid out by process (src/pg/README.md): what runs in the caller's backend, in the
# run's supervisor, in the trainer process, and what they share.
PG_FILES = pinnacle extension_owner \
	caller/train caller/feed caller/row_values caller/download caller/wait caller/cancel \
	caller/predict caller/predict_batch caller/model_ref caller/models caller/report caller/torchscript caller/runtime caller/helper caller/servers \
	supervisor/supervisor supervisor/run_store supervisor/remote_shards protocol/child_link protocol/child_setup \
	trainer/trainer_process helper/helper_process \
	lifecycle/run_lifecycle lifecycle/lost_runs \
	search/search search/search_record supervisor/search_rung \
	protocol/session protocol/child_channel
OBJS = $(patsubst %,src/pg/%.o,$(PG_FILES))

BUILD_DIR ?= build
CORE_LIB = $(BUILD_DIR)/libpinnacle_core.a

PG_CPPFLAGS = -I$(shell $(PG_CONFIG) --includedir) -Isrc/core -Isrc/pg $(patsubst %,-Isrc/pg/%,caller supervisor trainer helper lifecycle protocol search)
# -Wextra on our code; the three exceptions are for PostgreSQL's own headers (inline functions
# with unused parameters, signed/unsigned comparisons), which our files compile cleanly without.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
# libpq: a run across servers (compute_kwargs.servers) connects to them from its supervisor
SHLIB_LINK = $(CORE_LIB) -ltorch -ltorch_cpu -lc10 -lstdc++ -lpthread -lpq

REGRESS = setup spec_errors data_errors regression classification transforms torchscript layers padding early_stopping streaming async failures download distributed servers export_python deploy drop_model search
REGRESS_OPTS = --temp-instance=tmp_check --temp-config=test/regress.conf --load-extension=pinnacle_train

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(CORE_LIB): $(wildcard src/core/*.cpp src/core/*.hpp src/core/*.h) CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release > /dev/null
	cmake --build $(BUILD_DIR) --target pinnacle_core -j $(shell nproc)

$(shlib): $(CORE_LIB)

# PGXS does not track headers: a changed struct must recompile every file that sees it.
$(OBJS): $(wildcard src/pg/*.h src/pg/*/*.h) src/core/pinnacle_core.h src/core/wire.h

.PHONY: unittest
unittest:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DPINNACLE_TESTS=ON > /dev/null
	cmake --build $(BUILD_DIR) -j $(shell nproc)
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(shell nproc)

EXTRA_CLEAN = tmp_check

.PHONY: print-regress
print-regress:
	@echo $(REGRESS)
