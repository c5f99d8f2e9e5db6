# tagbench build. `make` builds the release binary; `make test` builds a sanitized copy and runs
# every test against it; `make demo` runs the main job on the bundled demo dataset.
# Rooms are static libraries; the layer check keeps their includes pointing downward (DESIGN.md).

PKGS      := libcjson stb ncursesw libsixel openblas
CC        ?= cc
SAN       ?= 0
# The CUDA backend (a later issue) builds only where nvcc and cuDNN are found; CUDA=0|1 overrides.
CUDA_HOME ?= /usr/local/cuda
NVCC      := $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard $(CUDA_HOME)/bin/nvcc))
CUDNN_H   := $(firstword $(wildcard /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h \
                                    $(CUDA_HOME)/include/cudnn.h))
CUDA      ?= $(if $(and $(NVCC),$(CUDNN_H)),1,0)

ifeq ($(SAN),1)
  BUILD   ?= build/san
  OPT     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
  BUILD   ?= build/release
  OPT     := -O2 -g
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS    += -std=c11 -Wall -Wextra -Wshadow -Wno-sign-compare -D_GNU_SOURCE -I. $(PKG_CFLAGS) $(OPT) -MMD -MP
LDFLAGS   += $(OPT)
LDLIBS    += $(PKG_LIBS) -lm -lpthread

TAGGER_SRC  := $(wildcard tagger/*.c)
TRAINER_SRC := $(wildcard trainer/*.c)
KERNELS_SRC := $(wildcard kernels/*.c kernels/cpu/*.c)
TUI_SRC     := $(filter-out tui/main.c,$(wildcard tui/*.c))
TAGGER_OBJ  := $(TAGGER_SRC:%.c=$(BUILD)/%.o)
TRAINER_OBJ := $(TRAINER_SRC:%.c=$(BUILD)/%.o)
KERNELS_OBJ := $(KERNELS_SRC:%.c=$(BUILD)/%.o)
TUI_OBJ     := $(TUI_SRC:%.c=$(BUILD)/%.o)
# Link order: a room before the rooms it uses.
LIBS        := $(BUILD)/libtui.a $(BUILD)/libtrainer.a $(BUILD)/libkernels.a $(BUILD)/libtagger.a
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:%.c=$(BUILD)/%)
BENCH_SRC  := $(wildcard bench/bench_*.c)
BENCH_BIN  := $(BENCH_SRC:%.c=$(BUILD)/%)
GEN_SHAPES := $(BUILD)/datasets/shapes/gen_shapes

.PHONY: all test test-fast test-run demo bench deps check-layers dataset clean help config
all: $(BUILD)/tagbench $(GEN_SHAPES)

help:
	@echo "make            build $(BUILD)/tagbench"
	@echo "make demo       the workbench on a copy of the demo dataset (installs deps, builds)"
	@echo "make test       all tests under ASan+UBSan (installs deps, builds)"
	@echo "make test-fast  all tests on the release build"
	@echo "make bench      benchmarks (figures, never pass/fail)"
	@echo "make dataset    regenerate datasets/shapes from its generator"
	@echo "make deps       install missing Debian packages"
	@echo "make config     what the build found (compiler, libraries, CUDA, cuDNN)"

config:
	@echo "CC:      $$($(CC) --version | head -n 1)"
	@echo "libs:    $(PKGS): $(if $(PKG_LIBS),found,MISSING (make deps))"
	@echo "nvcc:    $(or $(NVCC),not found)"
	@echo "cuDNN:   $(or $(CUDNN_H),not found)"
	@echo "CUDA:    $(CUDA) (the CUDA backend builds when 1; nothing uses it yet)"

$(BUILD)/libtagger.a: $(TAGGER_OBJ)
$(BUILD)/libtrainer.a: $(TRAINER_OBJ)
$(BUILD)/libkernels.a: $(KERNELS_OBJ)
$(BUILD)/libtui.a: $(TUI_OBJ)
$(LIBS):
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tagbench: $(BUILD)/tui/main.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(GEN_SHAPES): datasets/shapes/gen_shapes.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

deps:
	@sh scripts/deps.sh

check-layers:
	@sh scripts/check_layers.sh

test: deps
	@$(MAKE) --no-print-directory SAN=1 test-run

test-fast:
	@$(MAKE) --no-print-directory test-run

test-run: $(BUILD)/tagbench $(UNIT_BIN) $(GEN_SHAPES)
	@sh scripts/check_layers.sh
	@BUILD=$(BUILD) sh tests/run.sh

# The demo works on a copy (build/demo/shapes, made once), so edits never touch the bundled files.
# Its run config (.tagbench/run.json) is the demo's train.json, which the Train screen starts.
demo: deps
	@$(MAKE) --no-print-directory all
	@[ -d build/demo/shapes ] || { mkdir -p build/demo/shapes/.tagbench && \
		cp -R datasets/shapes/10_shapes datasets/shapes/prompts.txt datasets/shapes/train.json build/demo/shapes/ && \
		cp datasets/shapes/train.json build/demo/shapes/.tagbench/run.json && \
		cp -R datasets/shapes_lora build/demo/; }
	@$(BUILD)/tagbench build/demo/shapes

bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/tagbench $(BENCH_BIN)
	@for b in $(BENCH_BIN); do $$b || exit 1; done

dataset: $(GEN_SHAPES)
	$(GEN_SHAPES) --force datasets/shapes
	$(GEN_SHAPES) --force --set lora datasets/shapes_lora

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
