# pinnacle_train: PGXS build of the extension. The core is built by CMake (CMakeLists.txt):
# its torch-free part (the spec) into build/libpinnacle_spec.a, linked into pinnacle_train.so,
# and the torch core into build/pinnacle_train_torch.so, installed beside it and loaded by a
# process when it first needs libtorch (src/pg/torch_core.h). The PostgreSQL layer (src/pg) is
# plain C and never includes a torch header.
EXTENSION = pinnacle_train
MODULE_big = pinnacle_train
DATA = src/sql/pinnacle_train--0.1.0.sql src/sql/pinnacle_train--0.1.0--0.2.0.sql

# src/pg is laid out by process (src/pg/README.md): what runs in the caller's backend, in the
# run's supervisor, in the trainer process, and what they share.
PG_FILES = pinnacle extension_owner torch_core \
	caller/train caller/feed caller/row_values caller/download caller/wait caller/cancel \
	caller/predict caller/predict_batch caller/model_ref caller/models caller/report caller/torchscript caller/runtime caller/helper caller/servers \
	supervisor/supervisor supervisor/run_store supervisor/remote_shards protocol/child_link protocol/child_setup \
	trainer/trainer_process helper/helper_process \
	lifecycle/run_lifecycle lifecycle/lost_runs \
	search/search search/search_record supervisor/search_rung \
	protocol/session protocol/child_channel
OBJS = $(patsubst %,src/pg/%.o,$(PG_FILES))

BUILD_DIR ?= build
SPEC_LIB = $(BUILD_DIR)/libpinnacle_spec.a
TORCH_CORE = $(BUILD_DIR)/pinnacle_train_torch.so

PG_CPPFLAGS = -I$(shell $(PG_CONFIG) --includedir) -Isrc/core -Isrc/pg $(patsubst %,-Isrc/pg/%,caller supervisor trainer helper lifecycle protocol search)
# -Wextra on our code; the three exceptions are for PostgreSQL's own headers (inline functions
# with unused parameters, signed/unsigned comparisons), which our files compile cleanly without.
# PT_TORCH_BY_TABLE: the torch core's entries are called through torch_core.h's table only
PG_CPPFLAGS += -DPT_TORCH_BY_TABLE
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
# libpq: a run across servers (compute_kwargs.servers) connects to them from its supervisor
# whole: the torch core takes from it whatever it needs, not only what this library uses
SHLIB_LINK = -Wl,--whole-archive $(SPEC_LIB) -Wl,--no-whole-archive -lstdc++ -lpthread -lpq

REGRESS = setup spec_errors data_errors regression classification transforms torchscript layers padding early_stopping streaming async failures download distributed servers export_python deploy drop_model search
REGRESS_OPTS = --temp-instance=tmp_check --temp-config=test/regress.conf --load-extension=pinnacle_train

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# one rule for both: a single cmake run builds them (make -j must not start two)
$(SPEC_LIB) $(TORCH_CORE) &: $(wildcard src/core/*.cpp src/core/*.hpp src/core/*.h) CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release > /dev/null
	cmake --build $(BUILD_DIR) --target pinnacle_spec pinnacle_train_torch -j $(shell nproc)

$(shlib): $(SPEC_LIB)
all: $(TORCH_CORE)

install: install-torch-core
.PHONY: install-torch-core
install-torch-core: $(TORCH_CORE) installdirs
	$(INSTALL_SHLIB) $(TORCH_CORE) '$(DESTDIR)$(pkglibdir)/'

# PGXS does not track headers: a changed struct must recompile every file that sees it.
$(OBJS): $(wildcard src/pg/*.h src/pg/*/*.h) src/core/pinnacle_core.h src/core/wire.h

.PHONY: unittest
unittest:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DPINNACLE_TESTS=ON > /dev/null
	cmake --build $(BUILD_DIR) -j $(shell nproc)
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(shell nproc) $(if $(CTEST_TIMEOUT),--timeout $(CTEST_TIMEOUT))

EXTRA_CLEAN = tmp_check

uninstall: uninstall-torch-core
.PHONY: uninstall-torch-core
uninstall-torch-core:
	rm -f '$(DESTDIR)$(pkglibdir)/pinnacle_train_torch.so'

.PHONY: print-regress
print-regress:
	@echo $(REGRESS)
