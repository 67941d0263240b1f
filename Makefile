# SPDX-License-Identifier: GPL-2.0
#
# A thin front end. The module itself is described in Kbuild; the work is done by the
# scripts in scripts/. Everything downloaded or built outside the module lives in
# $(UB_CACHE) (default ~/.cache/ub), keyed so that it is rebuilt only when it changes.
#
#   make            build ub.ko against the cached test kernel (CLIPPY=1 for clippy)
#   make test       setup + builds + host tests + every kselftest in QEMU
#   make soak       what is too long for make test: 10000 random responses, 100 unplugs
#   make demo       setup + builds + boot a VM and show a USB disk bound to ub
#   make bench      fio: ub against usb-storage, uas and virtio-blk (bench/results/)
#   make bench-quick  a two-minute ub / usb-storage check for contributors
#   make bench-trace  where a command's time goes: QEMU's stages against the guest's gaps
#   make vm         a shell in a guest with the module built (HC=xhci|ehci|ohci|uhci)

SHELL := /bin/bash
PROFILE ?= test
HC ?= xhci
MO := $(CURDIR)/build/$(PROFILE)
KDIR = $(shell scripts/build-kernel --dir $(PROFILE))
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) MO=$(MO) $(shell bash -c '. scripts/env.sh; echo "$${KMAKE_ARGS[@]}"')

.PHONY: all module setup kernel test soak demo bench bench-quick bench-trace vm fmt clean

all: module

setup:
	@scripts/setup

kernel: setup
	@scripts/build-kernel $(PROFILE) >/dev/null

module: kernel
	@mkdir -p $(MO)
	@$(KMAKE) $(if $(CLIPPY),CLIPPY=$(CLIPPY)) modules

fmt:
	@/usr/bin/rustfmt --edition 2021 --config-path .rustfmt.toml drivers/ub/ub.rs

test:
	@scripts/test

soak: kernel
	@scripts/test --vm-only --soak

demo:
	@scripts/demo

bench:
	@scripts/bench

bench-quick:
	@scripts/bench --quick

bench-trace:
	@scripts/bench-trace

vm: module
	@scripts/ubvm --profile $(PROFILE) --hc $(HC) --disk size=256M --interactive

clean:
	@rm -rf build target
